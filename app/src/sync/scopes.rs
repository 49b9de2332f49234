//! What a phone's downloaded copy stands for: the account's scope, named by a tag that every
//! sync cursor carries. When an administrator changes the account's roles, units or
//! department, the scope it had is kept (`sync_scopes`), so the phone's next sync can say
//! what left its scope and what entered it instead of starting over.

use crate::error::AppError;
use serde::{Deserialize, Serialize};
use wangge_domain::{Assignment, Role, Scope, UnitId};
use wangge_persistence::grid;
use wangge_persistence::users::UserWithUnits;
use wangge_persistence::{AnyConnection, StoreError, sync_scopes};

/// The parts of an account a phone's copy depends on. Units by id, not path: moving a unit
/// keeps the same records in the scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeKey {
    roles: Vec<String>,
    all_units: bool,
    department_id: Option<String>,
    /// `(unit id, capture)`, by unit id.
    units: Vec<(String, bool)>,
}

impl ScopeKey {
    #[must_use]
    pub fn of(u: &UserWithUnits) -> Self {
        let mut roles: Vec<String> = u
            .user
            .roles()
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        roles.sort_unstable();
        let mut units: Vec<(String, bool)> = u
            .assignments
            .iter()
            .map(|a| (a.unit_id.clone(), a.capture))
            .collect();
        units.sort_unstable();
        Self {
            roles,
            all_units: u.user.all_units,
            department_id: u.user.department_id.clone(),
            units,
        }
    }

    fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Sixteen hex digits of the SHA-256 of the description: short for a cursor, and a phone
    /// meets few scopes in its life.
    #[must_use]
    pub fn tag(&self) -> String {
        let mut t = crate::blobs::sha256_hex(self.text().as_bytes());
        t.truncate(16);
        t
    }

    /// The department whose cases the scope sees: its id, for an account with the
    /// `department` role.
    #[must_use]
    pub fn department_seen(&self) -> Option<&str> {
        self.department_id
            .as_deref()
            .filter(|_| self.roles.iter().any(|r| r == Role::Department.as_str()))
    }

    /// The scope as the domain asks it, with each unit where it is now (a unit deleted since
    /// reaches nothing).
    ///
    /// # Errors
    /// Database errors.
    pub fn to_scope(&self, conn: &mut AnyConnection, user_id: &str) -> Result<Scope, AppError> {
        let mut assignments = Vec::with_capacity(self.units.len());
        for (id, capture) in &self.units {
            match grid::get_unit(conn, UnitId::parse(id)?) {
                Ok(u) => assignments.push(Assignment {
                    unit_path: u.path,
                    capture: *capture,
                }),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let roles: Vec<Role> = self.roles.iter().filter_map(|r| r.parse().ok()).collect();
        let id = uuid::Uuid::try_parse(user_id).unwrap_or_default();
        Ok(Scope::new(id, roles, self.all_units, &assignments))
    }
}

/// The tag of the caller's scope; callers without an account (the operator, the server)
/// reach everything and share one.
#[must_use]
pub fn tag_of(account: Option<&UserWithUnits>) -> String {
    account.map_or_else(|| "0".repeat(16), |a| ScopeKey::of(a).tag())
}

/// Keeps both scopes of an account change when they differ, so a cursor issued under the
/// one before can be read after it.
///
/// # Errors
/// Database errors.
pub fn keep_change(
    conn: &mut AnyConnection,
    before: &UserWithUnits,
    after: &UserWithUnits,
    now: &str,
) -> Result<(), AppError> {
    let (b, a) = (ScopeKey::of(before), ScopeKey::of(after));
    if b != a {
        for k in [b, a] {
            sync_scopes::keep(conn, &after.user.id, &k.tag(), &k.text(), now)?;
        }
    }
    Ok(())
}

/// The scope an account had under `tag`, if it was kept.
///
/// # Errors
/// Database errors; a kept description that no longer reads is as good as none.
pub fn recall(
    conn: &mut AnyConnection,
    user_id: &str,
    tag: &str,
) -> Result<Option<ScopeKey>, AppError> {
    Ok(sync_scopes::get(conn, user_id, tag)?.and_then(|s| serde_json::from_str(&s).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(units: &[(&str, bool)]) -> ScopeKey {
        ScopeKey {
            roles: vec!["grid_worker".into()],
            all_units: false,
            department_id: None,
            units: units.iter().map(|(u, c)| ((*u).to_owned(), *c)).collect(),
        }
    }

    #[test]
    fn a_tag_is_sixteen_hex_digits_and_differs_with_the_units() {
        let a = key(&[("a", true)]).tag();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, key(&[("a", true)]).tag());
        assert_ne!(a, key(&[("a", false)]).tag());
        assert_ne!(a, key(&[("b", true)]).tag());
    }
}
