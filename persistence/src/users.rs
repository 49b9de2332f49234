//! Accounts, their unit assignments, and what the scope mechanism needs to know of them.

use crate::Sealed;
use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{departments, refresh_tokens, units, user_assignments, users, visits};
use crate::scoped::{ReachSql, UnitRef, reach_sql, subtrees_sql};
use diesel::prelude::*;
use serde_json::json;
use wangge_domain::{Assignment, Reach, Role, Scope, Username};

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
    pub display_name: String,
    pub phone_cipher: Option<Vec<u8>>,
    pub phone_key_id: Option<String>,
    pub phone_hash: Option<String>,
    pub phone_masked: Option<String>,
    pub department_id: Option<String>,
    pub all_units: bool,
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

/// One assignment with the unit it names.
#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct AssignmentRow {
    #[serde(skip)]
    pub user_id: String,
    pub unit_id: String,
    pub capture: bool,
    pub unit_code: String,
    pub unit_name: String,
    pub unit_level: i32,
    #[serde(skip)]
    pub unit_path: String,
}

impl AssignmentRow {
    #[must_use]
    pub fn to_domain(&self) -> Assignment {
        Assignment {
            unit_path: self.unit_path.clone(),
            capture: self.capture,
        }
    }
}

/// An account with its assignments: everything a body or a scope question needs.
#[derive(Debug, Clone)]
pub struct UserWithUnits {
    pub user: UserRecord,
    pub assignments: Vec<AssignmentRow>,
}

impl UserWithUnits {
    /// The account's scope, for asking the domain what it (or someone about it) may do.
    #[must_use]
    pub fn scope(&self) -> Scope {
        let a: Vec<Assignment> = self
            .assignments
            .iter()
            .map(AssignmentRow::to_domain)
            .collect();
        let id = uuid::Uuid::try_parse(&self.user.id).unwrap_or_default();
        Scope::new(id, self.user.roles(), self.user.all_units, &a)
    }
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        entity: "user",
        id: id.to_owned(),
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

/// A new account. The password is already hashed; the phone already sealed.
pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a Username,
    pub password_hash: &'a str,
    pub roles: &'a [Role],
    pub must_change_password: bool,
    pub display_name: &'a str,
    pub phone: Option<&'a Sealed>,
    pub department_id: Option<&'a str>,
    pub all_units: bool,
}

/// Roles as stored: comma-separated names.
#[must_use]
pub fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn check_department(conn: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    let n: i64 = departments::table.find(id).count().get_result(conn)?;
    if n == 0 {
        return Err(StoreError::Conflict {
            code: "unknown_department",
            message: format!("department {id} does not exist"),
            details: json!({ "department_id": id }),
        });
    }
    Ok(())
}

/// Inserts an account at version 1.
///
/// # Errors
/// `Conflict` (`duplicate_username`, `unknown_department`, `id_taken`).
pub fn insert(
    conn: &mut AnyConnection,
    new: &NewUser<'_>,
    now: &str,
) -> Result<UserRecord, StoreError> {
    if find_by_username(conn, new.username.as_str())?.is_some() {
        return Err(StoreError::Conflict {
            code: "duplicate_username",
            message: format!("user {} exists already", new.username.as_str()),
            details: json!({ "username": new.username.as_str() }),
        });
    }
    if let Some(d) = new.department_id {
        check_department(conn, d)?;
    }
    diesel::insert_into(users::table)
        .values((
            users::id.eq(new.id),
            users::username.eq(new.username.as_str()),
            users::password_hash.eq(new.password_hash),
            users::roles.eq(roles_text(new.roles)),
            users::active.eq(true),
            users::must_change_password.eq(new.must_change_password),
            users::created_at.eq(now),
            users::updated_at.eq(now),
            users::version.eq(1_i64),
            users::display_name.eq(new.display_name),
            users::phone_cipher.eq(new.phone.map(|p| p.cipher.clone())),
            users::phone_key_id.eq(new.phone.map(|p| p.key_id.clone())),
            users::phone_hash.eq(new.phone.map(|p| p.hash.clone())),
            users::phone_masked.eq(new.phone.map(|p| p.masked.clone())),
            users::department_id.eq(new.department_id),
            users::all_units.eq(new.all_units),
        ))
        .execute(conn)?;
    find_by_id(conn, new.id)?.ok_or_else(|| not_found(new.id))
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

type AssignmentColumns = (
    user_assignments::user_id,
    user_assignments::unit_id,
    user_assignments::capture,
    units::code,
    units::name,
    units::level,
    units::path,
);
const ASSIGNMENT_COLUMNS: AssignmentColumns = (
    user_assignments::user_id,
    user_assignments::unit_id,
    user_assignments::capture,
    units::code,
    units::name,
    units::level,
    units::path,
);

/// The assignments of these users, with their units, in unit-code order.
///
/// # Errors
/// Database errors.
pub fn assignments_of(
    conn: &mut AnyConnection,
    user_ids: &[String],
) -> Result<Vec<AssignmentRow>, StoreError> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(user_assignments::table
        .inner_join(units::table)
        .filter(user_assignments::user_id.eq_any(user_ids))
        .select(ASSIGNMENT_COLUMNS)
        .order(units::code.asc())
        .load(conn)?)
}

