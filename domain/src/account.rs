//! Account policies: what makes a set of roles valid and who must be bound to a department.
//! Who may grant what is the scope's question (`Scope::may_grant`).

use crate::auth::Role;
use crate::unit::ValidationError;

/// Roles of an account: at least one, each known, in a canonical order without repeats.
///
/// # Errors
/// `roles` for an unknown name or an empty list.
pub fn parse_roles<S: AsRef<str>>(names: &[S]) -> Result<Vec<Role>, ValidationError> {
    let mut roles = names
        .iter()
        .map(|n| {
            n.as_ref().parse::<Role>().map_err(|_| {
                ValidationError::new("roles", format!("{:?} is not a role", n.as_ref()))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    roles.sort_by_key(|r| r.as_str());
    roles.dedup();
    if roles.is_empty() {
        return Err(ValidationError::new("roles", "give at least one role"));
    }
    Ok(roles)
}

/// Department users act on the cases dispatched to their department, so they must be bound
/// to one.
///
/// # Errors
/// `department_id` when a department user has none.
pub fn check_department_binding(roles: &[Role], bound: bool) -> Result<(), ValidationError> {
    if roles.contains(&Role::Department) && !bound {
        return Err(ValidationError::new(
            "department_id",
            "a department user must be bound to a department",
        ));
    }
    Ok(())
}

/// A change to an account that alters what it may do (roles, reach, or deactivation) ends
/// its sessions, so no token issued under the old grant outlives it.
#[must_use]
pub fn change_ends_sessions(roles_changed: bool, reach_changed: bool, deactivated: bool) -> bool {
    roles_changed || reach_changed || deactivated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_known_sorted_and_not_empty() {
        assert_eq!(
            parse_roles(&["grid_worker", "admin", "grid_worker"]),
            Ok(vec![Role::Admin, Role::GridWorker])
        );
        assert!(parse_roles::<&str>(&[]).is_err());
        assert_eq!(parse_roles(&["boss"]).map_err(|e| e.field), Err("roles"));
    }

    #[test]
    fn department_users_need_a_department() {
        assert!(check_department_binding(&[Role::Department], false).is_err());
        assert!(check_department_binding(&[Role::Department], true).is_ok());
        assert!(check_department_binding(&[Role::GridWorker], false).is_ok());
        assert!(change_ends_sessions(false, false, true));
        assert!(!change_ends_sessions(false, false, false));
    }
}
