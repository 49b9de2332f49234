//! Residents of a household. Identity numbers and phones are sealed before they reach the
//! store, masked in every answer, and shown in full only on an audited reveal. A number may be
//! registered once in the district; a refusal for that reason tells the caller the person is
//! registered somewhere, so it is audited and limited like the search it amounts to.

use super::{WHAT, household_for};
use crate::caller::Caller;
use crate::client_id::{self, Claimed};
use crate::error::AppError;
use crate::pii::{PiiError, PiiKeys, PiiKind};
use crate::services::Config;
use crate::tx::{Audit, Change, Entity, Reader, Tx, new_id, stored_time};
use crate::versions::{self, Created};
use serde_json::{Value, json};
use wangge_domain::{
    Action, BirthDate, Gender, HouseholdId, IdCardNumber, Identity, IdentityPatch, NewResident,
    PersonName, PhoneNumber, Relation, ResidentId, Tag,
};
use wangge_persistence::households::Household;
use wangge_persistence::locks::Locked;
use wangge_persistence::residents::{self as store, ResidentChanges, ResidentRecord};
use wangge_persistence::{AnyConnection, Sealed, audit};

const RESIDENT: &str = "resident";

/// Seals a resident's identity number and phone.
#[must_use]
pub fn seal(pii: &PiiKeys, r: &NewResident) -> (Option<Sealed>, Option<Sealed>) {
    (
        r.identity
            .id_card()
            .map(|n| pii.seal(PiiKind::IdCard, n.expose(), n.masked())),
        r.phone
            .as_ref()
            .map(|p| pii.seal(PiiKind::Phone, p.expose(), p.masked())),
    )
}

/// Opens a sealed value; a key this server lacks is `pii_key_unavailable`.
///
/// # Errors
/// As described; a value that fails authentication is internal.
pub fn open(
    pii: &PiiKeys,
    kind: PiiKind,
    cipher: Option<&[u8]>,
    key: Option<&str>,
) -> Result<Option<String>, AppError> {
    match (cipher, key) {
        (Some(c), Some(k)) => pii.open(kind, c, k).map(Some).map_err(|e| match e {
            PiiError::UnknownKey(key_id) => {
                tracing::error!(pii.key_id = %key_id, "a sealed value needs a key this server lacks");
                AppError::PiiKeyUnavailable { key_id }
            }
            other => AppError::internal(other),
        }),
        _ => Ok(None),
    }
}

/// 429 once the caller made as many identity-number or phone searches this hour as allowed.
///
/// # Errors
/// `too_many_searches`.
pub fn check_search_limit(
    conn: &mut AnyConnection,
    caller: &Caller,
    config: &Config,
) -> Result<(), AppError> {
    let Some(actor) = caller.account_id() else {
        return Ok(());
    };
    let since = stored_time(chrono::Utc::now() - chrono::Duration::hours(1));
    let n = audit::count_by_actor_since(conn, actor, "pii.searched", &since)?;
    if n >= config.pii_searches_per_hour {
        return Err(AppError::TooMany {
            code: "too_many_searches",
            message: format!(
                "at most {} searches by identity number or phone per hour",
                config.pii_searches_per_hour
            ),
            retry_after_s: 600,
        });
    }
    Ok(())
}

/// Refuses a number registered to another resident: audited as the search it amounts to,
/// whatever becomes of the request, and counted in the same limit.
fn check_unregistered(
    tx: &mut Tx<'_>,
    sealed: &Sealed,
    except: Option<&str>,
    via: &str,
) -> Result<(), AppError> {
    let taken = store::registered_id_card_hashes(tx.conn, &[sealed.hash.as_str()], except)?;
    if taken.is_empty() {
        return Ok(());
    }
    check_search_limit(tx.conn, tx.caller, &tx.svc.config)?;
    tx.audit_lasting(Audit {
        action: "pii.searched",
        subject_type: Some(RESIDENT),
        subject_id: None,
        unit_path: None,
        details: json!({ "id_card": true, "phone": false, "found": 1, "via": via, "outcome": "refused_registered" }),
    });
    Err(AppError::conflict(
        "duplicate_id_card",
        "a resident with this identity-card number is registered already",
        Value::Null,
    ))
}

fn record(
    tx: &mut Tx<'_>,
    household: &Household,
    r: &ResidentRecord,
    kind: &'static str,
    deleted: bool,
    details: Value,
) -> Result<(), AppError> {
    let (history_kind, event) = match kind {
        "created" => ("resident_added", "resident.created"),
        "deleted" => ("resident_removed", "resident.deleted"),
        _ => ("resident_changed", "resident.changed"),
    };
    let mut details = details;
    details["resident_id"] = json!(r.id);
    tx.history(
        Entity::Household,
        &household.record.id,
        history_kind,
        Some(household.record.version),
        details,
    )?;
    tx.event(
        event,
        Entity::Resident,
        &r.id,
        r.version,
        json!({ "id": r.id, "household_id": r.household_id, "version": r.version }),
    )?;
    let path = Some(household.unit.path.clone());
    tx.change(Change {
        entity: Entity::Resident,
        id: r.id.clone(),
        version: r.version,
        deleted,
        unit_path_before: path.clone(),
        unit_path_after: (!deleted).then_some(path).flatten(),
    })
}

