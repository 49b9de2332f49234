//! Reading accounts: the scoped list, one account, its history, and who works a unit.

use super::readable;
use crate::error::AppError;
use crate::tx::{Entity, Reader};
use wangge_domain::{Action, Reach, Role, SearchText, UnitId, UserId};
use wangge_persistence::journal::{self, HistoryRow};
use wangge_persistence::users::{self as store, AssignmentRow, UserFilter, UserWithUnits};

/// The users list's filters and page.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub unit: Option<UnitId>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub text: Option<SearchText>,
    pub after: Option<UserId>,
    pub limit: i64,
}

/// The accounts the caller reaches (those with an assignment inside its scope).
///
/// # Errors
/// 403 for roles that do not read accounts; 404 for an unknown unit.
pub fn list(r: &mut Reader<'_>, q: ListQuery) -> Result<Vec<UserWithUnits>, AppError> {
    let reach = r.caller.reach(Action::ReadUser);
    if reach == Reach::Nothing {
        return Err(AppError::forbidden("reading accounts needs the admin role"));
    }
    let under_path = match q.unit {
        Some(id) => Some(crate::units::get(r.conn, id)?.path),
        None => None,
    };
    let filter = UserFilter {
        under_path,
        role: q.role,
        active: q.active,
        q: q.text.map(|t| t.as_str().to_owned()),
    };
    Ok(store::list_users(
        r.conn,
        reach,
        &filter,
        q.after.map(|a| a.to_string()).as_deref(),
        q.limit,
    )?)
}

/// One account, if the caller may read it.
///
/// # Errors
/// 404 otherwise.
pub fn get(r: &mut Reader<'_>, id: UserId) -> Result<UserWithUnits, AppError> {
    readable(r.conn, &r.caller, &id.to_string())
}

/// What happened to an account, oldest first.
///
/// # Errors
/// 404 unless the caller may read the account.
pub fn history(
    r: &mut Reader<'_>,
    id: UserId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<HistoryRow>, AppError> {
    readable(r.conn, &r.caller, &id.to_string())?;
    Ok(journal::history_of(
        r.conn,
        Entity::User.as_str(),
        &id.to_string(),
        after,
        limit,
    )?)
}

/// An account serving a unit, through the assignment nearest to it.
pub struct UnitWorker {
    pub account: UserWithUnits,
    pub assignment: AssignmentRow,
    /// Assigned above the unit rather than to it.
    pub inherited: bool,
}

/// Who works a unit: the active accounts assigned to it or to any unit above it (a grid
/// worker of a resident group also serves its household groups), nearest first.
///
/// # Errors
/// 404 for an unknown unit or one outside the caller's view scope.
pub fn unit_workers(
    r: &mut Reader<'_>,
    unit_id: UnitId,
) -> Result<(String, Vec<UnitWorker>), AppError> {
    let unit = crate::units::get(r.conn, unit_id)?;
    r.caller
        .check(Action::ReadUnitWorkers, &unit.path, "unit")?;
    let chain = unit.path_ids();
    let rows = store::assigned_to_any(r.conn, &chain)?;
    let mut items: Vec<(usize, UnitWorker)> = Vec::new();
    for account in rows {
        // The assignment nearest to the unit says how the account serves it.
        let Some((depth, a)) = account
            .assignments
            .iter()
            .filter_map(|a| {
                chain
                    .iter()
                    .position(|c| *c == a.unit_id)
                    .map(|d| (d, a.clone()))
            })
            .max_by_key(|(d, _)| *d)
        else {
            continue;
        };
        let inherited = a.unit_id != unit.id;
        items.push((
            depth,
            UnitWorker {
                account,
                assignment: a,
                inherited,
            },
        ));
    }
    items.sort_by_key(|(d, _)| std::cmp::Reverse(*d));
    Ok((unit.id.clone(), items.into_iter().map(|(_, w)| w).collect()))
}
