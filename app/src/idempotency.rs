//! `Idempotency-Key` (IETF httpapi draft): a phone on a bad network may send a create or an
//! action again blindly. The first request with a key claims it in a short transaction of
//! its own; its effect and the answer it produced commit together in the use case's
//! transaction; a retry with the same key and body gets that answer again, byte for byte,
//! and changes nothing. The same key with another body is refused; a retry while the first
//! is running is told to come back; a claim whose request died (its lease ran out without an
//! answer) is taken over, which is safe because the effect and the answer commit together.

use crate::caller::Who;
use crate::error::AppError;
use crate::pii::PiiKind;
use crate::services::Services;
use crate::tx::{Tx, stored_time, write};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use wangge_persistence::idempotency::{self as keys, Answer as StoredAnswer, Claim, KeyRecord};
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
                let _ = write_transaction(conn, |c| keys::release(c, &claim));
                return Err(e);
            }
        }
    }
    Err(AppError::InFlight { retry_after_s: 1 })
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
    for _ in 0..3 {
        let now = Utc::now();
        let lease_end = stored_time(now + secs(svc.config.idempotency_lease_s));
        let claim = Claim {
            account_id: account,
            key: &keyed.key,
            owner,
            locked_until: &lease_end,
        };
        // Read first, outside any write lock: a retry during a long first request answers
        // at once instead of waiting for the lock that request holds.
        match keys::find(conn, account, &keyed.key)? {
            None => {
                let expires = stored_time(now + secs(svc.config.idempotency_ttl_s));
                let now_text = stored_time(now);
                let claimed = write_transaction(conn, |c| {
                    keys::insert_claim(c, &claim, &keyed.request_hash, &now_text, &expires)
                })?;
                if claimed {
                    return Ok(Begin::Claimed(lease_end));
                }
            }
            Some(rec) if rec.request_hash != keyed.request_hash => {
                return Err(AppError::unprocessable(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for another request; use a new key for a new request",
                ));
            }
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
                let now_text = stored_time(now);
                let taken = write_transaction(conn, |c| {
                    keys::take_over(c, &claim, rec.owner.as_deref(), &now_text)
                })?;
                if taken {
                    return Ok(Begin::Claimed(lease_end));
                }
            }
        }
    }
    Err(AppError::InFlight { retry_after_s: 1 })
}

/// Stores the answer, its body sealed: it may hold a one-time password.
fn store(tx: &mut Tx<'_>, claim: &Claim<'_>, answer: &Answer) -> Result<(), AppError> {
    let headers = serde_json::to_string(&answer.headers).map_err(AppError::internal)?;
    let sealed = tx
        .svc
        .pii
        .seal_bytes(PiiKind::Answer, &answer.body)
        .ok_or_else(|| AppError::internal("sealing an answer failed"))?;
    keys::complete(
        tx.conn,
        claim,
        &StoredAnswer {
            status: i32::from(answer.status),
            headers: &headers,
            body: &sealed,
            body_key_id: tx.svc.pii.current_key_id(),
        },
    )?;
    Ok(())
}

fn open(svc: &Services, rec: &KeyRecord) -> Result<Answer, AppError> {
    let (Some(status), Some(body), Some(key_id)) = (rec.status, &rec.body, &rec.body_key_id) else {
        return Err(AppError::internal("a stored answer is incomplete"));
    };
    let body = svc
        .pii
        .open(PiiKind::Answer, body, key_id)
        .map_err(|e| match e {
            crate::pii::PiiError::UnknownKey(k) => AppError::PiiKeyUnavailable { key_id: k },
            other => AppError::internal(other),
        })?;
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
