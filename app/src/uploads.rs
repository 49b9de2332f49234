//! Photos sent ahead of the work that uses them. A phone asks which of its contents the
//! server lacks ([`missing`]), sends only those, each in as many pieces as its network allows
//! ([`receive`]; a piece lost or answered into the void is sent again from where the server
//! says it is), and then names them by hash in the operations it uploads ([`attach`]). A
//! content counts for the account that uploaded it only, so a hash seen elsewhere is not a
//! key to someone else's photo.

use crate::blobs::{is_hash, sha256_hex, upload_key};
use crate::caller::Caller;
use crate::error::AppError;
use crate::incidents::attachments::{self as attachments, MAX_BYTES};
use crate::tx::{Reader, Tx};
use serde_json::json;
use wangge_domain::incident::AttachmentKind;
use wangge_domain::incident::media::MediaType;
use wangge_domain::{Action, IncidentId, Reach};
use wangge_persistence::uploads as store;

/// Hashes asked about at once.
pub const MAX_HASHES: usize = 500;

/// One piece of an upload: where it starts, the whole content's size, its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    pub offset: u64,
    pub total_bytes: u64,
    pub bytes: &'a [u8],
}

/// Where an upload is after a piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub hash: String,
    pub total_bytes: i64,
    pub received_bytes: i64,
    /// Set once the content is whole, checked against its hash, and stored.
    pub media_type: Option<String>,
    /// Whole before this piece (a replay).
    pub already: bool,
}

/// Who may upload: an account that may report cases or is a department's (they attach).
///
/// # Errors
/// 403 otherwise.
pub fn authorize(caller: &Caller) -> Result<&str, AppError> {
    let reports = caller.reach(Action::ReportIncident) != Reach::Nothing;
    let department = crate::incidents::caller_department(caller).is_some();
    match caller.account_id() {
        Some(a) if reports || department => Ok(a),
        _ => Err(AppError::forbidden(
            "uploads are for accounts that report or handle cases",
        )),
    }
}

/// The hashes among `hashes` whose content the caller has not uploaded whole, and how much
/// of each has arrived.
///
/// # Errors
/// 403 as [`authorize`]; `validation_failed` for a string that is not a SHA-256 or too many.
pub fn missing(r: &mut Reader<'_>, hashes: &[String]) -> Result<Vec<(String, i64)>, AppError> {
    let account = authorize(&r.caller)?.to_owned();
    if hashes.len() > MAX_HASHES {
        return Err(AppError::field(
            "hashes",
            format!("at most {MAX_HASHES} at once"),
        ));
    }
    if let Some(bad) = hashes.iter().find(|h| !is_hash(h)) {
        return Err(AppError::field(
            "hashes",
            format!("{bad:?} is not a SHA-256 in lower-case hex"),
        ));
    }
    let known = store::of(r.conn, &account, hashes)?;
    let mut out = Vec::new();
    for h in hashes {
        let up = known.iter().find(|u| &u.hash == h);
        match up {
            Some(u) if u.completed_at.is_some() => {}
            _ if out.iter().any(|(x, _)| x == h) => {}
            _ => {
                let row_says = up.map_or(0, |u| u.received_bytes);
                let key = upload_key(&account, h);
                out.push((h.clone(), standing(r.svc.blobs.as_ref(), &key, row_says)?));
            }
        }
    }
    Ok(out)
}

/// How much of an upload stands: what its row says arrived, while the partial file still
/// holds it. A refused content (its file removed) or a commit that failed after the file
/// was written leaves the row ahead of the file; the upload then stands at nothing.
fn standing(
    blobs: &dyn crate::blobs::BlobStore,
    key: &str,
    row_says: i64,
) -> Result<i64, AppError> {
    let kept = i64::try_from(blobs.partial_len(key).map_err(|e| io(&e))?).unwrap_or(i64::MAX);
    Ok(if kept < row_says { 0 } else { row_says })
}

fn offset_mismatch(received: i64) -> AppError {
    AppError::conflict(
        "upload_offset_mismatch",
        format!("this upload has {received} bytes; send the piece that starts there"),
        json!({ "received_bytes": received }),
    )
}

fn io(e: &std::io::Error) -> AppError {
    AppError::internal(format!("storing an upload: {e}"))
}

