//! The caller's scope, loaded once per request from the database, and the audit log's view of
//! the caller. Roles and assignments come from the account, not from the token, so a changed
//! role or a deactivation takes effect on the next request.

use crate::auth::AuthUser;
use crate::error::ApiError;
use wangge_domain::{Action, Reach, Scope};
use wangge_persistence::AnyConnection;
use wangge_persistence::audit::{self, NewAuditEvent};
use wangge_persistence::users::{self, UserWithUnits};

/// The caller's account and scope.
pub struct Access {
    pub account: UserWithUnits,
    pub scope: Scope,
}

/// # Errors
/// 401 when the account is gone or inactive.
pub fn load(conn: &mut AnyConnection, user: &AuthUser) -> Result<Access, ApiError> {
    let account = users::with_units(conn, &user.caller.user_id.to_string())?
        .filter(|a| a.user.active)
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists or is inactive"))?;
    let scope = account.scope();
    Ok(Access { account, scope })
}

impl Access {
    /// 404 unless the caller may take `action` on an object in the unit at `unit_path`:
    /// outside scope, an object looks exactly like one that does not exist, so ids cannot be
    /// probed. `what` names the object in the message.
    ///
    /// # Errors
    /// 404 as described.
    pub fn check(&self, action: Action, unit_path: &str, what: &str) -> Result<(), ApiError> {
        if self.scope.permits(action, unit_path) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("{what} not found")))
        }
    }

    /// 403 unless the caller may take `action` on an object they have already been allowed to
    /// see (through [`Access::check`]): they know it exists, so a 404 would only confuse.
    ///
    /// # Errors
    /// 403 as described.
    pub fn require(&self, action: Action, unit_path: &str, what: &str) -> Result<(), ApiError> {
        if self.scope.permits(action, unit_path) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "your roles or assignments do not allow this on the {what}"
            )))
        }
    }

    /// 403 unless the caller may change the grid at the unit with `unit_path`; `None` is the
    /// top of the grid (a new district, departments, whole-grid imports), where only
    /// administrators who reach every unit work. The grid itself is readable by every role,
    /// so refusing with 403 hides nothing.
    ///
    /// # Errors
    /// 403 as described.
    pub fn require_grid_write(&self, unit_path: Option<&str>) -> Result<(), ApiError> {
        let reach = self.scope.reach(Action::ManageGrid);
        let ok = match unit_path {
            None => reach == Reach::Everything,
            Some(p) => reach.contains(p),
        };
        if ok {
            Ok(())
        } else if unit_path.is_none() {
            Err(ApiError::forbidden(
                "this change concerns the whole grid: it needs an administrator who reaches every unit",
            ))
        } else {
            Err(ApiError::forbidden(
                "changing the grid here needs the admin role with capture scope over the unit",
            ))
        }
    }

    /// An audit event by this caller, from this request.
    #[must_use]
    pub fn event(&self, user: &AuthUser, action: &'static str) -> NewAuditEvent {
        event_by(user, Some(&self.account.user.username), action)
    }
}

/// An audit event by an authenticated caller whose account was not loaded.
#[must_use]
pub fn event_by(user: &AuthUser, username: Option<&str>, action: &'static str) -> NewAuditEvent {
    NewAuditEvent {
        actor_id: Some(user.caller.user_id.to_string()),
        actor_name: username.map(str::to_owned),
        action,
        address: Some(user.address.clone()),
        request_id: user.request_id.clone(),
        ..NewAuditEvent::default()
    }
}

/// Records an event; the audit log is part of the operation, so a failure fails the request.
///
/// # Errors
/// Database errors.
pub fn record(
    conn: &mut AnyConnection,
    e: &NewAuditEvent,
) -> Result<(), wangge_persistence::StoreError> {
    audit::record(conn, e)
}
