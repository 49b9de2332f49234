//! Where a household belongs: in the deepest unit covering its location (located), or in a
//! unit staff name with a reason where an address does not follow the geometry (override).
//! Located households follow coverage when it changes hands; overridden ones stay.

use crate::ids::UnitId;
use crate::scope::Action;
use crate::text::UnitReason;
use crate::unit::ValidationError;

/// How a new or moved household is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The deepest unit covering the location.
    Located,
    /// The unit staff named, and why.
    Override { unit: UnitId, reason: UnitReason },
}

impl Placement {
    /// From a request's `unit_id` and `unit_reason`: both or neither.
    ///
    /// # Errors
    /// One without the other, a malformed unit id, or a reason breaking its limits.
    pub fn parse(unit_id: Option<&str>, reason: Option<&str>) -> Result<Self, ValidationError> {
        match (unit_id, reason) {
            (None, None) => Ok(Self::Located),
            (Some(u), Some(r)) => Ok(Self::Override {
                unit: UnitId::parse(u)
                    .map_err(|_| ValidationError::new("unit_id", "is not a UUID"))?,
                reason: UnitReason::parse(r)?,
            }),
            (Some(_), None) => Err(ValidationError::new(
                "unit_reason",
                "placing a household in another unit than its location's needs a reason",
            )),
            (None, Some(_)) => Err(ValidationError::new(
                "unit_id",
                "a reason goes with a unit_id",
            )),
        }
    }

    /// What the caller must be allowed to do in the target unit.
    #[must_use]
    pub fn action(&self) -> Action {
        match self {
            Self::Located => Action::WriteHousehold,
            Self::Override { .. } => Action::OverrideHouseholdUnit,
        }
    }

    /// The stored reason: `None` for a located household.
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Located => None,
            Self::Override { reason, .. } => Some(reason.as_str()),
        }
    }
}

/// What a change does to a household's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// It stays in its unit.
    Stay,
    /// It goes to the unit covering its new location (and loses any override).
    Relocate,
    /// Staff place it in a named unit.
    Place { unit: UnitId, reason: UnitReason },
}

impl Replacement {
    /// A change of location moves a household to the unit covering the new point, unless
    /// staff name a unit at the same time; naming a unit needs a reason either way.
    #[must_use]
    pub fn of_change(location_changed: bool, placement: Placement) -> Self {
        match placement {
            Placement::Override { unit, reason } => Self::Place { unit, reason },
            Placement::Located if location_changed => Self::Relocate,
            Placement::Located => Self::Stay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "01900000-0000-7000-8000-000000000001";

    #[test]
    fn a_unit_needs_a_reason_and_a_reason_a_unit() {
        assert_eq!(Placement::parse(None, None), Ok(Placement::Located));
        assert_eq!(
            Placement::parse(Some(UNIT), None).map_err(|e| e.field),
            Err("unit_reason")
        );
        assert_eq!(
            Placement::parse(None, Some("why")).map_err(|e| e.field),
            Err("unit_id")
        );
        assert_eq!(
            Placement::parse(Some("x"), Some("why")).map_err(|e| e.field),
            Err("unit_id")
        );
        let p = Placement::parse(Some(UNIT), Some("按户籍")).map(|p| p.action());
        assert_eq!(p, Ok(Action::OverrideHouseholdUnit));
        assert_eq!(Placement::Located.action(), Action::WriteHousehold);
    }

    #[test]
    fn a_new_location_relocates_unless_staff_place_it() {
        assert_eq!(
            Replacement::of_change(true, Placement::Located),
            Replacement::Relocate
        );
        assert_eq!(
            Replacement::of_change(false, Placement::Located),
            Replacement::Stay
        );
        let named = Placement::parse(Some(UNIT), Some("按户籍")).unwrap_or(Placement::Located);
        assert!(matches!(
            Replacement::of_change(true, named),
            Replacement::Place { .. }
        ));
    }
}
