//! The change feed: every change of a record gets a position in one sequence that grows in
//! commit order. Writers insert rows without a position (`journal::insert_changes`); the
//! sequencer ([`sequence`]) numbers the rows committed so far, one batch per transaction
//! under the lock of `change_sequence`. Only one batch is numbered at a time and each starts
//! after the previous one committed, so a reader that has seen position N never later finds
//! a position below N.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{change_sequence, changes};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

/// A change as the feed shows it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = changes)]
pub struct ChangeRow {
    pub id: String,
    pub position: Option<i64>,
    pub entity: String,
    pub entity_id: String,
    pub version: i64,
    pub deleted: bool,
    pub unit_path_before: Option<String>,
    pub unit_path_after: Option<String>,
    pub at: String,
}

#[derive(QueryableByName)]
struct Last {
    #[diesel(sql_type = BigInt)]
    last_position: i64,
}

/// Numbers up to `batch` committed changes that have no position yet, in the order they were
/// written, and returns how many. (`$n` placeholders: PostgreSQL's form, which SQLite reads
/// as named parameters numbered in order of appearance.) Runs in its own (write) transaction. On PostgreSQL a
/// sequencer that finds another at work returns 0 at once instead of waiting for it.
///
/// # Errors
/// Database errors.
pub fn sequence(conn: &mut AnyConnection, batch: i64) -> Result<usize, StoreError> {
    crate::write_transaction(conn, |conn| {
        let locked: Vec<Last> = match conn {
            AnyConnection::Postgresql(_) => diesel::sql_query(
                "SELECT last_position FROM change_sequence WHERE id = 1 FOR UPDATE SKIP LOCKED",
            )
            .load(conn)?,
            // The write transaction holds SQLite's one write lock already.
            AnyConnection::Sqlite(_) => {
                diesel::sql_query("SELECT last_position FROM change_sequence WHERE id = 1")
                    .load(conn)?
            }
        };
        let Some(last) = locked.first().map(|l| l.last_position) else {
            return Ok(0);
        };
        let n = diesel::sql_query(
            "UPDATE changes SET position = numbered.p \
             FROM (SELECT id, $1 + ROW_NUMBER() OVER (ORDER BY id) AS p FROM changes \
                   WHERE position IS NULL ORDER BY id LIMIT $2) AS numbered \
             WHERE changes.id = numbered.id",
        )
        .bind::<BigInt, _>(last)
        .bind::<BigInt, _>(batch)
        .execute(conn)?;
        if n > 0 {
            diesel::sql_query("UPDATE change_sequence SET last_position = $1 WHERE id = 1")
                .bind::<BigInt, _>(last + i64::try_from(n).unwrap_or(i64::MAX))
                .execute(conn)?;
        }
        Ok(n)
    })
}

/// Changes after `after`, in position order.
///
/// # Errors
/// Database errors.
pub fn after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    Ok(changes::table
        .filter(changes::position.gt(after))
        .select(ChangeRow::as_select())
        .order(changes::position.asc())
        .limit(limit)
        .load(conn)?)
}

/// How many changes wait for a position.
///
/// # Errors
/// Database errors.
pub fn unsequenced(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(changes::table
        .filter(changes::position.is_null())
        .count()
        .get_result(conn)?)
}

/// The changes of one record, in the order they were written (tests and operators).
///
/// # Errors
/// Database errors.
pub fn of_entity(conn: &mut AnyConnection, entity_id: &str) -> Result<Vec<ChangeRow>, StoreError> {
    Ok(changes::table
        .filter(changes::entity_id.eq(entity_id))
        .select(ChangeRow::as_select())
        .order(changes::id.asc())
        .load(conn)?)
}

/// The feed's extent: the last position numbered, and the last one pruned (0 if none).
///
/// # Errors
/// Database errors.
pub fn extent(conn: &mut AnyConnection) -> Result<(i64, i64), StoreError> {
    Ok(change_sequence::table
        .find(1)
        .select((
            change_sequence::last_position,
            change_sequence::pruned_through,
        ))
        .first(conn)
        .optional()?
        .unwrap_or((0, 0)))
}

