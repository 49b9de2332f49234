//! The household registry: households, residents, visits, and each household's history.
//! Personal data arrives sealed ([`Sealed`]); this layer never sees it in plain text.

use crate::db::{AnyConnection, Backend};
use crate::error::StoreError;
use crate::schema::{household_events, households, residents, units, visits};
use crate::scoped::{
    HouseholdUnitInSubtree, ReachSql, UnitRef, path_depth, reach_sql, subtrees_sql,
};
use crate::{Sealed, check_version, now_rfc3339, uuid_v7};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::Text;
use serde_json::{Value, json};
use wangge_domain::Reach;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = households)]
pub struct HouseholdRecord {
    pub id: String,
    pub unit_id: String,
    pub address: String,
    pub lon: f64,
    pub lat: f64,
    pub cell: i64,
    pub unit_reason: Option<String>,
    /// `,tag,tag,`
    pub tags: String,
    pub notes: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl HouseholdRecord {
    /// The tag names, in stored (canonical) order.
    #[must_use]
    pub fn tag_names(&self) -> Vec<&str> {
        split_tags(&self.tags)
    }
}

/// `,a,b,` → `["a", "b"]`.
#[must_use]
pub fn split_tags(stored: &str) -> Vec<&str> {
    stored.split(',').filter(|t| !t.is_empty()).collect()
}

/// `["a", "b"]` → `,a,b,` (empty for none), so that `LIKE '%,a,%'` finds a tag.
#[must_use]
pub fn join_tags(tags: &[&str]) -> String {
    if tags.is_empty() {
        String::new()
    } else {
        format!(",{},", tags.join(","))
    }
}

/// The unit a household is in, as bodies show it and scope checks need it.
pub use crate::scoped::UnitBrief;

/// A household with its unit.
#[derive(Debug, Clone)]
pub struct Household {
    pub record: HouseholdRecord,
    pub unit: UnitBrief,
}

const UNIT_BRIEF: (units::id, units::code, units::name, units::path) =
    (units::id, units::code, units::name, units::path);

/// A household row is placed by its unit.
const HOUSEHOLD_UNIT: UnitRef = UnitRef {
    before: "households.unit_id",
    after: "",
};

fn not_found(entity: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        entity,
        id: id.to_owned(),
    }
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Household>, StoreError> {
    let row: Option<(HouseholdRecord, UnitBrief)> = households::table
        .inner_join(units::table)
        .filter(households::id.eq(id))
        .select((HouseholdRecord::as_select(), UNIT_BRIEF))
        .first(conn)
        .optional()?;
    Ok(row.map(|(record, unit)| Household { record, unit }))
}

/// Where a page of the households list starts: after this household, in the list's order (by
/// unit id, then by household id, which is creation order within a unit).
///
/// The list is grouped by unit because that order is an index range: the scope's units are
/// a list of ids, and `(unit_id, id)` lets the database read exactly one page in order,
/// where id order alone made it read and sort every household in scope for every page
/// (docs/benchmarks.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HouseholdCursor {
    pub unit_id: String,
    pub id: String,
}

impl HouseholdCursor {
    /// The position just after `h`.
    #[must_use]
    pub fn after(h: &HouseholdRecord) -> Self {
        Self {
            unit_id: h.unit_id.clone(),
            id: h.id.clone(),
        }
    }
}

/// `(households.unit_id, households.id) > (?, ?)`. Both backends read a row-value comparison
/// as one range of the `(unit_id, id)` index. diesel has no row values, and a `sql()` literal
/// would keep the statement from being prepared once per connection.
#[derive(Debug, Clone, QueryId)]
struct AfterCursor(HouseholdCursor);

impl Expression for AfterCursor {
    type SqlType = diesel::sql_types::Bool;
}

impl<GB> diesel::expression::ValidGrouping<GB> for AfterCursor {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<QS> AppearsOnTable<QS> for AfterCursor {}
impl<QS> SelectableExpression<QS> for AfterCursor {}

impl QueryFragment<Backend> for AfterCursor {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        out.push_sql("((households.unit_id, households.id) > (");
        out.push_bind_param::<Text, _>(&self.0.unit_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.0.id)?;
        out.push_sql("))");
        Ok(())
    }
}

