//! Accounts. Issue 2 needs only what login and the bootstrap administrator use.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::users;
use crate::{now_rfc3339, uuid_v7};
use diesel::prelude::*;
use wangge_domain::{Role, Username};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    /// Comma-separated role names.
    pub roles: String,
    pub active: bool,
    pub must_change_password: bool,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl UserRecord {
    /// Roles as stored; unknown names (from a newer version) are skipped.
    #[must_use]
    pub fn roles(&self) -> Vec<Role> {
        self.roles
            .split(',')
            .filter_map(|r| r.parse().ok())
            .collect()
    }
}

/// # Errors
/// Database errors.
pub fn find_by_username(
    conn: &mut AnyConnection,
    username: &str,
) -> Result<Option<UserRecord>, StoreError> {
    Ok(users::table
        .filter(users::username.eq(username))
        .select(UserRecord::as_select())
        .first(conn)
        .optional()?)
}

/// # Errors
/// Database errors.
pub fn count_users(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(users::table.count().get_result(conn)?)
}

/// Creates a user with an already-hashed password.
///
/// # Errors
/// `Conflict` (`duplicate_username`) when the name is taken.
pub fn create_user(
    conn: &mut AnyConnection,
    username: &Username,
    password_hash: &str,
    roles: &[Role],
    must_change_password: bool,
) -> Result<UserRecord, StoreError> {
    if find_by_username(conn, username.as_str())?.is_some() {
        return Err(StoreError::Conflict {
            code: "duplicate_username",
            message: format!("user {} exists already", username.as_str()),
            details: serde_json::Value::Null,
        });
    }
    let id = uuid_v7();
    let now = now_rfc3339();
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::username.eq(username.as_str()),
            users::password_hash.eq(password_hash),
            users::roles.eq(roles.join(",")),
            users::active.eq(true),
            users::must_change_password.eq(must_change_password),
            users::created_at.eq(&now),
            users::updated_at.eq(&now),
            users::version.eq(1_i64),
        ))
        .execute(conn)?;
    find_by_username(conn, username.as_str())?.ok_or(StoreError::NotFound { entity: "user", id })
}

/// # Errors
/// Database errors.
pub fn find_by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<UserRecord>, StoreError> {
    Ok(users::table
        .find(id)
        .select(UserRecord::as_select())
        .first(conn)
        .optional()?)
}

/// Replaces a user's password hash and clears `must_change_password`.
///
/// # Errors
/// `NotFound` for an unknown user.
pub fn set_password(
    conn: &mut AnyConnection,
    id: &str,
    password_hash: &str,
) -> Result<(), StoreError> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(password_hash),
            users::must_change_password.eq(false),
            users::updated_at.eq(now_rfc3339()),
            users::version.eq(users::version + 1),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound {
            entity: "user",
            id: id.to_owned(),
        });
    }
    Ok(())
}