/// One row per assignment of the account: the account, left-joined to its assignments and
/// their units, with `$extra` as a last column. Two flat LEFT JOINs: SQLite materialised the
/// nested form `LEFT JOIN (user_assignments JOIN units)` whole, a scan of every assignment of
/// every account on every request.
macro_rules! account_rows {
    ($id:expr, $extra:expr) => {
        users::table
            .left_join(user_assignments::table.on(user_assignments::user_id.eq(users::id)))
            .left_join(units::table.on(units::id.eq(user_assignments::unit_id)))
            .filter(users::id.eq($id))
            .select((
                UserRecord::as_select(),
                (user_assignments::unit_id, user_assignments::capture).nullable(),
                (units::code, units::name, units::level, units::path).nullable(),
                $extra,
            ))
            .order(units::code.asc())
    };
}

type AccountRow = (
    UserRecord,
    Option<(String, bool)>,
    Option<(String, String, i32, String)>,
    bool,
);

/// The account and its assignments, or `None`.
///
/// # Errors
/// Database errors.
pub fn with_units(conn: &mut AnyConnection, id: &str) -> Result<Option<UserWithUnits>, StoreError> {
    // One query: every request loads its caller this way.
    let rows: Vec<AccountRow> =
        account_rows!(id, true.into_sql::<diesel::sql_types::Bool>()).load(conn)?;
    Ok(fold_account(rows).map(|(account, _)| account))
}

/// PostgreSQL only: [`with_units`], taking the advisory lock named `lock` without waiting in
/// the same statement (one round trip fewer for every write under an idempotency key); the
/// flag says whether it was taken. The account is read in the snapshot taken just before the
/// lock, which is right: the lock guards the key's row, read afterwards, not the account.
///
/// # Errors
/// Database errors; `Corrupt` on SQLite, which has no advisory locks.
pub fn with_units_locking(
    conn: &mut AnyConnection,
    id: &str,
    lock: &str,
) -> Result<Option<(UserWithUnits, bool)>, StoreError> {
    use crate::{hashtextextended, pg_try_advisory_xact_lock};
    let AnyConnection::Postgresql(c) = conn else {
        return Err(StoreError::Corrupt("advisory locks need PostgreSQL".into()));
    };
    // Taken once per row (an account with several units), by the same transaction: it holds.
    let rows: Vec<AccountRow> =
        account_rows!(id, pg_try_advisory_xact_lock(hashtextextended(lock, 0_i64))).load(c)?;
    Ok(fold_account(rows))
}