/// Filters of the households list.
#[derive(Debug, Default, Clone)]
pub struct HouseholdFilter {
    /// Only inside this subtree (a unit path).
    pub under_path: Option<String>,
    pub tag: Option<String>,
    /// Part of the address or of a resident's name.
    pub text: Option<String>,
    /// Keyed hash of an identity-card number or phone: households with such a resident.
    pub id_card_hash: Option<String>,
    pub phone_hash: Option<String>,
    /// Within `radius_m` of (`lon`, `lat`), WGS-84.
    pub near: Option<Near>,
}

#[derive(Debug, Clone, Copy)]
pub struct Near {
    pub lon: f64,
    pub lat: f64,
    pub radius_m: f64,
}

impl Near {
    /// Great-circle distance from the centre, metres.
    #[must_use]
    pub fn distance_m(&self, lon: f64, lat: f64) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (p1, p2) = (self.lat.to_radians(), lat.to_radians());
        let dp = p2 - p1;
        let dl = (lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }

    /// A lon/lat box holding the circle, for the index.
    fn bbox(&self) -> (f64, f64, f64, f64) {
        let dlat = (self.radius_m / 111_320.0) * 1.01;
        let dlon = dlat / self.lat.to_radians().cos().max(0.01);
        (
            self.lon - dlon,
            self.lat - dlat,
            self.lon + dlon,
            self.lat + dlat,
        )
    }
}

/// One page of the households `reach` covers, after the cursor in the list's order (see
/// [`HouseholdCursor`]). With `near`, the box is filtered in SQL and the circle here, reading
/// on until the page is full. The rows' units are left to the caller, who may know them
/// already ([`unit_briefs`] fetches the rest): joining `units` to every row made PostgreSQL
/// probe the units' primary key per row, 1.8 ms instead of 0.3 ms for a page of 500.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    f: &HouseholdFilter,
    after: Option<&HouseholdCursor>,
    limit: i64,
) -> Result<Vec<HouseholdRecord>, StoreError> {
    // The phone's everyday question, "my households, page by page", has no other filter and
    // one subtree: one statement of fixed shape, which the connection keeps prepared, finds
    // the subtree's units and reads one page off the (unit_id, id) index. Only a reach of
    // the whole district (level 1, every unit) is left to the general query below, where
    // most rows match.
    let plain = f.under_path.is_none()
        && f.tag.is_none()
        && f.text.is_none()
        && f.id_card_hash.is_none()
        && f.phone_hash.is_none()
        && f.near.is_none();
    if let (true, Reach::Subtrees([path])) = (plain, reach)
        && path_depth(path) >= 2
    {
        let rows: Vec<HouseholdRecord> = households::table
            .filter(HouseholdUnitInSubtree::new(path))
            // The first page starts after ("", ""), so the statement keeps one shape.
            .filter(AfterCursor(after.cloned().unwrap_or_default()))
            .select(HouseholdRecord::as_select())
            .order((households::unit_id.asc(), households::id.asc()))
            .limit(limit)
            .load(conn)?;
        return Ok(rows);
    }
    let mut out = Vec::new();
    let mut cursor = after.cloned();
    // Resolved once; a `near` search may read several batches with them.
    let scope = reach_sql(conn, reach)?;
    let under = f
        .under_path
        .as_ref()
        .map(|p| subtrees_sql(conn, std::slice::from_ref(p)))
        .transpose()?;
    let filters: Vec<ReachSql<households::table>> = std::iter::once(scope).chain(under).collect();
    loop {
        let mut q = households::table
            .select(HouseholdRecord::as_select())
            .into_boxed();
        for filter in &filters {
            match filter {
                ReachSql::Empty => return Ok(Vec::new()),
                ReachSql::All => {}
                ReachSql::Units(_) => q = q.filter(households::unit_id.eq_any(filter.unit_ids())),
                ReachSql::Subtrees(..) => {
                    if let Some(c) = filter.condition(&HOUSEHOLD_UNIT) {
                        q = q.filter(c);
                    }
                }
            }
        }
        if let Some(t) = &f.tag {
            q = q.filter(households::tags.like(format!("%,{t},%")));
        }
        if let Some(text) = &f.text {
            let pattern = crate::grid::like_contains(text);
            q = q.filter(
                households::address
                    .like(pattern.clone())
                    .escape('\\')
                    .or(households::id.eq_any(
                        residents::table
                            .filter(residents::name.like(pattern).escape('\\'))
                            .select(residents::household_id),
                    )),
            );
        }
        if let Some(h) = &f.id_card_hash {
            q = q.filter(
                households::id.eq_any(
                    residents::table
                        .filter(residents::id_card_hash.eq(h.clone()))
                        .select(residents::household_id),
                ),
            );
        }
        if let Some(h) = &f.phone_hash {
            q = q.filter(
                households::id.eq_any(
                    residents::table
                        .filter(residents::phone_hash.eq(h.clone()))
                        .select(residents::household_id),
                ),
            );
        }
        if let Some(n) = &f.near {
            let (w, s, e, no) = n.bbox();
            q = q.filter(
                households::lat
                    .between(s, no)
                    .and(households::lon.between(w, e)),
            );
        }
        if let Some(a) = &cursor {
            q = q.filter(AfterCursor(a.clone()));
        }
        let batch: Vec<HouseholdRecord> = q
            .order((households::unit_id.asc(), households::id.asc()))
            .limit(limit)
            .load(conn)?;
        let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) == limit;
        cursor = batch.last().map(HouseholdCursor::after);
        out.extend(batch.into_iter().filter(|h| {
            f.near
                .is_none_or(|n| n.distance_m(h.lon, h.lat) <= n.radius_m)
        }));
        if !full || i64::try_from(out.len()).unwrap_or(i64::MAX) >= limit {
            out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Ok(out);
        }
    }
}

