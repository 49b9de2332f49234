//! What every change leaves behind besides the record itself: its history entries, its outbox
//! events and its change-feed rows, and the answer kept under the request's idempotency key;
//! and the records a change creates, when the use case hands them over instead of inserting
//! them itself. The application layer collects them during a use case and writes them here,
//! in the use case's transaction: on PostgreSQL in one statement (one round trip, prepared
//! once per connection for each set of tables it writes), on SQLite a few statements per
//! batch (no round trips to save there).

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::idempotency::{AnsweredKey, insert_answered};
use crate::incidents::{IncidentRecord, Reporter, insert, insert_reporter};
use crate::schema::{changes, history, outbox};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text};
use serde::Serialize;
use std::fmt::Write as _;

/// Rows per INSERT: well under both backends' limits on bound parameters.
const CHUNK: usize = 400;

/// One entry of a record's history: who, when, what changed and why (`details`, JSON).
#[derive(Debug, Clone, Insertable, Queryable, Selectable, Serialize)]
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
#[derive(Debug, Clone, Insertable, Queryable, Selectable, Serialize)]
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
#[derive(Debug, Clone, Insertable, Serialize)]
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

/// A record a change creates, handed to the journal to be written with it: on PostgreSQL
/// that saves the use case a round trip of its own (a keyed report is six round trips, not
/// seven; not eight with a reporter's name or phone). Written in the order given on SQLite;
/// on PostgreSQL in one statement, whose foreign keys are checked at its end.
#[derive(Debug, Clone)]
pub enum Created {
    Incident(Box<IncidentRecord>),
    Reporter(Reporter),
}

/// History, outbox and change-feed rows of one change, the records it creates, and the
/// answer to keep under the request's key, written together. False when the answer's key
/// was committed meanwhile by another request (nothing is stored then: the caller rolls back
/// and looks again).
///
/// # Errors
/// Database errors.
pub fn insert_journal(
    conn: &mut AnyConnection,
    created: &[Created],
    history: &[HistoryRow],
    outbox: &[OutboxRow],
    changes: &[NewChange],
    answer: Option<&AnsweredKey>,
) -> Result<bool, StoreError> {
    if created.is_empty()
        && history.is_empty()
        && outbox.is_empty()
        && changes.is_empty()
        && answer.is_none()
    {
        return Ok(true);
    }
    if let AnyConnection::Postgresql(c) = conn {
        let stored: i64 =
            OneStatement::new(created, history, outbox, changes, answer)?.get_result(c)?;
        return Ok(answer.is_none() || stored == 1);
    }
    for row in created {
        match row {
            Created::Incident(r) => insert(conn, r)?,
            Created::Reporter(r) => insert_reporter(conn, r)?,
        }
    }
    insert_history(conn, history)?;
    insert_outbox(conn, outbox)?;
    insert_changes(conn, changes)?;
    match answer {
        Some(a) => insert_answered(conn, a),
        None => Ok(true),
    }
}

/// The journal on PostgreSQL as one statement: the rows travel as JSON arrays, so the text is
/// the same whatever their number, and the key's answer as plain parameters (its body is
/// bytes). Created records add a clause for their table only when there are some, so most
/// changes run the statement without them. Answers how many answers were stored (0 or 1).
struct OneStatement<'a> {
    incidents: Option<String>,
    reporters: Option<String>,
    history: String,
    outbox: String,
    changes: String,
    answer: AnswerBinds<'a>,
}

/// The answer's columns, each absent when there is no answer (then nothing is inserted).
#[derive(Default)]
struct AnswerBinds<'a> {
    text: [Option<&'a str>; 8],
    status: Option<i32>,
    body: Option<&'a [u8]>,
}

