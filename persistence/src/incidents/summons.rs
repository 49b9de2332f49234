//! The departments summoned to a case (吹哨报到) and their reporting in.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::incident_departments as summons;
use diesel::prelude::*;

/// A department summoned to a case.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = summons, treat_none_as_default_value = false)]
pub struct Summons {
    pub incident_id: String,
    pub department_id: String,
    pub summoned_at: String,
    pub report_in_due: String,
    pub reported_in_at: Option<String>,
    pub missed_at: Option<String>,
}

/// The departments summoned to a case, in the order summoned.
///
/// # Errors
/// Database errors.
pub fn summoned(conn: &mut AnyConnection, id: &str) -> Result<Vec<Summons>, StoreError> {
    Ok(summons::table
        .filter(summons::incident_id.eq(id))
        .select(Summons::as_select())
        .order((summons::summoned_at.asc(), summons::department_id.asc()))
        .load(conn)?)
}

/// The departments summoned to these cases, each case's in the order summoned.
///
/// # Errors
/// Database errors.
pub fn summoned_of(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<Summons>, StoreError> {
    Ok(summons::table
        .filter(summons::incident_id.eq_any(ids))
        .select(Summons::as_select())
        .order((
            summons::incident_id.asc(),
            summons::summoned_at.asc(),
            summons::department_id.asc(),
        ))
        .load(conn)?)
}

/// Summons departments (one already summoned is left as it is).
///
/// # Errors
/// Database errors.
pub fn summon(conn: &mut AnyConnection, rows: &[Summons]) -> Result<(), StoreError> {
    for row in rows {
        on_backend!(conn, |c| diesel::insert_into(summons::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(())
}

/// Up to `limit` summonses whose report-in deadline passed unanswered and unnoticed, held
/// like [`overdue`] so one clock takes each.
///
/// # Errors
/// Database errors.
pub fn missed_report_ins(
    conn: &mut AnyConnection,
    now: &str,
    limit: i64,
) -> Result<Vec<Summons>, StoreError> {
    macro_rules! missed {
        () => {
            summons::table
                .filter(summons::report_in_due.lt(now.to_owned()))
                .filter(summons::reported_in_at.is_null())
                .filter(summons::missed_at.is_null())
                .select(Summons::as_select())
                .order(summons::report_in_due.asc())
                .limit(limit)
        };
    }
    Ok(match conn {
        AnyConnection::Postgresql(c) => missed!().for_update().skip_locked().load(c)?,
        AnyConnection::Sqlite(c) => missed!().load(c)?,
    })
}

/// Notes that a summons' report-in was missed; false when someone noted it first.
///
/// # Errors
/// Database errors.
pub fn note_missed(
    conn: &mut AnyConnection,
    id: &str,
    department_id: &str,
    at: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        summons::table
            .filter(summons::incident_id.eq(id))
            .filter(summons::department_id.eq(department_id))
            .filter(summons::missed_at.is_null())
            .filter(summons::reported_in_at.is_null()),
    )
    .set(summons::missed_at.eq(at))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records that a summoned department reported in.
///
/// # Errors
/// Database errors.
pub fn report_in(
    conn: &mut AnyConnection,
    id: &str,
    department_id: &str,
    at: &str,
) -> Result<(), StoreError> {
    diesel::update(
        summons::table
            .filter(summons::incident_id.eq(id))
            .filter(summons::department_id.eq(department_id))
            .filter(summons::reported_in_at.is_null()),
    )
    .set(summons::reported_in_at.eq(at))
    .execute(conn)?;
    Ok(())
}

/// Whether a department was summoned to the case.
///
/// # Errors
/// Database errors.
pub fn is_summoned(
    conn: &mut AnyConnection,
    id: &str,
    department_id: &str,
) -> Result<bool, StoreError> {
    Ok(summons::table
        .filter(summons::incident_id.eq(id))
        .filter(summons::department_id.eq(department_id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}