/// The units with these ids (a page's few units), in no particular order.
///
/// # Errors
/// Database errors.
pub fn unit_briefs(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<UnitBrief>, StoreError> {
    Ok(units::table
        .filter(units::id.eq_any(ids))
        .select(UNIT_BRIEF)
        .load(conn)?)
}

/// A new household, placed already (by locate or by staff).
pub struct NewHousehold<'a> {
    pub id: &'a str,
    pub unit_id: &'a str,
    pub address: &'a str,
    pub lon: f64,
    pub lat: f64,
    pub cell: i64,
    pub unit_reason: Option<&'a str>,
    pub tags: &'a str,
    pub notes: Option<&'a str>,
    pub created_by: Option<&'a str>,
}

/// Appends to a household's history.
///
/// # Errors
/// Database errors.
pub fn append_event(
    conn: &mut AnyConnection,
    household_id: &str,
    actor_id: Option<&str>,
    kind: &str,
    details: &Value,
) -> Result<(), StoreError> {
    diesel::insert_into(household_events::table)
        .values((
            household_events::id.eq(uuid_v7()),
            household_events::household_id.eq(household_id),
            household_events::at.eq(now_rfc3339()),
            household_events::actor_id.eq(actor_id),
            household_events::kind.eq(kind),
            household_events::details.eq(details.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Appends the same kind of event to many households' histories (imports), one statement per
/// chunk.
///
/// # Errors
/// Database errors.
pub fn insert_events(
    conn: &mut AnyConnection,
    events: &[(&str, Option<&str>, &str)],
    details: &Value,
) -> Result<(), StoreError> {
    let now = now_rfc3339();
    let details = details.to_string();
    for chunk in events.chunks(500) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(household_id, actor_id, kind)| {
                (
                    household_events::id.eq(uuid_v7()),
                    household_events::household_id.eq(*household_id),
                    household_events::at.eq(&now),
                    household_events::actor_id.eq(*actor_id),
                    household_events::kind.eq(*kind),
                    household_events::details.eq(&details),
                )
            })
            .collect();
        on_backend!(conn, |c| diesel::insert_into(household_events::table)
            .values(values)
            .execute(c))?;
    }
    Ok(())
}

/// Which of these identity-number hashes are registered already.
///
/// # Errors
/// Database errors.
pub fn registered_id_card_hashes(
    conn: &mut AnyConnection,
    hashes: &[&str],
) -> Result<Vec<String>, StoreError> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<Option<String>> = residents::table
        .filter(residents::id_card_hash.eq_any(hashes))
        .select(residents::id_card_hash)
        .load(conn)?;
    Ok(found.into_iter().flatten().collect())
}

/// Inserts a household and its `created` event.
///
/// # Errors
/// Database errors.
pub fn create(conn: &mut AnyConnection, new: &NewHousehold<'_>) -> Result<(), StoreError> {
    insert_rows(conn, std::slice::from_ref(new))?;
    append_event(
        conn,
        new.id,
        new.created_by,
        "created",
        &json!({ "unit_id": new.unit_id }),
    )
}

/// Inserts households in one statement per chunk (bulk import and the demo seed), without
/// history events beyond `created`.
///
/// # Errors
/// Database errors.
pub fn insert_rows(conn: &mut AnyConnection, rows: &[NewHousehold<'_>]) -> Result<(), StoreError> {
    let now = now_rfc3339();
    for chunk in rows.chunks(500) {
        let values: Vec<_> = chunk
            .iter()
            .map(|n| {
                (
                    households::id.eq(n.id),
                    households::unit_id.eq(n.unit_id),
                    households::address.eq(n.address),
                    households::lon.eq(n.lon),
                    households::lat.eq(n.lat),
                    households::cell.eq(n.cell),
                    households::unit_reason.eq(n.unit_reason),
                    households::tags.eq(n.tags),
                    households::notes.eq(n.notes),
                    households::created_by.eq(n.created_by),
                    households::created_at.eq(&now),
                    households::updated_at.eq(&now),
                    households::version.eq(1_i64),
                )
            })
            .collect();
        // Multi-row INSERT exists on each backend but not on the multi-backend connection.
        on_backend!(conn, |c| diesel::insert_into(households::table)
            .values(values)
            .execute(c))?;
    }
    Ok(())
}

/// What may change on a household. Moving it to another unit sets `unit_id` and the reason
/// together (or clears the reason when locate placed it).
#[derive(Debug, Default)]
pub struct HouseholdPatch {
    pub address: Option<String>,
    /// New point: lon, lat, cell.
    pub point: Option<(f64, f64, i64)>,
    pub unit: Option<(String, Option<String>)>,
    pub tags: Option<String>,
    pub notes: Option<Option<String>>,
}

/// Applies a patch under optimistic concurrency and records it in the history (`moved` when
/// the unit changed, else `updated`, listing the fields changed).
///
/// # Errors
/// `NotFound`, `VersionMismatch`.
pub fn update(
    conn: &mut AnyConnection,
    id: &str,
    patch: HouseholdPatch,
    expected_version: Option<i64>,
    actor_id: Option<&str>,
) -> Result<(), StoreError> {
    let current = get(conn, id)?.ok_or_else(|| not_found("household", id))?;
    check_version(current.record.version, expected_version)?;
    let target = households::table.find(id);
    let mut fields = Vec::new();
    if let Some(a) = &patch.address {
        diesel::update(target)
            .set(households::address.eq(a))
            .execute(conn)?;
        fields.push("address");
    }
    if let Some((lon, lat, cell)) = patch.point {
        diesel::update(target)
            .set((
                households::lon.eq(lon),
                households::lat.eq(lat),
                households::cell.eq(cell),
            ))
            .execute(conn)?;
        fields.push("location");
    }
    if let Some(t) = &patch.tags {
        diesel::update(target)
            .set(households::tags.eq(t))
            .execute(conn)?;
        fields.push("tags");
    }
    if let Some(n) = &patch.notes {
        diesel::update(target)
            .set(households::notes.eq(n.as_deref()))
            .execute(conn)?;
        fields.push("notes");
    }
    let mut moved = None;
    if let Some((unit_id, reason)) = &patch.unit {
        diesel::update(target)
            .set((
                households::unit_id.eq(unit_id),
                households::unit_reason.eq(reason.as_deref()),
            ))
            .execute(conn)?;
        if *unit_id != current.record.unit_id {
            moved = Some(json!({
                "from_unit_id": current.record.unit_id,
                "to_unit_id": unit_id,
                "reason": reason,
            }));
        }
    }
    diesel::update(target)
        .set((
            households::version.eq(households::version + 1),
            households::updated_at.eq(now_rfc3339()),
        ))
        .execute(conn)?;
    if !fields.is_empty() {
        append_event(conn, id, actor_id, "updated", &json!({ "fields": fields }))?;
    }
    if let Some(m) = moved {
        append_event(conn, id, actor_id, "moved", &m)?;
    }
    Ok(())
}

/// Deletes a household with its residents and visits; its history stays.
///
/// # Errors
/// `NotFound`, `VersionMismatch`.
pub fn delete(
    conn: &mut AnyConnection,
    id: &str,
    expected_version: Option<i64>,
    actor_id: Option<&str>,
) -> Result<(), StoreError> {
    let current = get(conn, id)?.ok_or_else(|| not_found("household", id))?;
    check_version(current.record.version, expected_version)?;
    diesel::delete(visits::table.filter(visits::household_id.eq(id))).execute(conn)?;
    diesel::delete(residents::table.filter(residents::household_id.eq(id))).execute(conn)?;
    diesel::delete(households::table.find(id)).execute(conn)?;
    append_event(
        conn,
        id,
        actor_id,
        "deleted",
        &json!({ "unit_id": current.record.unit_id, "address": current.record.address }),
    )
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = household_events)]
pub struct HouseholdEvent {
    pub id: String,
    #[serde(skip)]
    pub household_id: String,
    pub at: String,
    pub actor_id: Option<String>,
    pub kind: String,
    pub details: String,
}

/// The history, oldest first.
///
/// # Errors
/// Database errors.
pub fn history(conn: &mut AnyConnection, id: &str) -> Result<Vec<HouseholdEvent>, StoreError> {
    Ok(household_events::table
        .filter(household_events::household_id.eq(id))
        .select(HouseholdEvent::as_select())
        .order(household_events::id.asc())
        .limit(1000)
        .load(conn)?)
}

// ---- residents ----

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = residents)]
pub struct ResidentRecord {
    pub id: String,
    pub household_id: String,
    pub name: String,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub relation: String,
    pub id_card_cipher: Option<Vec<u8>>,
    pub id_card_key_id: Option<String>,
    pub id_card_hash: Option<String>,
    pub id_card_masked: Option<String>,
    pub phone_cipher: Option<Vec<u8>>,
    pub phone_key_id: Option<String>,
    pub phone_hash: Option<String>,
    pub phone_masked: Option<String>,
    pub tags: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

/// Residents of a household, in the order they were registered.
///
/// # Errors
/// Database errors.
pub fn residents_of(
    conn: &mut AnyConnection,
    household_id: &str,
) -> Result<Vec<ResidentRecord>, StoreError> {
    Ok(residents::table
        .filter(residents::household_id.eq(household_id))
        .select(ResidentRecord::as_select())
        .order(residents::id.asc())
        .limit(500)
        .load(conn)?)
}

/// # Errors
/// Database errors.
pub fn resident(conn: &mut AnyConnection, id: &str) -> Result<Option<ResidentRecord>, StoreError> {
    Ok(residents::table
        .find(id)
        .select(ResidentRecord::as_select())
        .first(conn)
        .optional()?)
}

/// A resident to insert; personal data sealed.
pub struct NewResident<'a> {
    pub id: &'a str,
    pub household_id: &'a str,
    pub name: &'a str,
    pub gender: Option<&'a str>,
    pub birth_date: Option<&'a str>,
    pub relation: &'a str,
    pub id_card: Option<&'a Sealed>,
    pub phone: Option<&'a Sealed>,
    pub tags: &'a str,
}

