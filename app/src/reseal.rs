//! Re-sealing personal data under the current key, so that an old key can be retired: an
//! operator's use case (`wangge pii reseal`), audited as `pii.resealed`.

use crate::caller::{Caller, Who};
use crate::pii::{PiiError, PiiKeys, PiiKind};
use crate::tx::{Audit, audit_row};
use wangge_persistence::audit;
use wangge_persistence::sealed::{self, SealedColumn};
use wangge_persistence::{AnyConnection, StoreError};

/// What [`reseal`] did, by column: values moved to the current key, and what each key
/// holds afterwards.
#[derive(Debug, Default)]
pub struct ResealReport {
    pub resealed: Vec<(SealedColumn, u64)>,
    pub remaining: Vec<(SealedColumn, Vec<(String, i64)>)>,
}

impl ResealReport {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.resealed.iter().map(|(_, n)| n).sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{column} of row {row}: {source}")]
    Open {
        column: &'static str,
        row: String,
        source: PiiError,
    },
    #[error("sealing under key {0} failed")]
    Seal(String),
    #[error("{0}")]
    Caller(String),
}

fn kind_of(col: SealedColumn) -> PiiKind {
    match col {
        SealedColumn::ResidentIdCard => PiiKind::IdCard,
        SealedColumn::ResidentPhone | SealedColumn::UserPhone | SealedColumn::ReporterPhone => {
            PiiKind::Phone
        }
        SealedColumn::ReporterName => PiiKind::Name,
    }
}

/// Re-seals every value held under an old key with the current key, `batch` values per
/// transaction, calling `progress` with the number done after each batch, and records
/// `pii.resealed` in the audit log with what was done, also when it stops on an error.
///
/// The keyed hashes and masks do not change (the hash key is not rotated), nor do row
/// versions. A value is replaced only if the row still holds the very ciphertext that was
/// opened, so a value written meanwhile is left alone, and a rerun after an interruption
/// goes on where it stopped. Every running instance must be able to open values under the
/// current key before this runs (README, `WANGGE_PII_OLD_KEYS`). Once nothing is left under
/// an old key, that key can be removed.
///
/// # Errors
/// Database errors, or a value whose key is not configured or that fails authentication
/// (nothing of its batch is written; earlier batches stay done and are in the audit event).
pub fn reseal(
    conn: &mut AnyConnection,
    keys: &PiiKeys,
    who: &Who,
    batch: i64,
    progress: &mut dyn FnMut(u64),
) -> Result<ResealReport, ResealError> {
    let caller = Caller::load(conn, who).map_err(|e| ResealError::Caller(e.to_string()))?;
    let mut report = ResealReport::default();
    let outcome = reseal_into(conn, keys, batch, progress, &mut report);
    let values: std::collections::BTreeMap<&str, u64> = report
        .resealed
        .iter()
        .map(|(c, n)| (c.name(), *n))
        .collect();
    let event = audit_row(
        &caller,
        Audit {
            action: "pii.resealed",
            details: serde_json::json!({
                "key_id": keys.current_key_id(),
                "values": values,
                "error": outcome.as_ref().err().map(ToString::to_string),
            }),
            ..Audit::default()
        },
    );
    // Batches already written must be on record even when a later one failed.
    let recorded = audit::record(conn, &event);
    outcome?;
    recorded?;
    Ok(report)
}

fn reseal_into(
    conn: &mut AnyConnection,
    keys: &PiiKeys,
    batch: i64,
    progress: &mut dyn FnMut(u64),
    report: &mut ResealReport,
) -> Result<(), ResealError> {
    let current = keys.current_key_id();
    let mut done = 0u64;
    for col in SealedColumn::ALL {
        let kind = kind_of(col);
        let mut after = String::new();
        report.resealed.push((col, 0));
        loop {
            let rows = sealed::not_under_key(conn, col, current, &after, batch)?;
            let Some(last) = rows.last() else { break };
            after.clone_from(&last.row_id);
            // Opened and sealed before the transaction, which then only writes.
            let mut fresh = Vec::with_capacity(rows.len());
            for v in &rows {
                let plain =
                    keys.open(kind, &v.cipher, &v.key_id)
                        .map_err(|source| ResealError::Open {
                            column: col.name(),
                            row: v.row_id.clone(),
                            source,
                        })?;
                let cipher = keys
                    .seal_bytes(kind, &plain)
                    .ok_or_else(|| ResealError::Seal(current.to_owned()))?;
                fresh.push((v, cipher));
            }
            let n = wangge_persistence::transaction(conn, |conn| {
                let mut n = 0u64;
                for (v, cipher) in &fresh {
                    if sealed::replace(conn, col, v, cipher, current)? {
                        n += 1;
                    }
                }
                Ok(n)
            })?;
            if let Some((_, moved)) = report.resealed.last_mut() {
                *moved += n;
            }
            done += n;
            progress(done);
        }
        report
            .remaining
            .push((col, sealed::count_by_key(conn, col)?));
    }
    Ok(())
}
