//! Incident categories: a two-level tree (GB/T 30428.2's event classes and the grid's own),
//! each carrying the policy cases of it follow: the lowest grid level that may own one,
//! whether it routes by place (属地) or to its department (属主), and its time limits.

use super::{Priority, Stage};
use crate::calendar::TimeLimit;
use crate::ids::DepartmentId;
use crate::unit::{Level, ValidationError};
use serde::{Deserialize, Serialize};

/// A category's code: 2 to 12 digits (`01` a class, `0101` one of its leaves).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CategoryCode(String);

impl CategoryCode {
    /// # Errors
    /// `code` when `s` is not 2 to 12 ASCII digits.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if (2..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::new("code", "must be 2 to 12 digits"))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this code fits its place in the two-level tree: a class (no parent) has two
    /// digits; a leaf extends its parent's code, which must be a class.
    ///
    /// # Errors
    /// `code` or `parent_code`, saying which rule is broken.
    pub fn check_place(&self, parent: Option<&Self>) -> Result<(), ValidationError> {
        match parent {
            None if self.0.len() == 2 => Ok(()),
            None => Err(ValidationError::new(
                "code",
                "a top-level category (no parent_code) has a two-digit code",
            )),
            Some(p) if p.0.len() != 2 => Err(ValidationError::new(
                "parent_code",
                "categories have two levels: a parent must be a top-level category",
            )),
            Some(p) if self.0.len() > 2 && self.0.starts_with(&p.0) => Ok(()),
            Some(p) => Err(ValidationError::new(
                "code",
                format!("a leaf's code extends its parent's ({}…)", p.0),
            )),
        }
    }
}

/// A category's English key, stable for clients: 2 to 48 of `a-z`, `0-9`, `_`, starting with a
/// letter (`illegal_construction`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CategoryKey(String);

impl CategoryKey {
    /// # Errors
    /// `key` when `s` breaks the rule above.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        crate::text::snake_key("key", s, 48).map(Self)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a case of a category goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingRule {
    /// 属地: the unit whose area holds the place.
    Locality,
    /// 属主: the category's department (public assets answer to their owner), with the
    /// place's unit as the locality.
    Owner,
}

impl RoutingRule {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Locality => "locality",
            Self::Owner => "owner",
        }
    }

    /// # Errors
    /// `routing` for anything but `locality` or `owner`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "locality" => Ok(Self::Locality),
            "owner" => Ok(Self::Owner),
            _ => Err(ValidationError::new(
                "routing",
                format!("{s:?} is not locality or owner"),
            )),
        }
    }
}

/// The limits of one priority: to register a case, to sign for it once dispatched, to close
/// it once dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageLimits {
    pub register: TimeLimit,
    pub sign: TimeLimit,
    pub close: TimeLimit,
}

impl StageLimits {
    #[must_use]
    pub fn of(&self, stage: Stage) -> TimeLimit {
        match stage {
            Stage::Register => self.register,
            Stage::Sign => self.sign,
            Stage::Close => self.close,
        }
    }

    fn checked(self, priority: Priority) -> Result<Self, ValidationError> {
        let field = |stage: Stage| -> &'static str {
            // Static names, so the error can say which limit is wrong.
            match (priority, stage) {
                (Priority::Urgent, Stage::Register) => "time_limits.urgent.register",
                (Priority::Urgent, Stage::Sign) => "time_limits.urgent.sign",
                (Priority::Urgent, Stage::Close) => "time_limits.urgent.close",
                (Priority::Normal, Stage::Register) => "time_limits.normal.register",
                (Priority::Normal, Stage::Sign) => "time_limits.normal.sign",
                (Priority::Normal, Stage::Close) => "time_limits.normal.close",
                (Priority::Complex, Stage::Register) => "time_limits.complex.register",
                (Priority::Complex, Stage::Sign) => "time_limits.complex.sign",
                (Priority::Complex, Stage::Close) => "time_limits.complex.close",
            }
        };
        Ok(Self {
            register: self.register.checked(field(Stage::Register))?,
            sign: self.sign.checked(field(Stage::Sign))?,
            close: self.close.checked(field(Stage::Close))?,
        })
    }
}

