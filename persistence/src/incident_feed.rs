//! What the live stream of incident activity reads: the incident rows of the change feed, the
//! history entries written with them, and who a case concerns now (its departments and its
//! reporter). Reads only; nothing here is written.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::journal::HistoryRow;
use crate::schema::{change_sequence, changes, history, incident_departments, incidents};
use diesel::prelude::*;

/// The position of the last numbered change. Every change at or below it is committed and
/// visible: the sequencer moves it in the transaction that numbers them.
///
/// # Errors
/// Database errors.
pub fn head(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(change_sequence::table
        .filter(change_sequence::id.eq(1))
        .select(change_sequence::last_position)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// Incident changes with a position in `(after, upto]`, in position order, at most `limit`.
///
/// # Errors
/// Database errors.
pub fn changes_between(
    conn: &mut AnyConnection,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<crate::changes::ChangeRow>, StoreError> {
    Ok(changes::table
        .filter(changes::position.gt(after))
        .filter(changes::position.le(upto))
        .filter(changes::entity.eq("incident"))
        .select(crate::changes::ChangeRow::as_select())
        .order(changes::position.asc())
        .limit(limit)
        .load(conn)?)
}

/// The history entries of these cases at these versions, oldest first.
///
/// # Errors
/// Database errors.
pub fn history_at(
    conn: &mut AnyConnection,
    ids: &[String],
    versions: &[i64],
) -> Result<Vec<HistoryRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(history::table
        .filter(history::entity.eq("incident"))
        .filter(history::entity_id.eq_any(ids))
        .filter(history::version.eq_any(versions))
        .select(HistoryRow::as_select())
        .order(history::id.asc())
        .load(conn)?)
}

/// Who a case concerns besides its units, as it stands now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Concerned {
    pub reporter_id: Option<String>,
    /// The department it is dispatched to, then those summoned to it.
    pub departments: Vec<String>,
}

/// [`Concerned`] of each case, by id.
///
/// # Errors
/// Database errors.
pub fn concerned(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Concerned>, StoreError> {
    let mut out = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let cases: Vec<(String, Option<String>, Option<String>)> = incidents::table
        .filter(incidents::id.eq_any(ids))
        .select((
            incidents::id,
            incidents::reporter_id,
            incidents::department_id,
        ))
        .load(conn)?;
    for (id, reporter_id, department) in cases {
        out.insert(
            id,
            Concerned {
                reporter_id,
                departments: department.into_iter().collect(),
            },
        );
    }
    let summoned: Vec<(String, String)> = incident_departments::table
        .filter(incident_departments::incident_id.eq_any(ids))
        .select((
            incident_departments::incident_id,
            incident_departments::department_id,
        ))
        .load(conn)?;
    for (id, department) in summoned {
        out.entry(id).or_default().departments.push(department);
    }
    Ok(out)
}