fn duplicate_id_card(
    conn: &mut AnyConnection,
    hash: &str,
    except: Option<&str>,
) -> Result<(), StoreError> {
    let mut q = residents::table
        .filter(residents::id_card_hash.eq(hash))
        .select(residents::id)
        .into_boxed();
    if let Some(e) = except {
        q = q.filter(residents::id.ne(e.to_owned()));
    }
    if q.first::<String>(conn).optional()?.is_some() {
        return Err(StoreError::Conflict {
            code: "duplicate_id_card",
            message: "a resident with this identity-card number is registered already".into(),
            details: Value::Null,
        });
    }
    Ok(())
}

/// Inserts residents (one statement per chunk). A repeated identity-card number is a
/// `Conflict` (`duplicate_id_card`).
///
/// # Errors
/// `Conflict`, database errors.
pub fn insert_residents(
    conn: &mut AnyConnection,
    rows: &[NewResident<'_>],
) -> Result<(), StoreError> {
    let now = now_rfc3339();
    for chunk in rows.chunks(500) {
        let values: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    residents::id.eq(r.id),
                    residents::household_id.eq(r.household_id),
                    residents::name.eq(r.name),
                    residents::gender.eq(r.gender),
                    residents::birth_date.eq(r.birth_date),
                    residents::relation.eq(r.relation),
                    (
                        residents::id_card_cipher.eq(r.id_card.map(|s| s.cipher.clone())),
                        residents::id_card_key_id.eq(r.id_card.map(|s| s.key_id.clone())),
                        residents::id_card_hash.eq(r.id_card.map(|s| s.hash.clone())),
                        residents::id_card_masked.eq(r.id_card.map(|s| s.masked.clone())),
                    ),
                    (
                        residents::phone_cipher.eq(r.phone.map(|s| s.cipher.clone())),
                        residents::phone_key_id.eq(r.phone.map(|s| s.key_id.clone())),
                        residents::phone_hash.eq(r.phone.map(|s| s.hash.clone())),
                        residents::phone_masked.eq(r.phone.map(|s| s.masked.clone())),
                    ),
                    residents::tags.eq(r.tags),
                    residents::created_at.eq(&now),
                    residents::updated_at.eq(&now),
                    residents::version.eq(1_i64),
                )
            })
            .collect();
        // The unique index finds numbers registered already or repeated in the input. (A
        // query first would be planned against the table's statistics from before a bulk
        // load, and scan it whole for every chunk.)
        on_backend!(conn, |c| diesel::insert_into(residents::table)
            .values(values)
            .execute(c))
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => StoreError::Conflict {
                code: "duplicate_id_card",
                message: "a resident with this identity-card number is registered already".into(),
                details: Value::Null,
            },
            other => other,
        })?;
    }
    Ok(())
}

