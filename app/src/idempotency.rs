//! `Idempotency-Key` (IETF httpapi draft): a phone on a bad network may send a create or an
//! action again blindly. A retry with the same key and body gets the first answer again,
//! byte for byte, and changes nothing; the same key with another body is refused; a retry
//! while the first is running is told to come back. The effect and the stored answer always
//! commit together, so no answer exists without its effect, nor the other way round.
//!
//! How a running request holds its key differs by backend:
//! - PostgreSQL: the key's advisory lock, taken without waiting in the first statement of
//!   the effect's own transaction (the one that loads the caller). A retry that cannot take
//!   it is in flight; a request that dies releases it with its transaction. One commit per
//!   request.
//! - SQLite has one write lock for everything, which a long first request (an import) holds:
//!   the key is claimed first, in a statement of its own with an owner and a lease, so a retry
//!   can read the claim without that lock and answer at once. A claim whose request died is
//!   taken over when its lease runs out.

use crate::caller::Who;
use crate::error::AppError;
use crate::pii::PiiKind;
use crate::services::Services;
use crate::tx::{Tx, stored_time, write, write_locked};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use wangge_persistence::idempotency::{
    self as keys, Answer as StoredAnswer, AnsweredKey, Claim, KeyRecord,
};
use wangge_persistence::{AnyConnection, write_transaction};

/// A request that carries a key: the key, and a hash of what was asked (method, path, body).
#[derive(Debug, Clone)]
pub struct Keyed {
    pub key: String,
    pub request_hash: String,
}

