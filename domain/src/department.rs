//! Functional departments (职能部门).

use crate::unit::ValidationError;
use serde::Serialize;

/// A department's stable key: 2 to 32 of `a-z`, `0-9`, `_`, starting with a letter
/// (`housing`, `urban_management`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DepartmentCode(String);

impl DepartmentCode {
    /// # Errors
    /// When `s` breaks the rule above.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let ok = (2..=32).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::new(
                "code",
                "must be 2 to 32 of a-z, 0-9 and _, starting with a letter",
            ))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn department_codes() {
        assert!(DepartmentCode::parse("housing").is_ok());
        assert!(DepartmentCode::parse("market_regulation2").is_ok());
        assert!(DepartmentCode::parse("2fast").is_err());
        assert!(DepartmentCode::parse("Police").is_err());
        assert!(DepartmentCode::parse("a").is_err());
        assert!(DepartmentCode::parse("a-b").is_err());
    }
}
