//! Grid units and their coverage. Every write that could break the tree's spatial invariants
//! (a child inside its parent, siblings disjoint) goes through [`set_coverage`] or
//! [`update_unit`], which check them inside the caller's transaction.

mod coverage;
mod import;

pub use coverage::*;
pub use import::*;

use coverage::{bump_generation, check_against_parent_and_siblings, load_coverage, lock_grid};

use crate::check_version;
use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{unit_coverage, units};
use diesel::prelude::*;
use serde_json::json;
use wangge_domain::{Level, UnitCode, UnitId, UnitName, ValidationError};
use wangge_geo::Resolution;

/// How many offending cells an error body shows.
const SAMPLE_CELLS: usize = 10;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = units)]
pub struct UnitRecord {
    pub id: String,
    pub code: String,
    pub name: String,
    pub level: i32,
    pub parent_id: Option<String>,
    pub path: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl UnitRecord {
    /// # Errors
    /// When a stored level is out of range (a corrupt row).
    pub fn level(&self) -> Result<Level, StoreError> {
        Level::from_number(i64::from(self.level)).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn unit_id(&self) -> Result<UnitId, StoreError> {
        UnitId::parse(&self.id).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Ids from the root down to this unit, read from the materialised path.
    #[must_use]
    pub fn path_ids(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

#[derive(Insertable)]
#[diesel(table_name = units)]
struct NewUnitRow<'a> {
    id: &'a str,
    code: &'a str,
    name: &'a str,
    level: i32,
    parent_id: Option<&'a str>,
    path: &'a str,
    created_at: &'a str,
    updated_at: &'a str,
    version: i64,
}

/// A new unit, already validated field by field.
#[derive(Debug, Clone)]
pub struct NewUnit {
    pub code: UnitCode,
    pub name: UnitName,
    pub level: Level,
    pub parent_id: Option<UnitId>,
}

/// Filters for listing units; all optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct UnitFilter {
    pub parent_id: Option<UnitId>,
    pub level: Option<Level>,
    pub code: Option<UnitCode>,
    /// Part of the name.
    pub q: Option<String>,
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        entity: "unit",
        id: id.to_owned(),
    }
}

/// These units (those that exist), in no order.
///
/// # Errors
/// Database errors.
pub fn units_by_ids(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<UnitRecord>, StoreError> {
    Ok(units::table
        .filter(units::id.eq_any(ids))
        .select(UnitRecord::as_select())
        .load(conn)?)
}

/// # Errors
/// `NotFound` when no unit has this id.
pub fn get_unit(conn: &mut AnyConnection, id: UnitId) -> Result<UnitRecord, StoreError> {
    let key = id.to_string();
    units::table
        .find(&key)
        .select(UnitRecord::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(&key))
}

/// # Errors
/// Database errors.
pub fn find_by_code(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<UnitRecord>, StoreError> {
    Ok(units::table
        .filter(units::code.eq(code))
        .select(UnitRecord::as_select())
        .first(conn)
        .optional()?)
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQL `lower()`: LIKE ignores ASCII case on SQLite but not on PostgreSQL; lowering both
    /// sides makes the name search behave the same on both.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Escapes LIKE wildcards so user text matches literally.
pub(crate) fn like_contains(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// One page of units in id order (creation order), after the cursor.
///
/// # Errors
/// Database errors.
pub fn list_units(
    conn: &mut AnyConnection,
    filter: &UnitFilter,
    after: Option<UnitId>,
    limit: i64,
) -> Result<Vec<UnitRecord>, StoreError> {
    let mut q = units::table.select(UnitRecord::as_select()).into_boxed();
    if let Some(p) = filter.parent_id {
        q = q.filter(units::parent_id.eq(p.to_string()));
    }
    if let Some(l) = filter.level {
        q = q.filter(units::level.eq(i32::from(l.number())));
    }
    if let Some(c) = &filter.code {
        q = q.filter(units::code.eq(c.as_str().to_owned()));
    }
    if let Some(text) = &filter.q {
        q = q.filter(
            lower(units::name)
                .like(like_contains(&text.to_lowercase()))
                .escape('\\'),
        );
    }
    if let Some(a) = after {
        q = q.filter(units::id.gt(a.to_string()));
    }
    Ok(q.order(units::id.asc()).limit(limit).load(conn)?)
}

/// Units inside these subtrees (unit paths; every unit with `None`), in id order after
/// `after`: one index range per subtree, merged.
///
/// # Errors
/// Database errors.
pub fn units_within(
    conn: &mut AnyConnection,
    paths: Option<&[String]>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<UnitRecord>, StoreError> {
    let page = |conn: &mut AnyConnection, path: Option<&str>| {
        let mut q = units::table.select(UnitRecord::as_select()).into_boxed();
        if let Some(p) = path {
            q = q.filter(crate::scoped::UnitInSubtree::units(p));
        }
        if let Some(a) = after {
            q = q.filter(units::id.gt(a.to_owned()));
        }
        q.order(units::id.asc()).limit(limit).load(conn)
    };
    let Some(paths) = paths else {
        return Ok(page(conn, None)?);
    };
    let mut all = Vec::new();
    for p in paths {
        all.extend(page(conn, Some(p))?);
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all.dedup_by(|a, b| a.id == b.id);
    all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(all)
}

/// The unit's ancestors, nearest first, up to the district.
///
/// # Errors
/// Database errors.
pub fn ancestors(
    conn: &mut AnyConnection,
    unit: &UnitRecord,
) -> Result<Vec<UnitRecord>, StoreError> {
    let ids: Vec<&str> = unit
        .path_ids()
        .into_iter()
        .filter(|id| *id != unit.id)
        .collect();
    let mut found: Vec<UnitRecord> = units::table
        .filter(units::id.eq_any(ids))
        .select(UnitRecord::as_select())
        .load(conn)?;
    found.sort_by_key(|u| std::cmp::Reverse(u.level));
    Ok(found)
}

/// All units of the subtree rooted at `root`, root first, parents before children.
///
/// # Errors
/// Database errors.
pub fn subtree(conn: &mut AnyConnection, root: &UnitRecord) -> Result<Vec<UnitRecord>, StoreError> {
    let mut all: Vec<UnitRecord> = units::table
        .filter(units::path.like(format!("{}%", root.path)))
        .select(UnitRecord::as_select())
        .load(conn)?;
    all.sort_by(|a, b| a.level.cmp(&b.level).then_with(|| a.code.cmp(&b.code)));
    Ok(all)
}

/// All units, parents before children.
///
/// # Errors
/// Database errors.
pub fn all_units(conn: &mut AnyConnection) -> Result<Vec<UnitRecord>, StoreError> {
    Ok(units::table
        .select(UnitRecord::as_select())
        .order((units::level.asc(), units::code.asc()))
        .load(conn)?)
}

/// # Errors
/// Database errors.
pub fn count_units(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(units::table.count().get_result(conn)?)
}

fn check_parent(
    conn: &mut AnyConnection,
    level: Level,
    parent_id: Option<UnitId>,
) -> Result<Option<UnitRecord>, StoreError> {
    let parent = match parent_id {
        Some(pid) => Some(get_unit(conn, pid).map_err(|e| match e {
            StoreError::NotFound { .. } => StoreError::Invalid(ValidationError::new(
                "parent_id",
                format!("no unit has id {pid}"),
            )),
            other => other,
        })?),
        None => None,
    };
    let parent_level = parent.as_ref().map(UnitRecord::level).transpose()?;
    level.check_parent(parent_level)?;
    Ok(parent)
}

fn code_taken(code: &str) -> StoreError {
    StoreError::Conflict {
        code: "duplicate_code",
        message: format!("a unit with code {code} exists already"),
        details: json!({ "unit_code": code }),
    }
}

/// Creates a unit without coverage, with the given id. The parent must exist and sit one
/// level up; codes are unique.
///
/// # Errors
/// `Invalid` for a parent that breaks the level rule, `Conflict` for a taken code or id.
pub fn create_unit(
    conn: &mut AnyConnection,
    id: &str,
    new: &NewUnit,
    now: &str,
) -> Result<UnitRecord, StoreError> {
    lock_grid(conn)?;
    let parent = check_parent(conn, new.level, new.parent_id)?;
    if find_by_code(conn, new.code.as_str())?.is_some() {
        return Err(code_taken(new.code.as_str()));
    }
    let path = match &parent {
        Some(p) => format!("{}{id}/", p.path),
        None => format!("/{id}/"),
    };
    let parent_id = new.parent_id.map(|p| p.to_string());
    diesel::insert_into(units::table)
        .values(NewUnitRow {
            id,
            code: new.code.as_str(),
            name: new.name.as_str(),
            level: i32::from(new.level.number()),
            parent_id: parent_id.as_deref(),
            path: &path,
            created_at: now,
            updated_at: now,
            version: 1,
        })
        .execute(conn)?;
    get_unit(conn, UnitId::parse(id)?)
}

/// Changes to a unit. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UnitPatch {
    pub code: Option<UnitCode>,
    pub name: Option<UnitName>,
    /// Moving: the new parent, which must sit at the same level as the old one.
    pub parent_id: Option<UnitId>,
}

/// Raises a unit's version if it is still `expected`, setting `changes` in the same
/// statement: the grid lock serialises grid writers, and the condition holds the rule that
/// every versioned write is conditional.
fn update_if_version(
    conn: &mut AnyConnection,
    id: &str,
    expected: i64,
    changes: &UnitChanges,
    now: &str,
) -> Result<(), StoreError> {
    let n = diesel::update(
        units::table
            .filter(units::id.eq(id))
            .filter(units::version.eq(expected)),
    )
    .set((
        changes,
        units::version.eq(units::version + 1),
        units::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        let current = get_unit(conn, UnitId::parse(id)?)?.version;
        Err(StoreError::VersionMismatch { expected, current })
    }
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = units)]
struct UnitChanges {
    code: Option<String>,
    name: Option<String>,
    parent_id: Option<String>,
}

/// A unit whose path changed because it or an ancestor moved.
#[derive(Debug, Clone)]
pub struct Repathed {
    pub id: String,
    pub version: i64,
    pub path_before: String,
    pub path_after: String,
}

/// What a unit update did.
#[derive(Debug, Clone)]
pub struct UnitUpdate {
    pub before: UnitRecord,
    pub after: UnitRecord,
    /// Descendants whose paths followed a move (not the unit itself).
    pub descendants_moved: Vec<Repathed>,
}

/// Renames, recodes or moves a unit. A move keeps the tree consistent: the new parent must be
/// one level up, the unit's coverage must lie inside the new parent's and not overlap its new
/// siblings, and the paths of the whole subtree follow.
///
/// # Errors
/// `VersionMismatch`, `Invalid`, `Conflict` as described.
pub fn update_unit(
    conn: &mut AnyConnection,
    id: UnitId,
    patch: &UnitPatch,
    expected_version: Option<i64>,
    leaf: Resolution,
    now: &str,
) -> Result<UnitUpdate, StoreError> {
    lock_grid(conn)?;
    let unit = get_unit(conn, id)?;
    check_version(unit.version, expected_version)?;
    let mut changes = UnitChanges::default();
    if let Some(code) = patch.code.as_ref().filter(|c| c.as_str() != unit.code) {
        if find_by_code(conn, code.as_str())?.is_some() {
            return Err(code_taken(code.as_str()));
        }
        changes.code = Some(code.as_str().to_owned());
    }
    if let Some(name) = &patch.name {
        changes.name = Some(name.as_str().to_owned());
    }
    let moving = patch
        .parent_id
        .filter(|p| unit.parent_id.as_deref() != Some(p.to_string().as_str()));
    let mut descendants_moved = Vec::new();
    if let Some(new_parent_id) = moving {
        let level = unit.level()?;
        let parent = check_parent(conn, level, Some(new_parent_id))?
            .ok_or_else(|| StoreError::Corrupt("parent vanished".into()))?;
        if let Some(cov) = load_coverage(conn, &unit.id, leaf)? {
            check_against_parent_and_siblings(conn, &unit, &parent, &cov, leaf)?;
        }
        changes.parent_id = Some(parent.id.clone());
        let new_path = format!("{}{}/", parent.path, unit.id);
        descendants_moved = move_subtree(conn, &unit, &new_path)?;
    }
    update_if_version(conn, &unit.id, unit.version, &changes, now)?;
    // Names, codes and parents are part of the locate snapshot: every change moves the
    // generation so that every instance rebuilds.
    bump_generation(conn)?;
    let after = get_unit(conn, id)?;
    Ok(UnitUpdate {
        before: unit,
        after,
        descendants_moved,
    })
}

/// Rewrites the path prefix of the unit and every descendant; returns the descendants.
fn move_subtree(
    conn: &mut AnyConnection,
    unit: &UnitRecord,
    new_path: &str,
) -> Result<Vec<Repathed>, StoreError> {
    // A subtree holds at most a few thousand units, so doing it row by row keeps the SQL
    // portable.
    let rows: Vec<(String, String, i64)> = units::table
        .filter(units::path.like(format!("{}%", unit.path)))
        .select((units::id, units::path, units::version))
        .load(conn)?;
    let mut moved = Vec::new();
    for (rid, rpath, version) in rows {
        let rest = rpath.get(unit.path.len()..).unwrap_or_default();
        let path_after = format!("{new_path}{rest}");
        diesel::update(units::table.find(&rid))
            .set(units::path.eq(&path_after))
            .execute(conn)?;
        if rid != unit.id {
            moved.push(Repathed {
                id: rid,
                version,
                path_before: rpath,
                path_after,
            });
        }
    }
    Ok(moved)
}

/// Deletes a unit that has no children. Its coverage goes with it.
///
/// # Errors
/// `Conflict` (`unit_has_children`) when it has children; `VersionMismatch`.
pub fn delete_unit(
    conn: &mut AnyConnection,
    id: UnitId,
    expected_version: Option<i64>,
) -> Result<UnitRecord, StoreError> {
    lock_grid(conn)?;
    let unit = get_unit(conn, id)?;
    check_version(unit.version, expected_version)?;
    let children: i64 = units::table
        .filter(units::parent_id.eq(&unit.id))
        .count()
        .get_result(conn)?;
    if children > 0 {
        return Err(StoreError::Conflict {
            code: "unit_has_children",
            message: format!(
                "unit {} ({}) has {children} child unit(s); delete or move them first",
                unit.code, unit.name
            ),
            details: json!({ "children": children }),
        });
    }
    let assigned: i64 = crate::schema::user_assignments::table
        .filter(crate::schema::user_assignments::unit_id.eq(&unit.id))
        .count()
        .get_result(conn)?;
    let households: i64 = crate::schema::households::table
        .filter(crate::schema::households::unit_id.eq(&unit.id))
        .count()
        .get_result(conn)?;
    let incidents: i64 = crate::schema::incidents::table
        .filter(
            crate::schema::incidents::owner_unit_id
                .eq(&unit.id)
                .or(crate::schema::incidents::locality_unit_id.eq(&unit.id)),
        )
        .count()
        .get_result(conn)?;
    if assigned + households + incidents > 0 {
        return Err(StoreError::Conflict {
            code: "unit_in_use",
            message: format!(
                "unit {} ({}) still has {assigned} account assignment(s), {households} household(s) and {incidents} incident(s); move them first",
                unit.code, unit.name
            ),
            details: json!({ "assignments": assigned, "households": households, "incidents": incidents }),
        });
    }
    let had_coverage = diesel::delete(unit_coverage::table.find(&unit.id)).execute(conn)? > 0;
    let n = diesel::delete(
        units::table
            .filter(units::id.eq(&unit.id))
            .filter(units::version.eq(unit.version)),
    )
    .execute(conn)?;
    if n != 1 {
        return Err(StoreError::VersionMismatch {
            expected: unit.version,
            current: get_unit(conn, id)?.version,
        });
    }
    if had_coverage {
        bump_generation(conn)?;
    }
    Ok(unit)
}