/// Takes one piece of the caller's upload of `hash`.
///
/// # Errors
/// 403 as [`authorize`]; `upload_offset_mismatch` (409, with `received_bytes`) for a piece
/// that does not start where the upload stands; `validation_failed` for a piece past the
/// size, or a size over the limit, or another size than the upload began with;
/// `hash_mismatch` and `unsupported_media` (422) for a whole content that is not what its
/// hash says or not a photo or video (the upload starts over).
pub fn receive(tx: &mut Tx<'_>, hash: &str, piece: Piece<'_>) -> Result<Received, AppError> {
    let account = authorize(tx.caller)?.to_owned();
    let too_big = usize::try_from(piece.total_bytes).map_or(true, |t| t > MAX_BYTES);
    if too_big || piece.total_bytes == 0 {
        return Err(AppError::field(
            "content_range",
            format!("a content is 1 to {MAX_BYTES} bytes"),
        ));
    }
    let end = piece.offset.checked_add(piece.bytes.len() as u64);
    if end.is_none_or(|end| end > piece.total_bytes) {
        return Err(AppError::field(
            "content_range",
            "the piece ends past the content's size",
        ));
    }
    let total = i64::try_from(piece.total_bytes).unwrap_or(i64::MAX);
    let now = tx.now().to_owned();
    store::open(tx.conn, &account, hash, total, &now)?;
    let up = store::hold(tx.conn, &account, hash)?
        .ok_or_else(|| AppError::internal("an upload row vanished under its lock"))?;
    if up.completed_at.is_some() {
        return Ok(Received {
            hash: hash.to_owned(),
            total_bytes: up.total_bytes,
            received_bytes: up.received_bytes,
            media_type: up.media_type,
            already: true,
        });
    }
    let key = upload_key(&account, hash);
    let blobs = tx.svc.blobs.clone();
    // The content sent whole starts the upload over, wherever it stood: it is what a phone
    // sends when it gives up on pieces, and what a refused size tells it to do.
    let whole = piece.offset == 0 && piece.bytes.len() as u64 == piece.total_bytes;
    let received = if whole {
        0
    } else {
        standing(blobs.as_ref(), &key, up.received_bytes)?
    };
    if received == 0 && piece.offset == 0 {
        if (up.total_bytes, up.received_bytes) != (total, 0) {
            store::restart(tx.conn, &account, hash, total)?;
        }
    } else if up.total_bytes != total {
        return Err(AppError::field(
            "content_range",
            format!(
                "this upload began as {} bytes; finish it, or send its content whole",
                up.total_bytes
            ),
        ));
    }
    if i64::try_from(piece.offset).ok() != Some(received) {
        return Err(offset_mismatch(received));
    }
    let len = match blobs.write_partial(&key, piece.offset, piece.bytes) {
        Ok(len) => i64::try_from(len).unwrap_or(i64::MAX),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            return Err(offset_mismatch(0));
        }
        Err(e) => return Err(io(&e)),
    };
    if len < total {
        store::set_received(tx.conn, &account, hash, len, None)?;
        return Ok(Received {
            hash: hash.to_owned(),
            total_bytes: total,
            received_bytes: len,
            media_type: None,
            already: false,
        });
    }
    let content = blobs
        .read_partial(&key)
        .map_err(|e| io(&e))?
        .unwrap_or_default();
    let media = if sha256_hex(&content) == hash {
        MediaType::sniff(&content).ok_or((
            "unsupported_media",
            "the content is not a JPEG, PNG or HEIC photo or an MP4 video (told by its content)",
        ))
    } else {
        Err((
            "hash_mismatch",
            "the content's SHA-256 is not the hash it was sent under; send it again from the start",
        ))
    };
    let media = match media {
        Ok(m) => m,
        Err((code, message)) => {
            // Its file goes; the row, rolled back with this answer, then stands at nothing
            // (see `standing`), and the next first piece starts the upload over.
            blobs.remove_partial(&key).map_err(|e| io(&e))?;
            return Err(AppError::unprocessable(code, message));
        }
    };
    blobs.put(hash, &content).map_err(|e| io(&e))?;
    blobs.remove_partial(&key).map_err(|e| io(&e))?;
    store::set_received(tx.conn, &account, hash, total, Some((media.as_str(), &now)))?;
    Ok(Received {
        hash: hash.to_owned(),
        total_bytes: total,
        received_bytes: total,
        media_type: Some(media.as_str().to_owned()),
        already: false,
    })
}

/// Attaches contents the caller uploaded to a case, as `kind`.
///
/// # Errors
/// `photo_not_uploaded` (422, with `hash`) for a hash the caller has not uploaded whole;
/// [`attachments::attach`]'s.
pub fn attach(
    tx: &mut Tx<'_>,
    id: IncidentId,
    kind: AttachmentKind,
    hashes: &[String],
) -> Result<(), AppError> {
    if hashes.is_empty() {
        return Ok(());
    }
    let account = authorize(tx.caller)?.to_owned();
    let done = store::of(tx.conn, &account, hashes)?;
    for h in hashes {
        let whole = done
            .iter()
            .any(|u| &u.hash == h && u.completed_at.is_some());
        let bytes = if whole {
            tx.svc.blobs.get(h).map_err(|e| io(&e))?
        } else {
            None
        };
        let Some(bytes) = bytes else {
            return Err(AppError::Unprocessable {
                code: "photo_not_uploaded",
                message: format!(
                    "upload {h} (PUT /api/v1/uploads/{h}) before the operation that uses it"
                ),
                details: json!({ "hash": h }),
            });
        };
        attachments::attach(tx, id, kind, &bytes)?;
    }
    Ok(())
}