/// What may change on a resident; double options clear a field with the inner `None`.
#[derive(Default)]
pub struct ResidentPatch {
    pub name: Option<String>,
    pub gender: Option<Option<String>>,
    pub birth_date: Option<Option<String>>,
    pub relation: Option<String>,
    pub id_card: Option<Option<Sealed>>,
    pub phone: Option<Option<Sealed>>,
    pub tags: Option<String>,
}

/// # Errors
/// `NotFound`, `VersionMismatch`, `Conflict` (`duplicate_id_card`).
pub fn update_resident(
    conn: &mut AnyConnection,
    id: &str,
    p: ResidentPatch,
    expected_version: Option<i64>,
) -> Result<(), StoreError> {
    let current = resident(conn, id)?.ok_or_else(|| not_found("resident", id))?;
    check_version(current.version, expected_version)?;
    let t = residents::table.find(id);
    if let Some(v) = &p.name {
        diesel::update(t).set(residents::name.eq(v)).execute(conn)?;
    }
    if let Some(v) = &p.gender {
        diesel::update(t)
            .set(residents::gender.eq(v.as_deref()))
            .execute(conn)?;
    }
    if let Some(v) = &p.birth_date {
        diesel::update(t)
            .set(residents::birth_date.eq(v.as_deref()))
            .execute(conn)?;
    }
    if let Some(v) = &p.relation {
        diesel::update(t)
            .set(residents::relation.eq(v))
            .execute(conn)?;
    }
    if let Some(v) = &p.id_card {
        if let Some(s) = v {
            duplicate_id_card(conn, &s.hash, Some(id))?;
        }
        diesel::update(t)
            .set((
                residents::id_card_cipher.eq(v.as_ref().map(|s| s.cipher.clone())),
                residents::id_card_key_id.eq(v.as_ref().map(|s| s.key_id.clone())),
                residents::id_card_hash.eq(v.as_ref().map(|s| s.hash.clone())),
                residents::id_card_masked.eq(v.as_ref().map(|s| s.masked.clone())),
            ))
            .execute(conn)?;
    }
    if let Some(v) = &p.phone {
        diesel::update(t)
            .set((
                residents::phone_cipher.eq(v.as_ref().map(|s| s.cipher.clone())),
                residents::phone_key_id.eq(v.as_ref().map(|s| s.key_id.clone())),
                residents::phone_hash.eq(v.as_ref().map(|s| s.hash.clone())),
                residents::phone_masked.eq(v.as_ref().map(|s| s.masked.clone())),
            ))
            .execute(conn)?;
    }
    if let Some(v) = &p.tags {
        diesel::update(t).set(residents::tags.eq(v)).execute(conn)?;
    }
    diesel::update(t)
        .set((
            residents::version.eq(residents::version + 1),
            residents::updated_at.eq(now_rfc3339()),
        ))
        .execute(conn)?;
    Ok(())
}