/// A household's residents, masked.
///
/// # Errors
/// 404 outside view scope.
pub fn list(r: &mut Reader<'_>, household: HouseholdId) -> Result<Vec<ResidentRecord>, AppError> {
    household_for(r.conn, &r.caller, household, Action::ReadHousehold)?;
    Ok(store::of_household(r.conn, &household.to_string())?)
}

/// A resident with identity number and phone opened.
pub struct Revealed {
    pub record: ResidentRecord,
    pub id_card: Option<String>,
    pub phone: Option<String>,
}

/// A household's residents with their personal data in full, for roles that may see it; the
/// reveal is in the audit log, in the same transaction.
///
/// # Errors
/// 404 outside view scope, 403 without the right to reveal, `pii_key_unavailable`.
pub fn reveal(tx: &mut Tx<'_>, household: HouseholdId) -> Result<Vec<Revealed>, AppError> {
    let h = household_for(tx.conn, tx.caller, household, Action::ReadHousehold)?;
    tx.caller
        .require(Action::RevealPersonalData, &h.unit.path, WHAT)?;
    let rows = store::of_household(tx.conn, &household.to_string())?;
    let mut out = Vec::with_capacity(rows.len());
    for record in rows {
        let pii = &tx.svc.pii;
        let id_card = open(
            pii,
            PiiKind::IdCard,
            record.id_card_cipher.as_deref(),
            record.id_card_key_id.as_deref(),
        )?;
        let phone = open(
            pii,
            PiiKind::Phone,
            record.phone_cipher.as_deref(),
            record.phone_key_id.as_deref(),
        )?;
        out.push(Revealed {
            record,
            id_card,
            phone,
        });
    }
    tx.audit(Audit {
        action: "pii.revealed",
        subject_type: Some(WHAT),
        subject_id: Some(household.to_string()),
        unit_path: Some(h.unit.path.clone()),
        details: json!({
            "residents": out.iter().map(|r| r.record.id.as_str()).collect::<Vec<_>>(),
            "fields": ["id_card", "phone"],
        }),
    })?;
    Ok(out)
}

/// Registers a resident in a household.
///
/// # Errors
/// 404/403 by scope; `duplicate_id_card`; `id_taken`.
pub fn create(
    tx: &mut Tx<'_>,
    household: HouseholdId,
    id: Option<ResidentId>,
    new: &NewResident,
) -> Result<Created<ResidentRecord>, AppError> {
    let h = household_for(tx.conn, tx.caller, household, Action::WriteHousehold)?;
    let (id_card, phone) = seal(&tx.svc.pii, new);
    let id = match id {
        Some(id) => {
            let content = json!({
                "household_id": h.record.id,
                "name": new.name.as_str(),
                "relation": new.relation.as_str(),
                "gender": new.identity.gender().map(Gender::as_str),
                "birth_date": new.identity.birth_date().map(|d| d.to_string()),
                "id_card": id_card.as_ref().map(|s| &s.hash),
                "phone": phone.as_ref().map(|s| &s.hash),
                "tags": new.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            });
            if client_id::claim(tx, Entity::Resident, &id.to_string(), &content)? == Claimed::Again
            {
                let record = store::get(tx.conn, &id.to_string())?
                    .filter(|r| r.household_id == h.record.id)
                    .ok_or_else(|| client_id::taken(&id.to_string()))?;
                return Ok(Created {
                    record,
                    again: true,
                });
            }
            id.to_string()
        }
        None => new_id(),
    };
    if let Some(s) = &id_card {
        check_unregistered(tx, s, None, "resident.create")?;
    }
    let birth = new.identity.birth_date().map(|d| d.to_string());
    let tags = super::stored_tags(&new.tags);
    let now = tx.now().to_owned();
    store::insert(
        tx.conn,
        &[store::NewResident {
            id: &id,
            household_id: &h.record.id,
            name: new.name.as_str(),
            gender: new.identity.gender().map(Gender::as_str),
            birth_date: birth.as_deref(),
            relation: new.relation.as_str(),
            id_card: id_card.as_ref(),
            phone: phone.as_ref(),
            tags: &tags,
        }],
        &now,
    )?;
    let r = store::get(tx.conn, &id)?.ok_or_else(|| AppError::not_found(RESIDENT))?;
    record(tx, &h, &r, "created", false, json!({}))?;
    Ok(Created {
        record: r,
        again: false,
    })
}

/// What a change may set; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ResidentPatch {
    pub name: Option<PersonName>,
    pub relation: Option<Relation>,
    pub identity: IdentityPatch,
    /// `Some(None)` clears the phone.
    pub phone: Option<Option<PhoneNumber>>,
    pub tags: Option<Vec<Tag>>,
}