/// Limits per priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeLimits {
    pub urgent: StageLimits,
    pub normal: StageLimits,
    pub complex: StageLimits,
}

impl TimeLimits {
    /// Every limit from 1 to a year.
    ///
    /// # Errors
    /// The first limit out of range, named by its path (`time_limits.normal.close`).
    pub fn checked(self) -> Result<Self, ValidationError> {
        Ok(Self {
            urgent: self.urgent.checked(Priority::Urgent)?,
            normal: self.normal.checked(Priority::Normal)?,
            complex: self.complex.checked(Priority::Complex)?,
        })
    }

    #[must_use]
    pub fn of(&self, priority: Priority) -> &StageLimits {
        match priority {
            Priority::Urgent => &self.urgent,
            Priority::Normal => &self.normal,
            Priority::Complex => &self.complex,
        }
    }
}

/// What routing and the clock need to know of a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryPolicy {
    /// The lowest (deepest) level that may own a case of this category; deeper units hand
    /// it up at once.
    pub lowest_level: Level,
    pub routing: RoutingRule,
    pub department: Option<DepartmentId>,
    pub limits: TimeLimits,
}

impl CategoryPolicy {
    /// A policy whose parts agree: an owner-routed category names its department.
    ///
    /// # Errors
    /// `department_id` for an owner-routed category without one; a limit out of range.
    pub fn new(
        lowest_level: Level,
        routing: RoutingRule,
        department: Option<DepartmentId>,
        limits: TimeLimits,
    ) -> Result<Self, ValidationError> {
        if routing == RoutingRule::Owner && department.is_none() {
            return Err(ValidationError::new(
                "department_id",
                "a category routed to its owner (routing: owner) must name its department",
            ));
        }
        Ok(Self {
            lowest_level,
            routing,
            department,
            limits: limits.checked()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(close: TimeLimit) -> TimeLimits {
        let s = StageLimits {
            register: TimeLimit::Hours(2),
            sign: TimeLimit::Hours(4),
            close,
        };
        TimeLimits {
            urgent: s,
            normal: s,
            complex: s,
        }
    }

    #[test]
    fn codes_and_keys() {
        assert!(CategoryCode::parse("01").is_ok());
        assert!(CategoryCode::parse("0101").is_ok());
        assert!(CategoryCode::parse("1").is_err());
        assert!(CategoryCode::parse("01a").is_err());
        assert!(CategoryKey::parse("illegal_construction").is_ok());
        assert!(CategoryKey::parse("Illegal").is_err());
        assert_eq!(RoutingRule::parse("owner"), Ok(RoutingRule::Owner));
    }

    #[test]
    fn a_code_fits_its_place_in_the_two_level_tree() {
        let c = |s: &str| CategoryCode::parse(s).unwrap_or_else(|_| unreachable!());
        assert_eq!(c("01").check_place(None), Ok(()));
        assert_eq!(c("0101").check_place(Some(&c("01"))), Ok(()));
        let field = |r: Result<(), ValidationError>| r.map_err(|e| e.field);
        assert_eq!(field(c("0101").check_place(None)), Err("code"));
        assert_eq!(field(c("0201").check_place(Some(&c("01")))), Err("code"));
        assert_eq!(field(c("01").check_place(Some(&c("01")))), Err("code"));
        assert_eq!(
            field(c("010101").check_place(Some(&c("0101")))),
            Err("parent_code")
        );
    }

    #[test]
    fn an_owner_routed_category_needs_its_department_and_limits_are_checked() {
        let l = limits(TimeLimit::WorkingDays(5));
        let e = CategoryPolicy::new(Level::Community, RoutingRule::Owner, None, l);
        assert_eq!(e.map_err(|e| e.field), Err("department_id"));
        assert!(CategoryPolicy::new(Level::Community, RoutingRule::Locality, None, l).is_ok());
        let bad = limits(TimeLimit::WorkingDays(0));
        let e = CategoryPolicy::new(Level::Community, RoutingRule::Locality, None, bad);
        assert_eq!(e.map_err(|e| e.field), Err("time_limits.urgent.close"));
        assert_eq!(
            l.of(Priority::Normal).of(Stage::Close),
            TimeLimit::WorkingDays(5)
        );
    }
}
