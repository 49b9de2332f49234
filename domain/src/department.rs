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
        crate::text::snake_key("code", s, 32).map(Self)
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