/// An answer as the client gets it: status, the headers that matter for a replay
/// (`Location`, `ETag`), and the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Runs a use case under an idempotency key (or without one): `f` is the use case, `render`
/// turns its result into the answer, which is stored in the same transaction.
///
/// # Errors
/// `f`'s errors; `idempotency_key_reused` (422) for the key with another request;
/// `InFlight` while the first request with the key runs.
pub fn run<T>(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    keyed: Option<&Keyed>,
    mut f: impl FnMut(&mut Tx<'_>) -> Result<T, AppError>,
    render: impl Fn(&T) -> Answer,
) -> Result<Answer, AppError> {
    let (Some(keyed), Some(account)) = (keyed, who.account_id()) else {
        return write(conn, svc, who, |tx| f(tx).map(|v| render(&v)));
    };
    let account = account.to_string();
    if matches!(conn, AnyConnection::Postgresql(_)) {
        return run_locked(conn, svc, who, &account, keyed, f, render);
    }
    for _ in 0..3 {
        let owner = crate::password::random_token(24);
        let claim = match begin(conn, svc, &account, keyed, &owner)? {
            Begin::Replay(answer) => return Ok(answer),
            Begin::Claimed(locked_until) => locked_until,
        };
        let claim = Claim {
            account_id: &account,
            key: &keyed.key,
            owner: &owner,
            locked_until: &claim,
        };
        let result = write(conn, svc, who, |tx| {
            if !keys::hold(tx.conn, &claim)? {
                return Err(AppError::ClaimLost);
            }
            let value = f(tx)?;
            let answer = render(&value);
            store(tx, &claim, &answer)?;
            Ok(answer)
        });
        match result {
            Ok(answer) => return Ok(answer),
            // Taken over meanwhile (our lease ran out): the other request answers.
            Err(AppError::ClaimLost) => {}
            Err(e) => {
                // So that a retry runs the request again. If this fails too, the lease runs
                // out and a retry takes the claim over.
                let _ = keys::release(conn, &claim);
                return Err(e);
            }
        }
    }
    Err(AppError::InFlight { retry_after_s: 1 })
}

/// [`run`] on PostgreSQL: lock, effect and answer in one transaction.
fn run_locked<T>(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    account: &str,
    keyed: &Keyed,
    mut f: impl FnMut(&mut Tx<'_>) -> Result<T, AppError>,
    render: impl Fn(&T) -> Answer,
) -> Result<Answer, AppError> {
    enum Outcome {
        Done(Answer),
        Found(Box<KeyRecord>),
    }
    let lock = keys::lock_name(account, &keyed.key);
    for _ in 0..3 {
        // Taken in the statement that loads the caller: one round trip fewer.
        let outcome = write_locked(conn, svc, who, &lock, |tx, locked| {
            if !locked {
                return Err(AppError::InFlight { retry_after_s: 1 });
            }
            // Read under the lock, in a statement of its own: a row its previous holder
            // committed is seen. (Read in the lock's own statement, it would be read in the
            // snapshot taken just before the lock, and miss an answer committed in that
            // instant while the use case saw its effect: a retry answered 412 or 409.)
            match keys::find(tx.conn, account, &keyed.key)? {
                Some(rec) if rec.status.is_some() || rec.request_hash != keyed.request_hash => {
                    return Ok(Outcome::Found(Box::new(rec)));
                }
                // A claim of the SQLite path's kind whose owner is gone: we hold the lock.
                Some(_) => keys::delete_unanswered(tx.conn, account, &keyed.key)?,
                None => {}
            }
            let value = f(tx)?;
            let answer = render(&value);
            let now = Utc::now();
            let (headers, body, key_id) = seal(tx.svc, &answer)?;
            // Written with the journal; if another request's answer for the key committed
            // after our read, the flush fails with `ClaimLost` and we look again.
            tx.keep_answer(AnsweredKey {
                account_id: account.to_owned(),
                key: keyed.key.clone(),
                request_hash: keyed.request_hash.clone(),
                status: i32::from(answer.status),
                headers,
                body,
                body_key_id: key_id,
                created_at: stored_time(now),
                expires_at: stored_time(now + secs(svc.config.idempotency_ttl_s)),
            });
            Ok(Outcome::Done(answer))
        });
        match outcome {
            Ok(Outcome::Done(answer)) => return Ok(answer),
            Ok(Outcome::Found(rec)) if rec.request_hash != keyed.request_hash => {
                return Err(reused());
            }
            Ok(Outcome::Found(rec)) => return open(svc, &rec),
            Err(AppError::ClaimLost) => {}
            Err(e) => return Err(e),
        }
    }
    Err(AppError::InFlight { retry_after_s: 1 })
}

fn reused() -> AppError {
    AppError::unprocessable(
        "idempotency_key_reused",
        "this Idempotency-Key was used for another request; use a new key for a new request",
    )
}

enum Begin {
    Replay(Answer),
    /// Claimed, with the lease's end.
    Claimed(String),
}

fn begin(
    conn: &mut AnyConnection,
    svc: &Services,
    account: &str,
    keyed: &Keyed,
    owner: &str,
) -> Result<Begin, AppError> {
    // On PostgreSQL a new key (the common case) is claimed in one statement. On SQLite the
    // key is read first, outside the one write lock: a retry during a long first request
    // (an import) answers at once instead of waiting for the lock that request holds.
    let claim_first = !matches!(conn, AnyConnection::Sqlite(_));
    for _ in 0..3 {
        let now = Utc::now();
        let lease_end = stored_time(now + secs(svc.config.idempotency_lease_s));
        let claim = Claim {
            account_id: account,
            key: &keyed.key,
            owner,
            locked_until: &lease_end,
        };
        let now_text = stored_time(now);
        let expires = stored_time(now + secs(svc.config.idempotency_ttl_s));
        // Each claim, take-over and release is one statement, a transaction by itself.
        let try_claim = |conn: &mut AnyConnection| {
            keys::insert_claim(conn, &claim, &keyed.request_hash, &now_text, &expires)
        };
        if claim_first && try_claim(conn)? {
            return Ok(Begin::Claimed(lease_end));
        }
        match keys::find(conn, account, &keyed.key)? {
            None => {
                if !claim_first && try_claim(conn)? {
                    return Ok(Begin::Claimed(lease_end));
                }
            }
            Some(rec) if rec.request_hash != keyed.request_hash => return Err(reused()),
            Some(rec) if rec.status.is_some() => return Ok(Begin::Replay(open(svc, &rec)?)),
            Some(rec) => {
                let until = rec
                    .locked_until
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc));
                if let Some(until) = until.filter(|u| *u > now) {
                    let left = (until - now).num_seconds().max(0);
                    return Err(AppError::InFlight {
                        retry_after_s: u64::try_from(left).unwrap_or(0).max(1),
                    });
                }
                if keys::take_over(conn, &claim, rec.owner.as_deref(), &now_text)? {
                    return Ok(Begin::Claimed(lease_end));
                }
            }
        }
    }
    Err(AppError::InFlight { retry_after_s: 1 })
}

