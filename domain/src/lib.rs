//! The rules of grid management, free of I/O: typed ids, validated values, the five-level
//! hierarchy, callers and their roles, the scope that decides every object-level question, and
//! the personal data of residents. Everything that comes from outside is parsed into these
//! types at the edge (`parse`/`TryFrom`), so code past the edge cannot hold an invalid value.

pub mod auth;
pub mod department;
pub mod person;
pub mod scope;
pub mod unit;

pub use auth::{Caller, Password, PasswordError, Role, Username};
pub use department::DepartmentCode;
pub use person::{BirthDate, Gender, IdCardNumber, PhoneNumber, Relation, Tag};
pub use scope::{Action, Assignment, Reach, Scope};
pub use unit::{Level, UnitCode, UnitId, UnitName, ValidationError};