/// The changes of `entities` after position `after`, and those not numbered yet; at most
/// `cap` rows (the caller treats `cap` rows as "too many to tell").
///
/// # Errors
/// Database errors.
pub fn changed_after(
    conn: &mut AnyConnection,
    after: i64,
    entities: &[&str],
    cap: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    // Two statements, not `position > $1 OR position IS NULL`: under a generic plan
    // PostgreSQL answers the OR with a scan of the whole feed; each half has its index.
    let mut rows: Vec<ChangeRow> = changes::table
        .filter(changes::position.gt(after))
        .filter(changes::entity.eq_any(entities))
        .select(ChangeRow::as_select())
        .order(changes::position.asc())
        .limit(cap)
        .load(conn)?;
    let room = cap - i64::try_from(rows.len()).unwrap_or(i64::MAX);
    if room > 0 {
        rows.extend(
            changes::table
                .filter(changes::position.is_null())
                .filter(changes::entity.eq_any(entities))
                .select(ChangeRow::as_select())
                .limit(room)
                .load(conn)?,
        );
    }
    Ok(rows)
}

/// The changes of `entities` after position `after` (and those not numbered yet) in the
/// unit `unit_id` before or after them: what passed through the unit since.
///
/// # Errors
/// Database errors.
pub fn through_unit_after(
    conn: &mut AnyConnection,
    after: i64,
    entities: &[&str],
    unit_id: &str,
) -> Result<Vec<ChangeRow>, StoreError> {
    // Unit ids are UUIDs: nothing in them means anything to LIKE.
    let tail = format!("%/{unit_id}/");
    let mut rows = Vec::new();
    // Numbered after `after`, then not numbered yet (see `changed_after`).
    for numbered in [true, false] {
        let mut q = changes::table
            .filter(changes::entity.eq_any(entities))
            .filter(
                changes::unit_path_before
                    .like(tail.clone())
                    .or(changes::unit_path_after.like(tail.clone())),
            )
            .select(ChangeRow::as_select())
            .into_boxed();
        q = if numbered {
            q.filter(changes::position.gt(after))
        } else {
            q.filter(changes::position.is_null())
        };
        rows.extend(q.load(conn)?);
    }
    Ok(rows)
}

/// Which of these records of `entity` changed after position `after` (or wait for a number).
///
/// # Errors
/// Database errors.
pub fn changed_ids_after(
    conn: &mut AnyConnection,
    after: i64,
    entity: &str,
    ids: &[&str],
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    // In slices: SQLite binds at most 32,766 parameters.
    for part in ids.chunks(10_000) {
        out.extend(
            changes::table
                // By record first (`changes_entity_idx`), then by position.
                .filter(changes::entity_id.eq_any(part))
                .filter(changes::entity.eq(entity))
                .filter(changes::position.gt(after).or(changes::position.is_null()))
                .select(changes::entity_id)
                .distinct()
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}

/// Deletes numbered changes written before `before` (a stored time), keeping at least the
/// last `keep` positions, and records the last position deleted; returns how many went.
///
/// # Errors
/// Database errors.
pub fn prune(conn: &mut AnyConnection, before: &str, keep: i64) -> Result<usize, StoreError> {
    crate::write_transaction(conn, |conn| {
        let (last, pruned) = extent(conn)?;
        let through: Option<i64> = changes::table
            .filter(changes::position.le(last - keep))
            .filter(changes::at.lt(before))
            .select(diesel::dsl::max(changes::position))
            .first(conn)?;
        let Some(through) = through.filter(|t| *t > pruned) else {
            return Ok(0);
        };
        let n =
            diesel::delete(changes::table.filter(changes::position.le(through))).execute(conn)?;
        diesel::update(change_sequence::table.find(1))
            .set(change_sequence::pruned_through.eq(through))
            .execute(conn)?;
        Ok(n)
    })
}
