//! Who is calling: users, roles and the password policy.

use crate::unit::ValidationError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Roles a user may hold (see docs/domain.md). What each may do is decided in `scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    CommandCentre,
    SubdistrictOfficer,
    CommunityStaff,
    GridWorker,
    GroupLeader,
    Department,
    Platform,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Admin,
        Role::CommandCentre,
        Role::SubdistrictOfficer,
        Role::CommunityStaff,
        Role::GridWorker,
        Role::GroupLeader,
        Role::Department,
        Role::Platform,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CommandCentre => "command_centre",
            Role::SubdistrictOfficer => "subdistrict_officer",
            Role::CommunityStaff => "community_staff",
            Role::GridWorker => "grid_worker",
            Role::GroupLeader => "group_leader",
            Role::Department => "department",
            Role::Platform => "platform",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ValidationError::new("role", format!("{s:?} is not a role")))
    }
}

/// An authenticated caller, as the access token states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub roles: Vec<Role>,
}

impl Caller {
    #[must_use]
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// May read the grid: every role does (the map of units is administrative information,
    /// not personal data). Changes to the grid are asked of the scope (`Action::ManageGrid`).
    #[must_use]
    pub fn may_read_grid(&self) -> bool {
        !self.roles.is_empty()
    }
}

/// A login name: 3 to 64 characters of ASCII letters, digits, `.`, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// # Errors
    /// When `s` breaks the rule above.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let ok_len = (3..=64).contains(&s.len());
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok_len && ok_chars {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::new(
                "username",
                "must be 3 to 64 characters of letters, digits, '.', '_' or '-'",
            ))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password must have at least 10 characters")]
    TooShort,
    #[error("a password must have at most 256 characters")]
    TooLong,
    #[error("a password must mix at least three of: lower-case, upper-case, digits, symbols")]
    TooFewClasses,
    #[error("the new password must differ from the current one")]
    Unchanged,
}

/// A new password that meets the policy: 10 to 256 characters from at least three of the four
/// character classes. Not `Debug`-printable, so it cannot leak into logs.
pub struct Password(String);

impl Password {
    /// # Errors
    /// When the policy is not met.
    pub fn parse(s: &str) -> Result<Self, PasswordError> {
        let n = s.chars().count();
        if n < 10 {
            return Err(PasswordError::TooShort);
        }
        if n > 256 {
            return Err(PasswordError::TooLong);
        }
        let classes = [
            s.chars().any(|c| c.is_lowercase()),
            s.chars().any(|c| c.is_uppercase()),
            s.chars().any(|c| c.is_ascii_digit()),
            s.chars().any(|c| !c.is_alphanumeric()),
        ];
        if classes.iter().filter(|b| **b).count() < 3 {
            return Err(PasswordError::TooFewClasses);
        }
        Ok(Self(s.to_owned()))
    }

    /// A new password to replace `current`: it meets the policy and differs, so a one-time
    /// or leaked password cannot stay in force by being "changed" to itself.
    ///
    /// # Errors
    /// When the policy is not met, or `new` is `current`.
    pub fn replacing(current: &str, new: &str) -> Result<Self, PasswordError> {
        let parsed = Self::parse(new)?;
        if new == current {
            return Err(PasswordError::Unchanged);
        }
        Ok(parsed)
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Credentials that could belong to an account, worth counting and checking: no account has
/// a longer name or a name with control characters (see [`Username`]), and no policy allows
/// a password over 1 KiB. Refusing the rest at once also keeps NUL bytes away from
/// PostgreSQL, which rejects them.
#[must_use]
pub fn plausible_login(username: &str, password: &str) -> bool {
    username.len() <= 64 && password.len() <= 1024 && !username.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        assert_eq!(Password::parse("Ab1!").err(), Some(PasswordError::TooShort));
        assert_eq!(
            Password::parse("abcdefghijkl").err(),
            Some(PasswordError::TooFewClasses)
        );
        assert!(Password::parse("abcdefgh12!!").is_ok());
        assert!(Password::parse("Abcdefgh1234").is_ok());
        assert_eq!(
            Password::replacing("Abcdefgh1234", "Abcdefgh1234").err(),
            Some(PasswordError::Unchanged)
        );
        assert_eq!(
            Password::replacing("Abcdefgh1234", "short").err(),
            Some(PasswordError::TooShort)
        );
        assert!(Password::replacing("Abcdefgh1234", "Abcdefgh12345").is_ok());
    }

    #[test]
    fn implausible_logins_are_refused_before_any_work() {
        assert!(plausible_login("demo.worker", "anything"));
        assert!(!plausible_login(&"a".repeat(65), "x"));
        assert!(!plausible_login("a\0b", "x"));
        assert!(!plausible_login("admin", &"x".repeat(1025)));
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("admin").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("a b c").is_err());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
    }

    #[test]
    fn every_role_reads_the_grid() {
        let worker = Caller {
            user_id: Uuid::nil(),
            roles: vec![Role::GridWorker],
        };
        let nobody = Caller {
            user_id: Uuid::nil(),
            roles: vec![],
        };
        assert!(worker.may_read_grid());
        assert!(!nobody.may_read_grid());
    }
}
