//! Who reported a case. A reporter's own name and phone are personal data: sealed when
//! stored, masked in every answer, shown in full only on an audited reveal. An anonymous
//! report hides the reporter (account, name, phone, and the actor of the report's steps)
//! from everyone but the reporter; only the command centre may reveal it
//! (`Action::RevealAnonymousReporter`), and each reveal is audited as such.

use super::report::NewIncident;
use super::{WHAT, load};
use crate::caller::Caller;
use crate::error::AppError;
use crate::households::residents::open;
use crate::pii::{PiiKeys, PiiKind};
use crate::tx::{Audit, Tx};
use serde_json::{Value, json};
use wangge_domain::{Action, IncidentId};
use wangge_persistence::incidents::{IncidentRecord, Reporter, reporter_of};

/// What history shows instead of an anonymous reporter's name.
pub const ANONYMOUS: &str = "anonymous";

/// The sealed row for a report's name and phone, if either was given.
#[must_use]
pub fn seal(pii: &PiiKeys, incident_id: &str, new: &NewIncident) -> Option<Reporter> {
    if new.reporter_name.is_none() && new.reporter_phone.is_none() {
        return None;
    }
    let name = new
        .reporter_name
        .as_ref()
        .map(|n| pii.seal(PiiKind::Name, n.as_str(), n.masked()));
    let phone = new
        .reporter_phone
        .as_ref()
        .map(|p| pii.seal(PiiKind::Phone, p.expose(), p.masked()));
    Some(Reporter {
        incident_id: incident_id.to_owned(),
        name_cipher: name.as_ref().map(|s| s.cipher.clone()),
        name_key_id: name.as_ref().map(|s| s.key_id.clone()),
        name_masked: name.map(|s| s.masked),
        phone_cipher: phone.as_ref().map(|s| s.cipher.clone()),
        phone_key_id: phone.as_ref().map(|s| s.key_id.clone()),
        phone_masked: phone.map(|s| s.masked),
    })
}

/// Whether the caller must not learn who reported the case.
#[must_use]
pub fn hidden_from(r: &IncidentRecord, caller: &Caller) -> bool {
    r.anonymous && (r.reporter_id.is_none() || r.reporter_id.as_deref() != caller.account_id())
}

/// The reporter as a case shows them: the reporting account, and name and phone masked.
#[must_use]
pub fn masked(r: &IncidentRecord, sealed: Option<&Reporter>) -> Value {
    let mut v = json!({ "revealed": false });
    if let Some(o) = v.as_object_mut() {
        if let Some(a) = &r.reporter_id {
            o.insert("account_id".into(), json!(a));
        }
        if let Some(n) = sealed.and_then(|s| s.name_masked.as_ref()) {
            o.insert("name".into(), json!(n));
        }
        if let Some(p) = sealed.and_then(|s| s.phone_masked.as_ref()) {
            o.insert("phone".into(), json!(p));
        }
    }
    v
}

/// `GET /incidents/{id}/reporter`: the reporter's name and phone in full, audited in the same
/// transaction.
///
/// # Errors
/// 404 for a case the caller does not see; 403 without the right to reveal (for an anonymous
/// report: anyone but the command centre); `pii_key_unavailable`.
pub fn reveal(tx: &mut Tx<'_>, id: IncidentId) -> Result<Value, AppError> {
    let key = id.to_string();
    let l = load(tx.conn, tx.caller, &key)?;
    let action = if l.record.anonymous {
        Action::RevealAnonymousReporter
    } else {
        Action::RevealPersonalData
    };
    if !tx.caller.permits(action, &l.owner.path) {
        return Err(AppError::forbidden(if l.record.anonymous {
            "an anonymous reporter is revealed only to the command centre"
        } else {
            "your roles do not show personal data in full"
        }));
    }
    let sealed = reporter_of(tx.conn, &key)?;
    let s = sealed.as_ref();
    let pii = &tx.svc.pii;
    let name = open(
        pii,
        PiiKind::Name,
        s.and_then(|s| s.name_cipher.as_deref()),
        s.and_then(|s| s.name_key_id.as_deref()),
    )?;
    let phone = open(
        pii,
        PiiKind::Phone,
        s.and_then(|s| s.phone_cipher.as_deref()),
        s.and_then(|s| s.phone_key_id.as_deref()),
    )?;
    let account = match &l.record.reporter_id {
        Some(a) => wangge_persistence::users::find_by_id(tx.conn, a)?.map(|u| u.username),
        None => None,
    };
    tx.audit(Audit {
        action: "pii.revealed",
        subject_type: Some(WHAT),
        subject_id: Some(key.clone()),
        unit_path: Some(l.owner.path.clone()),
        details: json!({ "fields": ["reporter"], "anonymous": l.record.anonymous }),
    })?;
    let mut v = json!({ "incident_id": key, "anonymous": l.record.anonymous, "revealed": true });
    if let Some(o) = v.as_object_mut() {
        for (k, val) in [
            ("account_id", l.record.reporter_id.clone()),
            ("account", account),
            ("name", name),
            ("phone", phone),
        ] {
            if let Some(val) = val {
                o.insert(k.into(), json!(val));
            }
        }
    }
    Ok(v)
}