impl<'a> OneStatement<'a> {
    fn new(
        created: &[Created],
        history: &[HistoryRow],
        outbox: &[OutboxRow],
        changes: &[NewChange],
        answer: Option<&'a AnsweredKey>,
    ) -> Result<Self, StoreError> {
        let incidents: Vec<&IncidentRecord> = created
            .iter()
            .filter_map(|c| match c {
                Created::Incident(r) => Some(r.as_ref()),
                Created::Reporter(_) => None,
            })
            .collect();
        let reporters: Vec<ReporterJson<'_>> = created
            .iter()
            .filter_map(|c| match c {
                Created::Reporter(r) => Some(ReporterJson::from(r)),
                Created::Incident(_) => None,
            })
            .collect();
        let some = |rows: String, n: usize| (n > 0).then_some(rows);
        Ok(Self {
            incidents: some(json(&incidents)?, incidents.len()),
            reporters: some(json(&reporters)?, reporters.len()),
            history: json(history)?,
            outbox: json(outbox)?,
            changes: json(changes)?,
            answer: answer.map_or_else(AnswerBinds::default, |a| AnswerBinds {
                text: [
                    Some(&a.account_id),
                    Some(&a.key),
                    Some(&a.request_hash),
                    Some(&a.headers),
                    Some(&a.body_key_id),
                    Some(&a.created_at),
                    Some(&a.expires_at),
                    Some(&a.account_id),
                ]
                .map(|t| t.map(String::as_str)),
                status: Some(a.status),
                body: Some(&a.body),
            }),
        })
    }
}

/// A reporter row as `json_populate_recordset` reads it: bytes in bytea's hex form.
#[derive(Serialize)]
struct ReporterJson<'a> {
    incident_id: &'a str,
    name_cipher: Option<String>,
    name_key_id: Option<&'a str>,
    name_masked: Option<&'a str>,
    phone_cipher: Option<String>,
    phone_key_id: Option<&'a str>,
    phone_masked: Option<&'a str>,
}

impl<'a> From<&'a Reporter> for ReporterJson<'a> {
    fn from(r: &'a Reporter) -> Self {
        let hex = |b: &Option<Vec<u8>>| {
            b.as_ref().map(|b| {
                let mut s = String::with_capacity(2 + 2 * b.len());
                s.push_str("\\x");
                for byte in b {
                    let _ = write!(s, "{byte:02x}");
                }
                s
            })
        };
        Self {
            incident_id: &r.incident_id,
            name_cipher: hex(&r.name_cipher),
            name_key_id: r.name_key_id.as_deref(),
            name_masked: r.name_masked.as_deref(),
            phone_cipher: hex(&r.phone_cipher),
            phone_key_id: r.phone_key_id.as_deref(),
            phone_masked: r.phone_masked.as_deref(),
        }
    }
}

/// The columns of the created records' tables, as their structs name them (a test holds
/// the lists to the structs).
const INCIDENT_COLUMNS: &str = "id, category_code, priority, status, held_from, description, \
    lon, lat, cell, household_id, locality_unit_id, owner_unit_id, department_id, routing_rule, \
    routing_explanation, reporter_id, anonymous, merged_into, extension_pending, register_due, \
    sign_due, close_due, next_due, clock_noted, escalations, satisfied, created_at, updated_at, \
    closed_at, version";
const REPORTER_COLUMNS: &str = "incident_id, name_cipher, name_key_id, name_masked, \
    phone_cipher, phone_key_id, phone_masked";

fn json<T: Serialize>(rows: &[T]) -> Result<String, StoreError> {
    // Strings, numbers and flags only: this cannot fail, but is not assumed not to.
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl QueryId for OneStatement<'_> {
    type QueryId = ();
    // Not static, but one of four texts (created incidents, reporters, both or neither):
    // each prepared once per connection, keyed by its text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for OneStatement<'_> {
    type SqlType = BigInt;
}

impl RunQueryDsl<PgConnection> for OneStatement<'_> {}

