//! The outbox's and the personal-data keys' state, and resealing under the current key.

use super::{CliError, settings};
use crate::startup;
use wangge_app::Who;
use wangge_persistence::StoreError;

pub(super) fn outbox_status() -> Result<(), CliError> {
    let s = settings()?;
    let mut conn = startup::open_database(&s)?
        .get()
        .map_err(StoreError::from)?;
    let rows = wangge_app::outbox::status(&mut conn)?;
    if rows.is_empty() {
        println!("the outbox is empty");
    }
    for (event_type, n, oldest) in rows {
        println!("{event_type}: {n} waiting, oldest {oldest}");
    }
    Ok(())
}

pub(super) fn print_key_counts(column: &str, counts: &[(String, i64)], current: &str) {
    if counts.is_empty() {
        println!("{column}: none");
    }
    for (key, n) in counts {
        let mark = if key == current { " (current)" } else { "" };
        println!("{column}: {n} under key {key}{mark}");
    }
}

/// The personal-data keys and a connection, for the `pii` commands.
pub(super) fn keys_and_connection()
-> Result<(wangge_app::pii::PiiKeys, wangge_persistence::PooledConn), CliError> {
    let s = settings()?;
    let pii = s.pii_keys().map_err(|e| CliError::Startup(e.into()))?;
    let conn = startup::open_database(&s)?
        .get()
        .map_err(StoreError::from)?;
    Ok((pii, conn))
}

pub(super) fn pii_status() -> Result<(), CliError> {
    let (pii, mut conn) = keys_and_connection()?;
    for col in wangge_persistence::sealed::SealedColumn::ALL {
        let counts = wangge_persistence::sealed::count_by_key(&mut conn, col)?;
        print_key_counts(col.name(), &counts, pii.current_key_id());
    }
    Ok(())
}

pub(super) fn pii_reseal(batch: i64) -> Result<(), CliError> {
    let (pii, mut conn) = keys_and_connection()?;
    // A spinner with the count: the total is not known without counting first.
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} values ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message("re-sealing");
    let result =
        wangge_app::reseal::reseal(&mut conn, &pii, &Who::operator(), batch, &mut |done| {
            bar.set_position(done);
        });
    bar.finish_and_clear();
    let report = result.map_err(|e| {
        CliError::Usage(format!(
            "re-sealing stopped: {e} (what was done is in the audit log as pii.resealed; run it again to go on)"
        ))
    })?;
    let total = report.total();
    println!(
        "re-sealed {total} values under key {}",
        pii.current_key_id()
    );
    for (col, counts) in &report.remaining {
        print_key_counts(col.name(), counts, pii.current_key_id());
    }
    Ok(())
}