/// The account and its assignments from its rows, and the last column of its first row.
fn fold_account(rows: Vec<AccountRow>) -> Option<(UserWithUnits, bool)> {
    let rows = rows.into_iter().map(|(u, a, unit, extra)| {
        let joined = a
            .zip(unit)
            .map(|((unit_id, capture), (code, name, level, path))| {
                (unit_id, capture, code, name, level, path)
            });
        (u, joined, extra)
    });
    let mut rows = rows.into_iter();
    let (user, first, extra) = rows.next()?;
    let assignments = first
        .into_iter()
        .chain(rows.filter_map(|(_, a, _)| a))
        .map(
            |(unit_id, capture, unit_code, unit_name, unit_level, unit_path)| AssignmentRow {
                user_id: user.id.clone(),
                unit_id,
                capture,
                unit_code,
                unit_name,
                unit_level,
                unit_path,
            },
        )
        .collect();
    Some((UserWithUnits { user, assignments }, extra))
}

/// Attaches assignments to a page of accounts with one query.
fn attach(
    conn: &mut AnyConnection,
    rows: Vec<UserRecord>,
) -> Result<Vec<UserWithUnits>, StoreError> {
    let ids: Vec<String> = rows.iter().map(|u| u.id.clone()).collect();
    let mut all = assignments_of(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|user| {
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut all)
                .into_iter()
                .partition(|a| a.user_id == user.id);
            all = rest;
            UserWithUnits {
                user,
                assignments: mine,
            }
        })
        .collect())
}

/// A user is reached when one of their assignments is.
const ASSIGNED_UNIT: UnitRef = UnitRef {
    before: "users.id IN (SELECT user_assignments.user_id FROM user_assignments \
             WHERE user_assignments.unit_id",
    after: ")",
};

/// Filters of the users list.
#[derive(Debug, Default)]
pub struct UserFilter {
    /// Only users assigned somewhere in this subtree (a unit path).
    pub under_path: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// Part of the username or display name.
    pub q: Option<String>,
}

/// One page of the users `reach` covers (users with an assignment inside it; with
/// `Everything`, all users), in id order after the cursor.
///
/// # Errors
/// Database errors.
pub fn list_users(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    filter: &UserFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<UserWithUnits>, StoreError> {
    let mut q = users::table.select(UserRecord::as_select()).into_boxed();
    let under = filter
        .under_path
        .as_ref()
        .map(|p| subtrees_sql::<users::table>(conn, std::slice::from_ref(p)))
        .transpose()?;
    for f in [Some(reach_sql::<users::table>(conn, reach)?), under]
        .into_iter()
        .flatten()
    {
        match f {
            ReachSql::Empty => return Ok(Vec::new()),
            ReachSql::All => {}
            ReachSql::Units(_) => {
                q = q.filter(
                    users::id.eq_any(
                        user_assignments::table
                            .filter(
                                user_assignments::unit_id.eq_any(
                                    f.unit_ids()
                                        .into_iter()
                                        .map(str::to_owned)
                                        .collect::<Vec<_>>(),
                                ),
                            )
                            .select(user_assignments::user_id),
                    ),
                );
            }
            ReachSql::Subtrees(..) => {
                if let Some(c) = f.condition(&ASSIGNED_UNIT) {
                    q = q.filter(c);
                }
            }
        }
    }
    if let Some(r) = filter.role {
        // Roles are stored comma-separated; no role name is a prefix of another's word.
        q = q.filter(
            users::roles
                .eq(r.as_str())
                .or(users::roles.like(format!("{},%", r.as_str())))
                .or(users::roles.like(format!("%,{}", r.as_str())))
                .or(users::roles.like(format!("%,{},%", r.as_str()))),
        );
    }
    if let Some(a) = filter.active {
        q = q.filter(users::active.eq(a));
    }
    if let Some(text) = &filter.q {
        let pattern = crate::grid::like_contains(text);
        q = q.filter(
            users::username
                .like(pattern.clone())
                .escape('\\')
                .or(users::display_name.like(pattern).escape('\\')),
        );
    }
    if let Some(a) = after {
        q = q.filter(users::id.gt(a.to_owned()));
    }
    let rows = q.order(users::id.asc()).limit(limit).load(conn)?;
    attach(conn, rows)
}

/// Active users assigned to any of these units (a unit and its ancestors), in username order.
///
/// # Errors
/// Database errors.
pub fn assigned_to_any(
    conn: &mut AnyConnection,
    unit_ids: &[&str],
) -> Result<Vec<UserWithUnits>, StoreError> {
    let rows = users::table
        .filter(users::active.eq(true))
        .filter(
            users::id.eq_any(
                user_assignments::table
                    .filter(user_assignments::unit_id.eq_any(unit_ids))
                    .select(user_assignments::user_id),
            ),
        )
        .select(UserRecord::as_select())
        .order(users::username.asc())
        .limit(10_000)
        .load(conn)?;
    attach(conn, rows)
}

/// What a change sets on an account; the inner `None` of a nullable column clears it.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub phone_cipher: Option<Option<Vec<u8>>>,
    pub phone_key_id: Option<Option<String>>,
    pub phone_hash: Option<Option<String>>,
    pub phone_masked: Option<Option<String>>,
    /// Comma-separated ([`roles_text`]).
    pub roles: Option<String>,
    pub active: Option<bool>,
    pub department_id: Option<Option<String>>,
    pub all_units: Option<bool>,
    pub password_hash: Option<String>,
    pub must_change_password: Option<bool>,
}