impl QueryFragment<Pg> for OneStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        const HISTORY: &str =
            "id, entity, entity_id, at, actor_id, actor_name, kind, version, details";
        const OUTBOX: &str = "id, event_type, aggregate_type, aggregate_id, aggregate_version, \
                              payload, occurred_at, delivered_at";
        const CHANGES: &str =
            "id, entity, entity_id, version, deleted, unit_path_before, unit_path_after, at";
        let a = &self.answer;
        out.push_sql("WITH ");
        for (name, table, columns, rows) in [
            ("i", "incidents", INCIDENT_COLUMNS, &self.incidents),
            ("r", "incident_reporters", REPORTER_COLUMNS, &self.reporters),
        ] {
            if let Some(rows) = rows {
                out.push_sql(&format!(
                    "{name} AS (INSERT INTO {table} ({columns}) SELECT {columns} \
                     FROM json_populate_recordset(NULL::{table}, CAST("
                ));
                out.push_bind_param::<Text, _>(rows)?;
                out.push_sql(" AS json))), ");
            }
        }
        out.push_sql(&format!(
            "h AS (INSERT INTO history ({HISTORY}) SELECT {HISTORY} \
             FROM json_populate_recordset(NULL::history, CAST("
        ));
        out.push_bind_param::<Text, _>(&self.history)?;
        out.push_sql(&format!(
            " AS json))), o AS (INSERT INTO outbox ({OUTBOX}) SELECT {OUTBOX} \
             FROM json_populate_recordset(NULL::outbox, CAST("
        ));
        out.push_bind_param::<Text, _>(&self.outbox)?;
        out.push_sql(&format!(
            " AS json))), c AS (INSERT INTO changes ({CHANGES}) SELECT {CHANGES} \
             FROM json_populate_recordset(NULL::changes, CAST("
        ));
        out.push_bind_param::<Text, _>(&self.changes)?;
        out.push_sql(
            " AS json))), a AS (INSERT INTO idempotency_keys (account_id, key, request_hash, \
             status, headers, body, body_key_id, created_at, expires_at) SELECT ",
        );
        let [
            account,
            key,
            hash,
            headers,
            key_id,
            created,
            expires,
            present,
        ] = &a.text;
        for (i, t) in [account, key, hash].into_iter().enumerate() {
            out.push_sql(if i == 0 { "" } else { ", " });
            out.push_bind_param::<Nullable<Text>, _>(t)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&a.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(headers)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Binary>, _>(&a.body)?;
        for t in [key_id, created, expires] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(t)?;
        }
        out.push_sql(" WHERE ");
        out.push_bind_param::<Nullable<Text>, _>(present)?;
        out.push_sql(" IS NOT NULL ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM a");
        Ok(())
    }
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

/// Whether a record's history mentions `text` (an id) anywhere in its details.
///
/// # Errors
/// Database errors.
pub fn history_mentions(
    conn: &mut AnyConnection,
    entity: &str,
    entity_id: &str,
    text: &str,
) -> Result<bool, StoreError> {
    // Ids are UUIDs: nothing in them means anything to LIKE.
    let n: i64 = history::table
        .filter(history::entity.eq(entity))
        .filter(history::entity_id.eq(entity_id))
        .filter(history::details.like(format!("%{text}%")))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(row: &impl Serialize) -> BTreeSet<String> {
        serde_json::to_value(row)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn listed(columns: &str) -> BTreeSet<String> {
        columns.split(',').map(|c| c.trim().to_owned()).collect()
    }

    #[test]
    fn the_created_records_column_lists_name_every_field_of_their_structs() {
        assert_eq!(listed(INCIDENT_COLUMNS), keys(&IncidentRecord::default()));
        let reporter = Reporter::default();
        assert_eq!(
            listed(REPORTER_COLUMNS),
            keys(&ReporterJson::from(&reporter))
        );
        // Named once each.
        for columns in [INCIDENT_COLUMNS, REPORTER_COLUMNS] {
            assert_eq!(columns.split(',').count(), listed(columns).len());
        }
    }

    #[test]
    fn reporter_bytes_travel_in_byteas_hex_form() {
        let r = Reporter {
            name_cipher: Some(vec![0x0a, 0xff, 0x00]),
            ..Reporter::default()
        };
        let j = serde_json::to_value(ReporterJson::from(&r)).unwrap();
        assert_eq!(j["name_cipher"], "\\x0aff00");
        assert_eq!(j["phone_cipher"], serde_json::Value::Null);
    }
}