/// Stores the answer, its body sealed: it may hold a one-time password.
fn store(tx: &mut Tx<'_>, claim: &Claim<'_>, answer: &Answer) -> Result<(), AppError> {
    let (headers, body, key_id) = seal(tx.svc, answer)?;
    keys::complete(
        tx.conn,
        claim,
        &StoredAnswer {
            status: i32::from(answer.status),
            headers: &headers,
            body: &body,
            body_key_id: &key_id,
        },
    )?;
    Ok(())
}

/// An answer as stored: its headers as JSON, its body sealed, and the sealing key's id.
/// The body is not compressed: a report's answer is about 2 KB, which PostgreSQL keeps in
/// the row (`STORAGE MAIN`), and a deflate encoder sets up about 300 KB of tables for each
/// answer, on every keyed write (docs/benchmarks.md).
fn seal(svc: &Services, answer: &Answer) -> Result<(String, Vec<u8>, String), AppError> {
    let headers = serde_json::to_string(&answer.headers).map_err(AppError::internal)?;
    let sealed = svc
        .pii
        .seal_bytes(PiiKind::Answer, &answer.body)
        .ok_or_else(|| AppError::internal("sealing an answer failed"))?;
    Ok((headers, sealed, svc.pii.current_key_id().to_owned()))
}

fn open(svc: &Services, rec: &KeyRecord) -> Result<Answer, AppError> {
    use std::io::Read;
    let (Some(status), Some(sealed), Some(key_id)) = (rec.status, &rec.body, &rec.body_key_id)
    else {
        return Err(AppError::internal("a stored answer is incomplete"));
    };
    let unknown = |e| match e {
        crate::pii::PiiError::UnknownKey(k) => AppError::PiiKeyUnavailable { key_id: k },
        other => AppError::internal(other),
    };
    let body = match svc.pii.open(PiiKind::Answer, sealed, key_id) {
        Ok(body) => body,
        // Stored deflated by an earlier version (the label differs, so it fails to open).
        Err(crate::pii::PiiError::Tampered) => {
            let deflated = svc
                .pii
                .open_raw(PiiKind::AnswerDeflated, sealed, key_id)
                .map_err(unknown)?;
            let mut body = String::new();
            flate2::read::DeflateDecoder::new(deflated.as_slice())
                .read_to_string(&mut body)
                .map_err(AppError::internal)?;
            body
        }
        Err(e) => return Err(unknown(e)),
    };
    let headers: Vec<(String, String)> =
        serde_json::from_str(rec.headers.as_deref().unwrap_or("[]")).map_err(AppError::internal)?;
    Ok(Answer {
        status: u16::try_from(status).map_err(AppError::internal)?,
        headers,
        body,
    })
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// Deletes keys that have expired; returns how many.
///
/// # Errors
/// Database errors.
pub fn prune(conn: &mut AnyConnection) -> Result<usize, AppError> {
    let now = stored_time(Utc::now());
    Ok(write_transaction(conn, |c| keys::prune(c, &now))?)
}
