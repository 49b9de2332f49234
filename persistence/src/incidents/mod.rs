//! Incidents and the departments summoned to them. A case's every mutable field is written
//! back whole by one conditional statement (id and version), so a transition is one UPDATE.

mod attachments;
mod list;
mod nearby;
mod summons;

pub use attachments::{Attachment, attach, attachments_of, attachments_of_cases};
pub use list::{IncidentFilter, Viewer, list};
pub use nearby::{NearbyCase, category_and_open_in_box};
pub use summons::{
    Summons, is_summoned, missed_report_ins, note_missed, report_in, summon, summoned, summoned_of,
};

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{incident_measures as measures, incident_reporters as reporters, incidents};
use diesel::prelude::*;

#[derive(Debug, Clone, Default, PartialEq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = incidents, treat_none_as_default_value = false)]
pub struct IncidentRecord {
    pub id: String,
    pub category_code: String,
    pub priority: String,
    pub status: String,
    pub held_from: Option<String>,
    pub description: String,
    pub lon: f64,
    pub lat: f64,
    pub cell: i64,
    pub household_id: Option<String>,
    pub locality_unit_id: String,
    pub owner_unit_id: String,
    pub department_id: Option<String>,
    pub routing_rule: String,
    pub routing_explanation: String,
    pub reporter_id: Option<String>,
    pub anonymous: bool,
    pub merged_into: Option<String>,
    pub extension_pending: bool,
    pub register_due: Option<String>,
    pub sign_due: Option<String>,
    pub close_due: Option<String>,
    pub next_due: Option<String>,
    pub clock_noted: Option<String>,
    pub escalations: i32,
    pub satisfied: Option<bool>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub version: i64,
}

/// What the figures count of a case (see the migration `incident_measures`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = measures, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct Measures {
    pub incident_id: String,
    pub registered_at: Option<String>,
    pub dispatched_at: Option<String>,
    pub signed_at: Option<String>,
    pub sign_seconds: Option<i64>,
    pub due_at: Option<String>,
    pub close_seconds: Option<i64>,
    pub on_time: Option<bool>,
    pub callback_at: Option<String>,
}

/// A reporter's own name and phone, sealed, with their masked forms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = reporters, treat_none_as_default_value = false)]
pub struct Reporter {
    pub incident_id: String,
    pub name_cipher: Option<Vec<u8>>,
    pub name_key_id: Option<String>,
    pub name_masked: Option<String>,
    pub phone_cipher: Option<Vec<u8>>,
    pub phone_key_id: Option<String>,
    pub phone_masked: Option<String>,
}

/// # Errors
/// Database errors.
pub fn insert_reporter(conn: &mut AnyConnection, row: &Reporter) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(reporters::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// The reporter's name and phone given with a case, if any.
///
/// # Errors
/// Database errors.
pub fn reporter_of(conn: &mut AnyConnection, id: &str) -> Result<Option<Reporter>, StoreError> {
    Ok(reporters::table
        .find(id)
        .select(Reporter::as_select())
        .first(conn)
        .optional()?)
}

/// A case's measures (empty before its first measured step).
///
/// # Errors
/// Database errors.
pub fn measures_of(conn: &mut AnyConnection, id: &str) -> Result<Measures, StoreError> {
    Ok(measures::table
        .find(id)
        .select(Measures::as_select())
        .first(conn)
        .optional()?
        .unwrap_or_else(|| Measures {
            incident_id: id.to_owned(),
            ..Measures::default()
        }))
}

/// Writes a case's measures whole.
///
/// # Errors
/// Database errors.
pub fn put_measures(conn: &mut AnyConnection, m: &Measures) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(measures::table)
        .values(m)
        .on_conflict(measures::incident_id)
        .do_update()
        .set(m)
        .execute(c))?;
    Ok(())
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
    Ok(incidents::table
        .find(id)
        .select(IncidentRecord::as_select())
        .first(conn)
        .optional()?)
}