impl UserChanges {
    /// Sets (or with `None` clears) the phone.
    pub fn set_phone(&mut self, v: Option<&Sealed>) {
        self.phone_cipher = Some(v.map(|s| s.cipher.clone()));
        self.phone_key_id = Some(v.map(|s| s.key_id.clone()));
        self.phone_hash = Some(v.map(|s| s.hash.clone()));
        self.phone_masked = Some(v.map(|s| s.masked.clone()));
    }
}

/// Applies `changes` if the account is still at version `expected`, in one statement, and
/// raises the version. False when it is not.
///
/// # Errors
/// `Conflict` (`unknown_department`); database errors.
pub fn update(
    conn: &mut AnyConnection,
    id: &str,
    expected: i64,
    changes: &UserChanges,
    now: &str,
) -> Result<bool, StoreError> {
    if let Some(Some(d)) = &changes.department_id {
        check_department(conn, d)?;
    }
    let n = diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::version.eq(expected)),
    )
    .set((
        changes,
        users::version.eq(users::version + 1),
        users::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Replaces an account's assignments (unit id, capture) if it is still at version
/// `expected`; the version check is the first statement. False when it is not.
///
/// # Errors
/// Database errors.
pub fn set_assignments(
    conn: &mut AnyConnection,
    id: &str,
    expected: i64,
    assignments: &[(String, bool)],
    now: &str,
) -> Result<bool, StoreError> {
    if !update(conn, id, expected, &UserChanges::default(), now)? {
        return Ok(false);
    }
    diesel::delete(user_assignments::table.filter(user_assignments::user_id.eq(id)))
        .execute(conn)?;
    insert_assignments(conn, id, assignments)?;
    Ok(true)
}

/// Adds assignments to a new account (no version change: it is part of creating it).
///
/// # Errors
/// Database errors.
pub fn insert_assignments(
    conn: &mut AnyConnection,
    id: &str,
    assignments: &[(String, bool)],
) -> Result<(), StoreError> {
    for (unit_id, capture) in assignments {
        diesel::insert_into(user_assignments::table)
            .values((
                user_assignments::user_id.eq(id),
                user_assignments::unit_id.eq(unit_id),
                user_assignments::capture.eq(*capture),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// How many visits the account recorded (its history in the registry).
///
/// # Errors
/// Database errors.
pub fn visits_by(conn: &mut AnyConnection, id: &str) -> Result<i64, StoreError> {
    Ok(visits::table
        .filter(visits::visitor_id.eq(id))
        .count()
        .get_result(conn)?)
}

/// Deletes the account if it is still at version `expected`, with its refresh tokens and
/// assignments. False when it is not; the caller's transaction then rolls back what was
/// deleted before the check (the tokens, which reference the account, go first).
///
/// # Errors
/// Database errors.
pub fn delete(conn: &mut AnyConnection, id: &str, expected: i64) -> Result<bool, StoreError> {
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::user_id.eq(id))).execute(conn)?;
    diesel::delete(user_assignments::table.filter(user_assignments::user_id.eq(id)))
        .execute(conn)?;
    let n = diesel::delete(
        users::table
            .filter(users::id.eq(id))
            .filter(users::version.eq(expected)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
