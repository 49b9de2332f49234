//! Incident categories: every signed-in role reads them (a phone needs them to report);
//! administrators who reach every unit change them. A category in use is retired, not deleted.

use crate::error::AppError;
use crate::tx::{Audit, Change, Entity, Tx};
use crate::versions;
use serde::Serialize;
use serde_json::{Value, json};
use wangge_domain::incident::{CategoryCode, CategoryKey, CategoryPolicy, RoutingRule, TimeLimits};
use wangge_domain::unit::Level;
use wangge_domain::{DepartmentId, UnitName};
use wangge_persistence::AnyConnection;
use wangge_persistence::categories::{self as store, CategoryRecord};
use wangge_persistence::departments;
use wangge_persistence::locks::Locked;

const WHAT: &str = "category";

/// A category as the contract shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Category {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_code: Option<String>,
    pub name: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_id: Option<String>,
    pub lowest_level: i32,
    pub routing: String,
    pub time_limits: Value,
    pub retired: bool,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl Category {
    pub(crate) fn from_record(r: CategoryRecord) -> Result<Self, AppError> {
        let time_limits = serde_json::from_str(&r.time_limits)
            .map_err(|e| AppError::internal(format!("category {}: time_limits: {e}", r.code)))?;
        Ok(Self {
            code: r.code,
            parent_code: r.parent_code,
            name: r.name,
            key: r.key,
            department_id: r.department_id,
            lowest_level: r.lowest_level,
            routing: r.routing,
            time_limits,
            retired: r.retired,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }

    /// The policy routing and the clock follow.
    ///
    /// # Errors
    /// Internal, for a stored row that no longer parses.
    pub fn policy(&self) -> Result<CategoryPolicy, AppError> {
        let corrupt =
            |e: &dyn std::fmt::Display| AppError::internal(format!("category {}: {e}", self.code));
        let limits: TimeLimits =
            serde_json::from_value(self.time_limits.clone()).map_err(|e| corrupt(&e))?;
        CategoryPolicy::new(
            Level::from_number(i64::from(self.lowest_level)).map_err(|e| corrupt(&e))?,
            RoutingRule::parse(&self.routing).map_err(|e| corrupt(&e))?,
            self.department_id
                .as_deref()
                .map(DepartmentId::parse)
                .transpose()
                .map_err(|e| corrupt(&e))?,
            limits,
        )
        .map_err(|e| corrupt(&e))
    }
}

/// # Errors
/// 404 for an unknown code.
pub fn get(conn: &mut AnyConnection, code: &CategoryCode) -> Result<Category, AppError> {
    let r = store::get(conn, code.as_str())?.ok_or_else(|| AppError::not_found(WHAT))?;
    Category::from_record(r)
}

/// One page in code order after the cursor (`limit + 1` rows tell whether more follow).
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    after: Option<&CategoryCode>,
    limit: i64,
    with_retired: bool,
) -> Result<Vec<Category>, AppError> {
    store::list(conn, after.map(CategoryCode::as_str), limit, with_retired)?
        .into_iter()
        .map(Category::from_record)
        .collect()
}

/// A category to create, every field parsed.
#[derive(Debug, Clone)]
pub struct NewCategory {
    pub code: CategoryCode,
    pub parent_code: Option<CategoryCode>,
    pub name: UnitName,
    pub key: CategoryKey,
    pub policy: CategoryPolicy,
}

fn record(
    tx: &mut Tx<'_>,
    c: &Category,
    kind: &'static str,
    details: Value,
) -> Result<(), AppError> {
    let event = match kind {
        "created" => "category.created",
        "deleted" => "category.deleted",
        _ => "category.changed",
    };
    tx.history(
        Entity::Category,
        &c.code,
        kind,
        Some(c.version),
        details.clone(),
    )?;
    tx.audit(Audit {
        action: event,
        subject_type: Some(WHAT),
        subject_id: Some(c.code.clone()),
        unit_path: None,
        details,
    })?;
    tx.event(
        event,
        Entity::Category,
        &c.code,
        c.version,
        json!({ "code": c.code, "key": c.key, "retired": c.retired, "version": c.version }),
    )?;
    tx.change(Change {
        entity: Entity::Category,
        id: c.code.clone(),
        version: c.version,
        deleted: kind == "deleted",
        unit_path_before: None,
        unit_path_after: None,
    })
}

/// The department a category names must exist.
fn check_department(tx: &mut Tx<'_>, policy: &CategoryPolicy) -> Result<(), AppError> {
    if let Some(d) = &policy.department
        && departments::get(tx.conn, &d.to_string())?.is_none()
    {
        return Err(AppError::field("department_id", "names no department"));
    }
    Ok(())
}

fn row(
    code: &str,
    parent: Option<String>,
    name: &str,
    key: &str,
    p: &CategoryPolicy,
) -> Result<CategoryRecord, AppError> {
    Ok(CategoryRecord {
        code: code.to_owned(),
        parent_code: parent,
        name: name.to_owned(),
        key: key.to_owned(),
        department_id: p.department.map(|d| d.to_string()),
        lowest_level: i32::from(p.lowest_level.number()),
        routing: p.routing.as_str().to_owned(),
        time_limits: serde_json::to_string(&p.limits).map_err(AppError::internal)?,
        retired: false,
        created_at: String::new(),
        updated_at: String::new(),
        version: 1,
    })
}

/// Creates a category.
///
/// # Errors
/// 403 unless the caller administers the whole grid; `validation_failed` for a code that does
/// not fit under its parent, an unknown parent or department; `duplicate_code`, `duplicate_key`.
pub fn create(tx: &mut Tx<'_>, new: &NewCategory) -> Result<Category, AppError> {
    tx.caller.require_grid_write(None)?;
    new.code.check_place(new.parent_code.as_ref())?;
    if let Some(p) = &new.parent_code
        && store::get(tx.conn, p.as_str())?.is_none()
    {
        return Err(AppError::field("parent_code", "names no category"));
    }
    check_department(tx, &new.policy)?;
    let mut r = row(
        new.code.as_str(),
        new.parent_code.as_ref().map(|p| p.as_str().to_owned()),
        new.name.as_str(),
        new.key.as_str(),
        &new.policy,
    )?;
    let now = tx.now().to_owned();
    r.created_at.clone_from(&now);
    r.updated_at = now;
    store::insert(tx.conn, &r)?;
    let c = Category::from_record(r)?;
    let details = json!({ "name": c.name, "key": c.key, "parent_code": c.parent_code,
        "department_id": c.department_id, "lowest_level": c.lowest_level,
        "routing": c.routing, "time_limits": c.time_limits });
    record(tx, &c, "created", details)?;
    Ok(c)
}

/// What a change may set; `None` leaves a field alone (`department`: `Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct CategoryPatch {
    pub name: Option<UnitName>,
    pub key: Option<CategoryKey>,
    pub department: Option<Option<DepartmentId>>,
    pub lowest_level: Option<Level>,
    pub routing: Option<RoutingRule>,
    pub time_limits: Option<TimeLimits>,
    pub retired: Option<bool>,
}

