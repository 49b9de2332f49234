//! What every change leaves behind besides the record itself: its history entries, its outbox
//! events and its change-feed rows. The application layer collects them during a use case
//! and writes them here, in the use case's transaction, a few statements per batch.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{changes, history, outbox};
use diesel::prelude::*;

/// Rows per INSERT: well under both backends' limits on bound parameters.
const CHUNK: usize = 400;

/// One entry of a record's history: who, when, what changed and why (`details`, JSON).
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = history, treat_none_as_default_value = false)]
pub struct HistoryRow {
    pub id: String,
    pub entity: String,
    pub entity_id: String,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub kind: String,
    pub version: Option<i64>,
    pub details: String,
}

/// An event for subscribers outside: its type, the record it is about (and that record's
/// version after the change), and a payload without personal data.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = outbox, treat_none_as_default_value = false)]
pub struct OutboxRow {
    pub id: String,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub aggregate_version: i64,
    pub payload: String,
    pub occurred_at: String,
    pub delivered_at: Option<String>,
}

/// A change-feed row as written: no position yet (see `changes::sequence`).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = changes, treat_none_as_default_value = false)]
pub struct NewChange {
    pub id: String,
    pub entity: String,
    pub entity_id: String,
    pub version: i64,
    pub deleted: bool,
    pub unit_path_before: Option<String>,
    pub unit_path_after: Option<String>,
    pub at: String,
}

/// History, outbox and change-feed rows of one change, written together.
///
/// # Errors
/// Database errors.
pub fn insert_journal(
    conn: &mut AnyConnection,
    history: &[HistoryRow],
    outbox: &[OutboxRow],
    changes: &[NewChange],
) -> Result<(), StoreError> {
    insert_history(conn, history)?;
    insert_outbox(conn, outbox)?;
    insert_changes(conn, changes)
}

/// # Errors
/// Database errors.
pub fn insert_history(conn: &mut AnyConnection, rows: &[HistoryRow]) -> Result<(), StoreError> {
    if let [one] = rows {
        on_backend!(conn, |c| diesel::insert_into(history::table)
            .values(one)
            .execute(c))?;
        return Ok(());
    }
    for chunk in rows.chunks(CHUNK) {
        on_backend!(conn, |c| diesel::insert_into(history::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// # Errors
/// Database errors.
pub fn insert_outbox(conn: &mut AnyConnection, rows: &[OutboxRow]) -> Result<(), StoreError> {
    if let [one] = rows {
        on_backend!(conn, |c| diesel::insert_into(outbox::table)
            .values(one)
            .execute(c))?;
        return Ok(());
    }
    for chunk in rows.chunks(CHUNK) {
        on_backend!(conn, |c| diesel::insert_into(outbox::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// # Errors
/// Database errors.
pub fn insert_changes(conn: &mut AnyConnection, rows: &[NewChange]) -> Result<(), StoreError> {
    if let [one] = rows {
        on_backend!(conn, |c| diesel::insert_into(changes::table)
            .values(one)
            .execute(c))?;
        return Ok(());
    }
    for chunk in rows.chunks(CHUNK) {
        on_backend!(conn, |c| diesel::insert_into(changes::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// A record's history, oldest first, after the cursor (an entry id).
///
/// # Errors
/// Database errors.
pub fn history_of(
    conn: &mut AnyConnection,
    entity: &str,
    entity_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<HistoryRow>, StoreError> {
    let mut q = history::table
        .filter(history::entity.eq(entity))
        .filter(history::entity_id.eq(entity_id))
        .select(HistoryRow::as_select())
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(history::id.gt(a.to_owned()));
    }
    Ok(q.order(history::id.asc()).limit(limit).load(conn)?)
}

/// Undelivered outbox events per type: (type, count, oldest `occurred_at`).
///
/// # Errors
/// Database errors.
pub fn outbox_status(conn: &mut AnyConnection) -> Result<Vec<(String, i64, String)>, StoreError> {
    let rows: Vec<(String, i64, Option<String>)> = outbox::table
        .filter(outbox::delivered_at.is_null())
        .group_by(outbox::event_type)
        .select((
            outbox::event_type,
            diesel::dsl::count_star(),
            diesel::dsl::min(outbox::occurred_at),
        ))
        .order(outbox::event_type.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(t, n, oldest)| (t, n, oldest.unwrap_or_default()))
        .collect())
}

/// Outbox events about one record, oldest first (tests and operators).
///
/// # Errors
/// Database errors.
pub fn outbox_of(
    conn: &mut AnyConnection,
    aggregate_id: &str,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(outbox::table
        .filter(outbox::aggregate_id.eq(aggregate_id))
        .select(OutboxRow::as_select())
        .order(outbox::id.asc())
        .load(conn)?)
}
