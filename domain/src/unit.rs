//! Grid units: the five levels and the values that describe a unit.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value from outside failed validation; the message says which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: &'static str,
    pub reason: String,
}

impl ValidationError {
    #[must_use]
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// The five levels of the grid, from the district down to the household group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    District = 1,
    Subdistrict = 2,
    Community = 3,
    ResidentGroup = 4,
    HouseholdGroup = 5,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::District,
        Level::Subdistrict,
        Level::Community,
        Level::ResidentGroup,
        Level::HouseholdGroup,
    ];

    /// # Errors
    /// When `n` is not 1 to 5.
    pub fn from_number(n: i64) -> Result<Self, ValidationError> {
        match n {
            1 => Ok(Self::District),
            2 => Ok(Self::Subdistrict),
            3 => Ok(Self::Community),
            4 => Ok(Self::ResidentGroup),
            5 => Ok(Self::HouseholdGroup),
            _ => Err(ValidationError::new(
                "level",
                format!("{n} is not a level (1 district … 5 household_group)"),
            )),
        }
    }

    #[must_use]
    pub fn number(self) -> i16 {
        self as i16
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::District => "district",
            Self::Subdistrict => "subdistrict",
            Self::Community => "community",
            Self::ResidentGroup => "resident_group",
            Self::HouseholdGroup => "household_group",
        }
    }

    /// The level a parent of a unit at this level must have; `None` for the district.
    #[must_use]
    pub fn parent_level(self) -> Option<Level> {
        match self {
            Self::District => None,
            Self::Subdistrict => Some(Self::District),
            Self::Community => Some(Self::Subdistrict),
            Self::ResidentGroup => Some(Self::Community),
            Self::HouseholdGroup => Some(Self::ResidentGroup),
        }
    }

    /// Checks the hierarchy rule: a level-1 unit has no parent; any other unit's parent is one
    /// level above it.
    ///
    /// # Errors
    /// A message fit for the client when the rule is broken.
    pub fn check_parent(self, parent: Option<Level>) -> Result<(), ValidationError> {
        match (self.parent_level(), parent) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(ValidationError::new(
                "parent_id",
                "a district (level 1) has no parent",
            )),
            (Some(want), None) => Err(ValidationError::new(
                "parent_id",
                format!(
                    "a {} (level {}) needs a parent of level {} ({})",
                    self.name(),
                    self.number(),
                    want.number(),
                    want.name()
                ),
            )),
            (Some(want), Some(got)) if want == got => Ok(()),
            (Some(want), Some(got)) => Err(ValidationError::new(
                "parent_id",
                format!(
                    "a {} (level {}) needs a parent of level {} ({}), not level {} ({})",
                    self.name(),
                    self.number(),
                    want.number(),
                    want.name(),
                    got.number(),
                    got.name()
                ),
            )),
        }
    }
}

impl std::str::FromStr for Level {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(n) = s.parse::<i64>() {
            return Self::from_number(n);
        }
        Self::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| ValidationError::new("level", format!("{s:?} is not a level")))
    }
}

/// An administrative code: the national scheme (GB/T 2260 county code, 3-digit township,
/// 3-digit village) extended with 3 digits per lower level. Digits only, so codes sort and
/// compare the way the divisions do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UnitCode(String);

impl UnitCode {
    pub const MAX_LEN: usize = 32;

    /// # Errors
    /// When `s` is empty, longer than 32 characters or holds anything but ASCII digits.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                "code",
                format!("must be 1 to {} digits", Self::MAX_LEN),
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::new(
                "code",
                format!("{s:?} holds a character that is not a digit"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A unit's display name, trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct UnitName(String);

impl UnitName {
    pub const MAX_CHARS: usize = 100;

    /// # Errors
    /// When the trimmed name is empty, too long or holds control characters.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        if t.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "name",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if t.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "must not hold control characters",
            ));
        }
        Ok(Self(t.to_owned()))
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
    fn level_parent_rule() {
        assert!(Level::District.check_parent(None).is_ok());
        assert!(Level::District.check_parent(Some(Level::District)).is_err());
        assert!(
            Level::Community
                .check_parent(Some(Level::Subdistrict))
                .is_ok()
        );
        assert!(
            Level::Community
                .check_parent(Some(Level::District))
                .is_err()
        );
        assert!(Level::HouseholdGroup.check_parent(None).is_err());
    }

    #[test]
    fn level_parses_numbers_and_names() {
        assert_eq!("3".parse::<Level>(), Ok(Level::Community));
        assert_eq!("resident_group".parse::<Level>(), Ok(Level::ResidentGroup));
        assert!("6".parse::<Level>().is_err());
        assert!("town".parse::<Level>().is_err());
    }

    #[test]
    fn codes_are_digits() {
        assert!(UnitCode::parse("440904001").is_ok());
        assert!(UnitCode::parse("").is_err());
        assert!(UnitCode::parse("44a").is_err());
        assert!(UnitCode::parse(&"1".repeat(33)).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            UnitName::parse("  南海街道 ").map(|n| n.as_str().to_owned()),
            Ok("南海街道".to_owned())
        );
        assert!(UnitName::parse("   ").is_err());
        assert!(UnitName::parse("a\u{0}b").is_err());
        assert!(UnitName::parse(&"名".repeat(101)).is_err());
    }
}