/// The resident, if it belongs to the household and the caller may take `action` there.
fn resident_for(
    conn: &mut AnyConnection,
    caller: &Caller,
    household: HouseholdId,
    id: ResidentId,
    action: Action,
) -> Result<(Household, ResidentRecord), AppError> {
    let h = household_for(conn, caller, household, action)?;
    let r = store::get(conn, &id.to_string())?
        .filter(|r| r.household_id == h.record.id)
        .ok_or_else(|| AppError::not_found(RESIDENT))?;
    Ok((h, r))
}

/// The identity as stored: the number opened (not shown to anyone) so that a change of the
/// birth date or gender alone can be checked against it.
fn stored_identity(pii: &PiiKeys, r: &ResidentRecord) -> Result<Identity, AppError> {
    let card = open(
        pii,
        PiiKind::IdCard,
        r.id_card_cipher.as_deref(),
        r.id_card_key_id.as_deref(),
    )?
    .map(|n| IdCardNumber::parse(&n))
    .transpose()
    .map_err(|e| AppError::internal(format!("a stored identity number does not parse: {e}")))?;
    Ok(Identity::stored(
        r.gender.as_deref().and_then(|g| g.parse().ok()),
        r.birth_date
            .as_deref()
            .and_then(|d| BirthDate::parse(d).ok()),
        card,
    ))
}

/// Changes a resident. The identity number, birth date and gender must still agree
/// afterwards, also when the change touches only one of them.
///
/// # Errors
/// 404/403 by scope; `validation_failed`; `duplicate_id_card`; `VersionMismatch`.
pub fn update(
    tx: &mut Tx<'_>,
    household: HouseholdId,
    id: ResidentId,
    if_match: Option<i64>,
    patch: &ResidentPatch,
) -> Result<ResidentRecord, AppError> {
    versions::hold_unless_matched(tx, Locked::Resident, &id.to_string(), if_match)?;
    let (h, current) = resident_for(tx.conn, tx.caller, household, id, Action::WriteHousehold)?;
    let version = versions::expect(current.version, if_match)?;
    let mut changes = ResidentChanges {
        name: patch.name.as_ref().map(|n| n.as_str().to_owned()),
        relation: patch.relation.map(|r| r.as_str().to_owned()),
        tags: patch.tags.as_deref().map(super::stored_tags),
        ..ResidentChanges::default()
    };
    let mut fields: Vec<&str> = Vec::new();
    if !patch.identity.is_empty() {
        let identity = stored_identity(&tx.svc.pii, &current)?.patched(&patch.identity)?;
        changes.gender = Some(identity.gender().map(|g| g.as_str().to_owned()));
        changes.birth_date = Some(identity.birth_date().map(|d| d.to_string()));
        fields.extend(["gender", "birth_date"]);
        if let Some(card) = &patch.identity.id_card {
            let sealed = card
                .as_ref()
                .map(|n| tx.svc.pii.seal(PiiKind::IdCard, n.expose(), n.masked()));
            if let Some(s) = &sealed {
                check_unregistered(tx, s, Some(&current.id), "resident.update")?;
            }
            changes.set_id_card(sealed.as_ref());
            fields.push("id_card");
        }
    }
    if let Some(p) = &patch.phone {
        let sealed = p
            .as_ref()
            .map(|p| tx.svc.pii.seal(PiiKind::Phone, p.expose(), p.masked()));
        changes.set_phone(sealed.as_ref());
        fields.push("phone");
    }
    for (set, name) in [
        (changes.name.is_some(), "name"),
        (changes.relation.is_some(), "relation"),
        (changes.tags.is_some(), "tags"),
    ] {
        if set {
            fields.push(name);
        }
    }
    let key = id.to_string();
    let now = tx.now().to_owned();
    if !store::update(tx.conn, &key, version, &changes, &now)? {
        let now_version = store::get(tx.conn, &key)?.map(|r| r.version);
        return Err(versions::lost(if_match, now_version, RESIDENT));
    }
    let after = store::get(tx.conn, &key)?.ok_or_else(|| AppError::not_found(RESIDENT))?;
    // Personal data is named, never shown, in the history.
    record(
        tx,
        &h,
        &after,
        "updated",
        false,
        json!({ "fields": fields }),
    )?;
    Ok(after)
}

/// Removes a resident from the registry.
///
/// # Errors
/// 404/403 by scope; `VersionMismatch`.
pub fn delete(
    tx: &mut Tx<'_>,
    household: HouseholdId,
    id: ResidentId,
    if_match: Option<i64>,
) -> Result<(), AppError> {
    versions::hold_unless_matched(tx, Locked::Resident, &id.to_string(), if_match)?;
    let (h, current) = resident_for(tx.conn, tx.caller, household, id, Action::WriteHousehold)?;
    let version = versions::expect(current.version, if_match)?;
    let key = id.to_string();
    if !store::delete(tx.conn, &key, version)? {
        let now_version = store::get(tx.conn, &key)?.map(|r| r.version);
        return Err(versions::lost(if_match, now_version, RESIDENT));
    }
    let tombstone = ResidentRecord {
        version: current.version + 1,
        ..current
    };
    record(
        tx,
        &h,
        &tombstone,
        "deleted",
        true,
        json!({ "name": tombstone.name }),
    )
}