/// # Errors
/// `NotFound`, `VersionMismatch`.
pub fn delete_resident(
    conn: &mut AnyConnection,
    id: &str,
    expected_version: Option<i64>,
) -> Result<(), StoreError> {
    let current = resident(conn, id)?.ok_or_else(|| not_found("resident", id))?;
    check_version(current.version, expected_version)?;
    diesel::delete(residents::table.find(id)).execute(conn)?;
    Ok(())
}

// ---- visits ----

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = visits)]
pub struct VisitRecord {
    pub id: String,
    pub household_id: String,
    pub unit_id: String,
    pub visitor_id: String,
    pub visited_at: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub notes: String,
    pub created_at: String,
}

pub struct NewVisit<'a> {
    pub household_id: &'a str,
    pub unit_id: &'a str,
    pub visitor_id: &'a str,
    pub visited_at: &'a str,
    pub point: Option<(f64, f64)>,
    pub notes: &'a str,
}

/// # Errors
/// Database errors.
pub fn create_visit(conn: &mut AnyConnection, v: &NewVisit<'_>) -> Result<VisitRecord, StoreError> {
    let id = uuid_v7();
    diesel::insert_into(visits::table)
        .values((
            visits::id.eq(&id),
            visits::household_id.eq(v.household_id),
            visits::unit_id.eq(v.unit_id),
            visits::visitor_id.eq(v.visitor_id),
            visits::visited_at.eq(v.visited_at),
            visits::lon.eq(v.point.map(|p| p.0)),
            visits::lat.eq(v.point.map(|p| p.1)),
            visits::notes.eq(v.notes),
            visits::created_at.eq(now_rfc3339()),
        ))
        .execute(conn)?;
    visits::table
        .find(&id)
        .select(VisitRecord::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found("visit", &id))
}

