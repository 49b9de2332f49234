//! Who is acting: an account (over HTTP), the operator at the command line, or a named system
//! actor (the demo seed, background workers). Every use case asks the caller's scope, so a
//! write is checked and recorded the same whichever way it came in.

use crate::error::AppError;
use wangge_domain::{Action, Reach, Role, Scope, UserId};
use wangge_persistence::AnyConnection;
use wangge_persistence::users::{self, UserWithUnits};

/// How a request names its caller, before the account is loaded.
#[derive(Debug, Clone)]
pub enum Who {
    /// A signed-in account, with where the request came from.
    Account {
        id: UserId,
        address: String,
        request_id: Option<String>,
    },
    /// The operator at the command line (`operator:<login name>`): reaches everything.
    Operator { name: String },
    /// The server itself (`system:<what>`): the demo seed, background workers.
    System { name: &'static str },
}

impl Who {
    /// The operator running a command, named by the login name the shell gives.
    #[must_use]
    pub fn operator() -> Self {
        let login = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_owned());
        Self::Operator {
            name: format!("operator:{login}"),
        }
    }

    #[must_use]
    pub fn account_id(&self) -> Option<UserId> {
        match self {
            Self::Account { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// The caller as the audit log and the history name them.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<String>,
    pub name: String,
    pub address: Option<String>,
    pub request_id: Option<String>,
}

/// A loaded caller: who, and what they may do where.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub scope: Scope,
    /// The account, for callers that are one.
    pub account: Option<UserWithUnits>,
}

impl Caller {
    /// Loads the caller: an account's roles and assignments come from the database, not the
    /// token, so a change applies on the next request.
    ///
    /// # Errors
    /// 401 when the account is gone or inactive.
    pub fn load(conn: &mut AnyConnection, who: &Who) -> Result<Self, AppError> {
        match who {
            Who::Account { id, .. } => {
                let account = users::with_units(conn, &id.to_string())?;
                Self::of_account(who, account)
            }
            Who::Operator { name } => Ok(Self::everything(name)),
            Who::System { name } => Ok(Self::everything(&format!("system:{name}"))),
        }
    }

    /// PostgreSQL: [`Caller::load`], taking the idempotency key's advisory lock `lock`
    /// without waiting in the same round trip; true when it was taken.
    ///
    /// # Errors
    /// 401 when the account is gone or inactive; database errors.
    pub fn load_locking(
        conn: &mut AnyConnection,
        who: &Who,
        lock: &str,
    ) -> Result<(Self, bool), AppError> {
        if let Who::Account { id, .. } = who {
            let found = users::with_units_locking(conn, &id.to_string(), lock)?;
            let locked = found.as_ref().is_some_and(|(_, locked)| *locked);
            let caller = Self::of_account(who, found.map(|(account, _)| account))?;
            return Ok((caller, locked));
        }
        let caller = Self::load(conn, who)?;
        Ok((
            caller,
            wangge_persistence::idempotency::try_lock(conn, lock)?,
        ))
    }

    fn of_account(who: &Who, account: Option<UserWithUnits>) -> Result<Self, AppError> {
        let (
            Who::Account {
                address,
                request_id,
                ..
            },
            Some(account),
        ) = (who, account.filter(|a| a.user.active))
        else {
            return Err(AppError::Unauthorized {
                code: "unauthorized",
                message: "the account no longer exists or is inactive".into(),
            });
        };
        Ok(Self {
            actor: Actor {
                id: Some(account.user.id.clone()),
                name: account.user.username.clone(),
                address: Some(address.clone()),
                request_id: request_id.clone(),
            },
            scope: account.scope(),
            account: Some(account),
        })
    }

    /// A caller above the roles: every action, every unit.
    fn everything(name: &str) -> Self {
        Self {
            actor: Actor {
                id: None,
                name: name.to_owned(),
                address: None,
                request_id: None,
            },
            scope: Scope::new(uuid::Uuid::nil(), Role::ALL.to_vec(), true, &[]),
            account: None,
        }
    }

    /// The account id as stored, for accounts.
    #[must_use]
    pub fn account_id(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.user.id.as_str())
    }

    #[must_use]
    pub fn permits(&self, action: Action, unit_path: &str) -> bool {
        self.scope.permits(action, unit_path)
    }

    #[must_use]
    pub fn reach(&self, action: Action) -> Reach<'_> {
        self.scope.reach(action)
    }

    /// 404 unless the caller may take `action` on an object in the unit at `unit_path`:
    /// outside scope an object looks exactly like one that does not exist, so ids cannot be
    /// probed.
    ///
    /// # Errors
    /// 404 as described.
    pub fn check(&self, action: Action, unit_path: &str, what: &str) -> Result<(), AppError> {
        if self.permits(action, unit_path) {
            Ok(())
        } else {
            Err(AppError::not_found(what))
        }
    }

    /// 403 unless the caller may take `action` on an object they have been allowed to see.
    ///
    /// # Errors
    /// 403 as described.
    pub fn require(&self, action: Action, unit_path: &str, what: &str) -> Result<(), AppError> {
        if self.permits(action, unit_path) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "your roles or assignments do not allow this on the {what}"
            )))
        }
    }

    /// 403 unless the action reaches anywhere at all (lists, imports, creates).
    ///
    /// # Errors
    /// 403 with `message`.
    pub fn require_some(&self, action: Action, message: &str) -> Result<(), AppError> {
        if self.reach(action) == Reach::Nothing {
            Err(AppError::forbidden(message))
        } else {
            Ok(())
        }
    }

    /// 403 unless the caller may change the grid at the unit with `unit_path`; `None` is the
    /// top of the grid (a new district, departments, whole-grid imports), where only
    /// administrators who reach every unit work.
    ///
    /// # Errors
    /// 403 as described.
    pub fn require_grid_write(&self, unit_path: Option<&str>) -> Result<(), AppError> {
        let reach = self.reach(Action::ManageGrid);
        let ok = match unit_path {
            None => reach == Reach::Everything,
            Some(p) => reach.contains(p),
        };
        if ok {
            Ok(())
        } else if unit_path.is_none() {
            Err(AppError::forbidden(
                "this change concerns the whole grid: it needs an administrator who reaches every unit",
            ))
        } else {
            Err(AppError::forbidden(
                "changing the grid here needs the admin role with capture scope over the unit",
            ))
        }
    }
}
