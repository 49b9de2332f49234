//! Creating an account. The permission check comes first and is cheap; only a checked plan
//! can be hashed (Argon2, tens of milliseconds), so no caller can make the server burn CPU on
//! accounts it may not create.

use super::{
    AssignmentIn, assignments_json, forbidden_grant, readable, record, reload, resolve_assignments,
};
use crate::caller::Caller;
use crate::client_id::{self, Claimed};
use crate::error::AppError;
use crate::password;
use crate::pii::PiiKind;
use crate::tx::{Entity, Tx, new_id};
use crate::versions::Created;
use serde_json::json;
use wangge_domain::{
    Action, DepartmentId, DisplayName, Password, PhoneNumber, Role, UserId, Username, account,
};
use wangge_persistence::AnyConnection;
use wangge_persistence::users::{self as store, NewUser, UserWithUnits};

/// How a new account gets its password.
pub enum InitialPassword {
    /// A one-time password, shown once in the answer; the first login must replace it.
    OneTime,
    /// One the operator chose (the command line).
    Chosen(Password),
    /// None: nobody logs in until an administrator resets it (the demo's workers).
    Unusable,
}

impl std::fmt::Debug for InitialPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OneTime => "OneTime",
            Self::Chosen(_) => "Chosen(***)",
            Self::Unusable => "Unusable",
        })
    }
}

/// An account to create, every field checked.
#[derive(Debug)]
pub struct NewAccount {
    pub id: Option<UserId>,
    pub username: Username,
    pub display_name: DisplayName,
    pub roles: Vec<Role>,
    pub phone: Option<PhoneNumber>,
    pub department_id: Option<DepartmentId>,
    pub all_units: bool,
    pub assignments: Vec<AssignmentIn>,
    pub password: InitialPassword,
}

/// An account the caller may create (checked by [`authorize_create`]), not hashed yet.
#[derive(Debug)]
pub struct CreatePlan {
    new: NewAccount,
}

/// A checked plan with its password hashed: ready for [`create`].
#[derive(Debug)]
pub struct HashedCreate {
    new: NewAccount,
    hash: String,
    one_time_password: Option<String>,
}

impl HashedCreate {
    /// The one-time password to show once, when the account got one.
    #[must_use]
    pub fn one_time_password(&self) -> Option<&str> {
        self.one_time_password.as_deref()
    }
}

fn check(
    conn: &mut AnyConnection,
    caller: &Caller,
    new: &NewAccount,
) -> Result<Vec<(String, bool)>, AppError> {
    caller.require_some(
        Action::ManageUser,
        "creating accounts needs the admin role and a scope",
    )?;
    account::check_department_binding(&new.roles, new.department_id.is_some())?;
    let (unit_ids, assignments) = resolve_assignments(conn, &new.assignments)?;
    if !caller
        .scope
        .may_grant(&new.roles, new.all_units, &assignments)
    {
        return Err(forbidden_grant());
    }
    Ok(unit_ids)
}

/// Checks that the caller may create this account, before anything costly.
///
/// # Errors
/// 403 without the right to manage accounts or to grant these units and roles;
/// `validation_failed` for an unknown unit or an unbound department user.
pub fn authorize_create(
    conn: &mut AnyConnection,
    caller: &Caller,
    new: NewAccount,
) -> Result<CreatePlan, AppError> {
    check(conn, caller, &new)?;
    Ok(CreatePlan { new })
}

impl CreatePlan {
    /// Makes and hashes the password: CPU work, to run off the database threads.
    ///
    /// # Errors
    /// Internal, when hashing fails (it does not for valid inputs).
    pub fn hash(self, hasher: &password::Hasher) -> Result<HashedCreate, AppError> {
        let (hash, one_time_password) = match &self.new.password {
            InitialPassword::OneTime => {
                let p = password::one_time_password();
                (hasher.hash(&p).map_err(AppError::internal)?, Some(p))
            }
            InitialPassword::Chosen(p) => {
                (hasher.hash(p.expose()).map_err(AppError::internal)?, None)
            }
            InitialPassword::Unusable => (password::UNUSABLE_HASH.to_owned(), None),
        };
        Ok(HashedCreate {
            new: self.new,
            hash,
            one_time_password,
        })
    }
}

/// Creates the account (the checks run again, in the transaction).
///
/// # Errors
/// As [`authorize_create`]; `duplicate_username`, `unknown_department`, `id_taken`.
pub fn create(tx: &mut Tx<'_>, plan: &HashedCreate) -> Result<Created<UserWithUnits>, AppError> {
    let new = &plan.new;
    let unit_ids = check(tx.conn, tx.caller, new)?;
    let phone = new
        .phone
        .as_ref()
        .map(|p| tx.svc.pii.seal(PiiKind::Phone, p.expose(), p.masked()));
    let content = json!({
        "username": new.username.as_str(),
        "display_name": new.display_name.as_str(),
        "roles": new.roles,
        "phone": phone.as_ref().map(|p| &p.hash),
        "department_id": new.department_id.map(|d| d.to_string()),
        "all_units": new.all_units,
        "assignments": assignments_json(&unit_ids),
    });
    let id = match new.id {
        Some(id) => {
            if client_id::claim(tx, Entity::User, &id.to_string(), &content)? == Claimed::Again {
                let record = readable(tx.conn, tx.caller, &id.to_string())
                    .map_err(|_| client_id::taken(&id.to_string()))?;
                return Ok(Created {
                    record,
                    again: true,
                });
            }
            id.to_string()
        }
        None => new_id(),
    };
    let department = new.department_id.map(|d| d.to_string());
    let now = tx.now().to_owned();
    store::insert(
        tx.conn,
        &NewUser {
            id: &id,
            username: &new.username,
            password_hash: &plan.hash,
            roles: &new.roles,
            must_change_password: matches!(new.password, InitialPassword::OneTime),
            display_name: new.display_name.as_str(),
            phone: phone.as_ref(),
            department_id: department.as_deref(),
            all_units: new.all_units,
        },
        &now,
    )?;
    store::insert_assignments(tx.conn, &id, &unit_ids)?;
    let u = reload(tx.conn, &id)?;
    record(
        tx,
        &u,
        "user.created",
        "created",
        None,
        false,
        json!({
            "username": u.user.username,
            "roles": new.roles,
            "all_units": new.all_units,
            "assignments": assignments_json(&unit_ids),
        }),
    )?;
    Ok(Created {
        record: u,
        again: false,
    })
}