/// The ids of the cases one unit owns (not those below it).
///
/// # Errors
/// Database errors.
pub fn ids_owned_by(conn: &mut AnyConnection, unit_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(incidents::table
        .filter(incidents::owner_unit_id.eq(unit_id))
        .select(incidents::id)
        .load(conn)?)
}

/// These cases (those that exist), in no order.
///
/// # Errors
/// Database errors.
pub fn by_ids(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<IncidentRecord>, StoreError> {
    Ok(incidents::table
        .filter(incidents::id.eq_any(ids))
        .select(IncidentRecord::as_select())
        .load(conn)?)
}

/// The versions of these cases (those that exist).
///
/// # Errors
/// Database errors.
pub fn versions(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(incidents::table
        .filter(incidents::id.eq_any(ids))
        .select((incidents::id, incidents::version))
        .load(conn)?)
}

/// Inserts a new case at version 1.
///
/// # Errors
/// Database errors.
pub fn insert(conn: &mut AnyConnection, row: &IncidentRecord) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(incidents::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// Inserts incidents as they are, many rows a statement (demo and benchmark data).
///
/// # Errors
/// Database errors.
pub fn insert_incidents_bulk(
    conn: &mut AnyConnection,
    rows: &[IncidentRecord],
    measures: &[Measures],
) -> Result<(), StoreError> {
    // Within SQLite's 32,766 bound parameters a statement.
    for chunk in rows.chunks(500) {
        on_backend!(conn, |c| diesel::insert_into(incidents::table)
            .values(chunk)
            .execute(c))?;
    }
    for chunk in measures.chunks(1_000) {
        on_backend!(conn, |c| diesel::insert_into(measures::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// Writes the case back if it is still at version `expected`, as `expected + 1`. False when
/// another write came first.
///
/// # Errors
/// Database errors.
pub fn update(
    conn: &mut AnyConnection,
    expected: i64,
    row: &IncidentRecord,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        incidents::table
            .filter(incidents::id.eq(&row.id))
            .filter(incidents::version.eq(expected)),
    )
    .set((
        incidents::status.eq(&row.status),
        incidents::held_from.eq(&row.held_from),
        incidents::owner_unit_id.eq(&row.owner_unit_id),
        incidents::department_id.eq(&row.department_id),
        incidents::merged_into.eq(&row.merged_into),
        incidents::extension_pending.eq(row.extension_pending),
        incidents::register_due.eq(&row.register_due),
        incidents::sign_due.eq(&row.sign_due),
        incidents::close_due.eq(&row.close_due),
        incidents::next_due.eq(&row.next_due),
        incidents::clock_noted.eq(&row.clock_noted),
        incidents::escalations.eq(row.escalations),
        incidents::satisfied.eq(row.satisfied),
        incidents::updated_at.eq(&row.updated_at),
        incidents::closed_at.eq(&row.closed_at),
        incidents::version.eq(expected + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Up to `limit` cases whose next deadline has passed, earliest first. On PostgreSQL the rows
/// are held (`FOR UPDATE SKIP LOCKED`): another instance's clock skips them and takes the
/// next, so no case is acted on twice; SQLite has one writer at a time anyway.
///
/// # Errors
/// Database errors.
pub fn overdue(
    conn: &mut AnyConnection,
    now: &str,
    limit: i64,
) -> Result<Vec<IncidentRecord>, StoreError> {
    macro_rules! due {
        () => {
            incidents::table
                .filter(incidents::next_due.lt(now.to_owned()))
                .select(IncidentRecord::as_select())
                .order(incidents::next_due.asc())
                .limit(limit)
        };
    }
    Ok(match conn {
        AnyConnection::Postgresql(c) => due!().for_update().skip_locked().load(c)?,
        AnyConnection::Sqlite(c) => due!().load(c)?,
    })
}

/// How many cases refer to the category.
///
/// # Errors
/// Database errors.
pub fn of_category(conn: &mut AnyConnection, code: &str) -> Result<i64, StoreError> {
    Ok(incidents::table
        .filter(incidents::category_code.eq(code))
        .count()
        .get_result(conn)?)
}