/// Visits of a household, newest first, before the cursor (a visit id).
///
/// # Errors
/// Database errors.
pub fn visits_of(
    conn: &mut AnyConnection,
    household_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<VisitRecord>, StoreError> {
    let mut q = visits::table
        .filter(visits::household_id.eq(household_id))
        .select(VisitRecord::as_select())
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(visits::id.lt(b.to_owned()));
    }
    Ok(q.order(visits::id.desc()).limit(limit).load(conn)?)
}

/// After a unit's coverage changed from `old` to `new`, located households follow the cells:
/// those of the unit in cells it lost go to its parent (the deepest unit covering them now,
/// since siblings never overlap and children stay inside the unit), and those of the parent in
/// cells it gained come to the unit. Households that staff placed with a reason stay where
/// they are. Each move is recorded in the household's history. Runs in the caller's
/// transaction; returns how many moved.
///
/// # Errors
/// Database errors.
pub(crate) fn follow_coverage(
    conn: &mut AnyConnection,
    unit_id: &str,
    parent_id: Option<&str>,
    old: Option<&wangge_geo::Coverage>,
    new: &wangge_geo::Coverage,
) -> Result<usize, StoreError> {
    let located =
        |conn: &mut AnyConnection, unit: &str| -> Result<Vec<(String, i64)>, StoreError> {
            Ok(households::table
                .filter(households::unit_id.eq(unit))
                .filter(households::unit_reason.is_null())
                .select((households::id, households::cell))
                .load(conn)?)
        };
    let contains = |cov: &wangge_geo::Coverage, cell: i64| {
        u64::try_from(cell)
            .ok()
            .and_then(|c| wangge_geo::CellIndex::try_from(c).ok())
            .is_some_and(|c| cov.contains_cell(c))
    };
    let mut moves: Vec<(String, &str, &str)> = Vec::new();
    if let Some(parent) = parent_id {
        if old.is_some() {
            for (id, cell) in located(conn, unit_id)? {
                if !contains(new, cell) {
                    moves.push((id, unit_id, parent));
                }
            }
        }
        for (id, cell) in located(conn, parent)? {
            if contains(new, cell) && !old.is_some_and(|o| contains(o, cell)) {
                moves.push((id, parent, unit_id));
            }
        }
    }
    let now = now_rfc3339();
    for (id, from, to) in &moves {
        diesel::update(households::table.find(id))
            .set((
                households::unit_id.eq(*to),
                households::version.eq(households::version + 1),
                households::updated_at.eq(&now),
            ))
            .execute(conn)?;
        append_event(
            conn,
            id,
            None,
            "moved",
            &json!({ "from_unit_id": from, "to_unit_id": to, "reason": "coverage_changed" }),
        )?;
    }
    Ok(moves.len())
}
