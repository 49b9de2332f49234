//! Row locks for writes that carry no `If-Match`. Such a write reads the record and then
//! writes it conditionally on the version it read; two of them at once would find that one
//! lost the race. Holding the row before the read makes the second writer wait and then read
//! what the first committed, so writes without `If-Match` queue instead of failing.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{
    calendar_days, departments, households, incident_categories, incidents, residents, users,
};
use diesel::prelude::*;

/// The records whose writers hold their row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    Household,
    Resident,
    User,
    Department,
    Category,
    CalendarDay,
    Incident,
}

/// Holds the row of `id` until the transaction ends (PostgreSQL: `SELECT … FOR UPDATE`). On
/// SQLite a write transaction already holds the one write lock from its start, so there is
/// nothing more to take. A missing row holds nothing; the read that follows reports it.
///
/// # Errors
/// Database errors.
pub fn hold(conn: &mut AnyConnection, record: Locked, id: &str) -> Result<(), StoreError> {
    let AnyConnection::Postgresql(c) = conn else {
        return Ok(());
    };
    let id = id.to_owned();
    match record {
        Locked::Household => households::table
            .find(id)
            .select(households::id)
            .for_update()
            .first::<String>(c)
            .optional()?,
        Locked::Resident => residents::table
            .find(id)
            .select(residents::id)
            .for_update()
            .first::<String>(c)
            .optional()?,
        Locked::User => users::table
            .find(id)
            .select(users::id)
            .for_update()
            .first::<String>(c)
            .optional()?,
        Locked::Department => departments::table
            .find(id)
            .select(departments::id)
            .for_update()
            .first::<String>(c)
            .optional()?,
        Locked::Category => incident_categories::table
            .find(id)
            .select(incident_categories::code)
            .for_update()
            .first::<String>(c)
            .optional()?,
        Locked::Incident => incidents::table
            .find(id)
            .select(incidents::id)
            .for_update()
            .first::<String>(c)
            .optional()?,
        Locked::CalendarDay => calendar_days::table
            .find(id)
            .select(calendar_days::day)
            .for_update()
            .first::<String>(c)
            .optional()?,
    };
    Ok(())
}
