//! `wangge simulate field`, run as a test: phones working offline over a lossy link while
//! staff change the same records, on this run's database (SQLite, or PostgreSQL with
//! `TEST_DATABASE_URL`).

use crate::helpers::{Options, TestDb, settings_for};
use wangge_api::simulate::{self, Args};

#[test]
fn a_day_offline_over_a_lossy_link_ends_with_every_phone_consistent_and_every_operation_applied_once()
 {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let settings = simulate::settings(
        settings_for(&db, &Options::default(), dir.path()),
        dir.path(),
    );
    let args = Args {
        workers: 12,
        hours: 4,
        loss: 0.3,
        seed: 11,
    };
    let c = simulate::run(&args, settings).unwrap();
    let line = c.to_string();
    assert!(
        line.starts_with("devices_consistent=12/12 operations="),
        "{line}"
    );
    assert_eq!(
        (c.devices_consistent, c.lost, c.duplicated),
        (12, 0, 0),
        "{line}"
    );
    // Refused only when based on an operation of the phone's that conflicted.
    assert_eq!(c.refused_unexpectedly, 0, "{line}");
    assert_eq!(
        c.applied_once + c.conflicts_reported + c.rejected,
        c.operations,
        "every operation has one final answer: {line}"
    );
    // A day that proves something: real work, and staff's changes meeting the phones'.
    assert!(c.operations >= 60, "{line}");
    assert!(c.patrol_operations >= 12, "every phone walks: {c:?}");
    assert!(c.conflicts_reported > 0, "{line}");
    assert_eq!(
        line,
        format!(
            "devices_consistent=12/12 operations={} applied_once={} conflicts_reported={} lost=0 duplicated=0",
            c.operations, c.applied_once, c.conflicts_reported
        )
    );
}
