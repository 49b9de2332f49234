//! Typed ids, one per entity, so a household id cannot be passed where a user id is wanted.
//!
//! Every id is a UUID; the server makes version 7 ones (they sort by creation time), and a
//! phone that creates a record offline sends its own, which must be version 7 too
//! ([`parse_client`](HouseholdId::parse_client)). Ids are made in the application layer: the
//! domain has no clock.

use crate::unit::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$m:meta])* $name:ident, $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// What the id names, for messages.
            pub const WHAT: &'static str = $what;

            /// Parses the hyphenated form (any UUID version: ids made before v7 stay valid).
            ///
            /// # Errors
            /// When `s` is not a UUID.
            pub fn parse(s: &str) -> Result<Self, ValidationError> {
                Uuid::try_parse(s).map(Self).map_err(|_| {
                    ValidationError::new("id", format!("{s:?} is not a {} id (UUID)", $what))
                })
            }

            /// Parses an id a client made for a record it creates: it must be a UUIDv7, so
            /// ids keep sorting by creation time whoever made them.
            ///
            /// # Errors
            /// When `s` is not a UUID of version 7.
            pub fn parse_client(s: &str) -> Result<Self, ValidationError> {
                let id = Self::parse(s).map_err(|e| ValidationError::new("id", e.reason))?;
                if id.0.get_version_num() == 7 {
                    Ok(id)
                } else {
                    Err(ValidationError::new(
                        "id",
                        format!("{s:?} is not a UUIDv7; make client ids with UUID version 7"),
                    ))
                }
            }

            #[must_use]
            pub fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }

            #[must_use]
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, ValidationError> {
                Self::parse(s)
            }
        }
    };
}

typed_id!(
    /// A grid unit.
    UnitId, "unit"
);
typed_id!(
    /// A household (户).
    HouseholdId, "household"
);
typed_id!(
    /// A resident of a household.
    ResidentId, "resident"
);
typed_id!(
    /// A grid worker's visit (走访).
    VisitId, "visit"
);
typed_id!(
    /// An account.
    UserId, "user"
);
typed_id!(
    /// A functional department (职能部门).
    DepartmentId, "department"
);
typed_id!(
    /// An incident (事件).
    IncidentId, "incident"
);
typed_id!(
    /// A grid worker's patrol (巡查).
    PatrolId, "patrol"
);

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_client_ids_must_be_v7() {
        let v7 = "01900000-0000-7000-8000-000000000001";
        let v4 = "3f2c1b5e-8d3a-4f6b-9c2d-1e0f5a6b7c8d";
        assert!(HouseholdId::parse(v4).is_ok());
        assert!(HouseholdId::parse_client(v7).is_ok());
        let e = HouseholdId::parse_client(v4).expect_err("v4 refused");
        assert_eq!(e.field, "id");
        assert!(e.reason.contains("UUIDv7"), "{}", e.reason);
        assert!(UserId::parse("nope").is_err());
        assert_eq!(UnitId::parse(v7).map(|u| u.to_string()), Ok(v7.to_owned()));
    }
}
