//! Evidence and result photos of a case. Who may attach is asked before the upload is read
//! (an upload is costly work); the type is told by the content; the content is stored once
//! per hash.

use super::{Loaded, actor, load};
use crate::blobs::sha256_hex;
use crate::caller::Caller;
use crate::error::AppError;
use crate::tx::{Entity, Tx};
use serde::Serialize;
use serde_json::json;
use wangge_domain::IncidentId;
use wangge_domain::incident::flow;
use wangge_domain::incident::media::MediaType;
use wangge_domain::incident::{Action, AttachmentKind};
use wangge_persistence::AnyConnection;
use wangge_persistence::incidents::{self as store, Attachment};

/// The largest upload: a phone's photo or a short video.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;

/// An attachment as a case shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    pub hash: String,
    pub kind: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub url: String,
    pub created_at: String,
}

impl From<&Attachment> for AttachmentView {
    fn from(a: &Attachment) -> Self {
        Self {
            hash: a.hash.clone(),
            kind: a.kind.clone(),
            media_type: a.media_type.clone(),
            size_bytes: a.size_bytes,
            url: format!("/api/v1/incidents/{}/attachments/{}", a.incident_id, a.hash),
            created_at: a.created_at.clone(),
        }
    }
}

/// Whether the caller may attach `kind` to the loaded case: evidence, whoever reported it or
/// acts on it; a result, whoever may report it back (`resolve`).
fn may_attach(caller: &Caller, l: &Loaded, kind: AttachmentKind) -> Result<bool, AppError> {
    let pairs = l.summoned_pairs();
    let case = l.case(&pairs)?;
    let a = actor(caller, &l.standing);
    Ok(match kind {
        AttachmentKind::Result => flow::may(&case, &a, Action::Resolve),
        AttachmentKind::Evidence => {
            let reported = l.record.reporter_id.is_some()
                && l.record.reporter_id.as_deref() == caller.account_id();
            reported || l.standing.captures_owner || l.standing.department.is_some()
        }
    })
}

/// Asked before the upload is read: 404 for a case the caller cannot see, 403 for one they
/// may not attach to.
///
/// # Errors
/// As described.
pub fn authorize(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: IncidentId,
    kind: AttachmentKind,
) -> Result<(), AppError> {
    let l = load(conn, caller, &id.to_string())?;
    if may_attach(caller, &l, kind)? {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "your roles and scope do not allow attaching {kind} to this case"
        )))
    }
}

/// Attaches a content; returns it and whether it is new (the same content again as the same
/// kind is the same attachment).
///
/// # Errors
/// 404, 403, `unsupported_media` (not JPEG, PNG, HEIC or MP4 by its content),
/// `validation_failed` (a result that is not a photo).
pub fn attach(
    tx: &mut Tx<'_>,
    id: IncidentId,
    kind: AttachmentKind,
    bytes: &[u8],
) -> Result<(AttachmentView, bool), AppError> {
    let key = id.to_string();
    let l = load(tx.conn, tx.caller, &key)?;
    if !may_attach(tx.caller, &l, kind)? {
        return Err(AppError::forbidden(format!(
            "your roles and scope do not allow attaching {kind} to this case"
        )));
    }
    let media = MediaType::sniff(bytes).ok_or_else(|| AppError::Unprocessable {
        code: "unsupported_media",
        message: "the file is not a JPEG, PNG or HEIC photo or an MP4 video (told by its content)"
            .into(),
        details: json!({ "field": "file" }),
    })?;
    if kind == AttachmentKind::Result && !media.is_photo() {
        return Err(AppError::field(
            "kind",
            "a handled result is shown with a photo",
        ));
    }
    let hash = sha256_hex(bytes);
    tx.svc
        .blobs
        .put(&hash, bytes)
        .map_err(|e| AppError::internal(format!("storing an attachment: {e}")))?;
    let row = Attachment {
        incident_id: key.clone(),
        hash: hash.clone(),
        kind: kind.as_str().to_owned(),
        media_type: media.as_str().to_owned(),
        size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        uploaded_by: tx.caller.account_id().map(str::to_owned),
        created_at: tx.now().to_owned(),
    };
    let created = store::attach(tx.conn, &row)?;
    if created {
        let details = json!({ "action": "attach", "kind": row.kind, "hash": hash,
            "media_type": row.media_type, "size_bytes": row.size_bytes });
        tx.history(
            Entity::Incident,
            &key,
            "attach",
            Some(l.record.version),
            details.clone(),
        )?;
        tx.event(
            "incident.attachment_added",
            Entity::Incident,
            &key,
            l.record.version,
            details,
        )?;
        return Ok((AttachmentView::from(&row), true));
    }
    let stored = store::attachments_of(tx.conn, &key)?
        .into_iter()
        .find(|a| a.hash == hash && a.kind == row.kind)
        .ok_or_else(|| AppError::internal("an attachment vanished"))?;
    Ok((AttachmentView::from(&stored), false))
}

/// The content of one of a case's attachments.
///
/// # Errors
/// 404 for a case the caller cannot see, or a hash not attached to it.
pub fn fetch(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: IncidentId,
    hash: &str,
    blobs: &dyn crate::blobs::BlobStore,
) -> Result<(MediaType, Vec<u8>), AppError> {
    let l = load(conn, caller, &id.to_string())?;
    let a = l
        .attachments
        .iter()
        .find(|a| a.hash == hash)
        .ok_or_else(|| AppError::not_found("attachment"))?;
    let media = MediaType::parse(&a.media_type)
        .map_err(|e| AppError::internal(format!("stored attachment: {e}")))?;
    let bytes = blobs
        .get(hash)
        .map_err(|e| AppError::internal(format!("reading an attachment: {e}")))?
        .ok_or_else(|| {
            AppError::internal(format!("attachment {hash} is missing from the store"))
        })?;
    Ok((media, bytes))
}
