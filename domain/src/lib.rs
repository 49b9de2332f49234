//! The rules of grid management, free of I/O: typed ids, validated values, the five-level
//! hierarchy, callers and their roles, the scope that decides every object-level question, and
//! the personal data of residents. Everything that comes from outside is parsed into these
//! types at the edge (`parse`/`TryFrom`), so code past the edge cannot hold an invalid value.

pub mod account;
pub mod auth;
pub mod calendar;
pub mod department;
pub mod ids;
pub mod incident;
pub mod instant;
pub mod patrol;
pub mod person;
pub mod placement;
pub mod resident;
pub mod scope;
pub mod session;
pub mod text;
pub mod unit;
pub mod visit;

pub use auth::{Caller, Password, PasswordError, Role, Username};
pub use department::DepartmentCode;
pub use ids::{
    DepartmentId, HouseholdId, IncidentId, PatrolId, ResidentId, UnitId, UserId, VisitId,
};
pub use person::{BirthDate, Gender, IdCardNumber, PhoneNumber, Relation, Tag};
pub use placement::{Placement, Replacement};
pub use resident::{Identity, IdentityPatch, NewResident};
pub use scope::{Action, Assignment, Reach, Scope};
pub use text::{
    Address, CaseNote, Description, DisplayName, Notes, PersonName, SearchText, UnitReason,
};
pub use unit::{Level, UnitCode, UnitName, ValidationError};