/// Changes a category; the policy is checked whole after the change.
///
/// # Errors
/// 403, 404, `validation_failed`, `duplicate_key`, `VersionMismatch`.
pub fn update(
    tx: &mut Tx<'_>,
    code: &CategoryCode,
    if_match: Option<i64>,
    patch: &CategoryPatch,
) -> Result<Category, AppError> {
    tx.caller.require_grid_write(None)?;
    versions::hold_unless_matched(tx, Locked::Category, code.as_str(), if_match)?;
    let current = get(tx.conn, code)?;
    let version = versions::expect(current.version, if_match)?;
    let old = current.policy()?;
    let policy = CategoryPolicy::new(
        patch.lowest_level.unwrap_or(old.lowest_level),
        patch.routing.unwrap_or(old.routing),
        patch.department.unwrap_or(old.department),
        patch.time_limits.unwrap_or(old.limits),
    )?;
    check_department(tx, &policy)?;
    let mut r = row(
        &current.code,
        current.parent_code.clone(),
        patch
            .name
            .as_ref()
            .map_or(current.name.as_str(), UnitName::as_str),
        patch
            .key
            .as_ref()
            .map_or(current.key.as_str(), CategoryKey::as_str),
        &policy,
    )?;
    r.retired = patch.retired.unwrap_or(current.retired);
    r.created_at.clone_from(&current.created_at);
    r.updated_at = tx.now().to_owned();
    r.version = version + 1;
    if !store::update(tx.conn, version, &r)? {
        let now_version = store::get(tx.conn, code.as_str())?.map(|c| c.version);
        return Err(versions::lost(if_match, now_version, WHAT));
    }
    let c = Category::from_record(r)?;
    let changed = diff(&current, &c);
    let fields: Vec<&str> = changed.keys().map(String::as_str).collect();
    let details = json!({ "fields": fields, "from": changed.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect::<serde_json::Map<_, _>>(),
        "to": changed.iter().map(|(k, v)| (k.clone(), v.1.clone())).collect::<serde_json::Map<_, _>>() });
    record(tx, &c, "updated", details)?;
    Ok(c)
}

/// The fields that differ, each with its old and new value.
fn diff(a: &Category, b: &Category) -> std::collections::BTreeMap<String, (Value, Value)> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return std::collections::BTreeMap::new();
    };
    [
        "name",
        "key",
        "department_id",
        "lowest_level",
        "routing",
        "time_limits",
        "retired",
    ]
    .into_iter()
    .filter_map(|k| {
        let (x, y) = (
            a.get(k).cloned().unwrap_or(Value::Null),
            b.get(k).cloned().unwrap_or(Value::Null),
        );
        (x != y).then(|| (k.to_owned(), (x, y)))
    })
    .collect()
}

/// Deletes a category nothing refers to.
///
/// # Errors
/// 403, 404, `category_in_use` (retire it instead), `VersionMismatch`.
pub fn delete(tx: &mut Tx<'_>, code: &CategoryCode, if_match: Option<i64>) -> Result<(), AppError> {
    tx.caller.require_grid_write(None)?;
    versions::hold_unless_matched(tx, Locked::Category, code.as_str(), if_match)?;
    let current = get(tx.conn, code)?;
    let version = versions::expect(current.version, if_match)?;
    let children = store::children(tx.conn, code.as_str())?;
    let cases = wangge_persistence::incidents::of_category(tx.conn, code.as_str())?;
    if children + cases > 0 {
        return Err(AppError::conflict(
            "category_in_use",
            format!(
                "category {} has {children} sub-categories and {cases} incidents; retire it \
                 (PATCH retired: true) instead",
                current.code
            ),
            json!({ "children": children, "incidents": cases }),
        ));
    }
    if !store::delete(tx.conn, code.as_str(), version)? {
        let now_version = store::get(tx.conn, code.as_str())?.map(|c| c.version);
        return Err(versions::lost(if_match, now_version, WHAT));
    }
    let gone = Category {
        version: current.version + 1,
        ..current
    };
    record(
        tx,
        &gone,
        "deleted",
        json!({ "name": gone.name, "key": gone.key }),
    )
}
