//! Incidents and the departments summoned to them. A case's every mutable field is written
//! back whole by one conditional statement (id and version), so a transition is one UPDATE.

use crate::categories::CategoryRecord;
use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{
    incident_attachments as attachments, incident_departments as summons,
    incident_measures as measures, incident_reporters as reporters, incidents, units,
};
use crate::scoped::{ReachSql, UnitRef, reach_sql, subtrees_sql};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use wangge_domain::Reach;

#[derive(Debug, Clone, Default, PartialEq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = incidents, treat_none_as_default_value = false)]
pub struct IncidentRecord {
    pub id: String,
    pub category_code: String,
    pub priority: String,
    pub status: String,
    pub held_from: Option<String>,
    pub description: String,
    pub lon: f64,
    pub lat: f64,
    pub cell: i64,
    pub household_id: Option<String>,
    pub locality_unit_id: String,
    pub owner_unit_id: String,
    pub department_id: Option<String>,
    pub routing_rule: String,
    pub routing_explanation: String,
    pub reporter_id: Option<String>,
    pub anonymous: bool,
    pub merged_into: Option<String>,
    pub extension_pending: bool,
    pub register_due: Option<String>,
    pub sign_due: Option<String>,
    pub close_due: Option<String>,
    pub next_due: Option<String>,
    pub clock_noted: Option<String>,
    pub escalations: i32,
    pub satisfied: Option<bool>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub version: i64,
}

/// What the figures count of a case (see the migration `incident_measures`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = measures, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct Measures {
    pub incident_id: String,
    pub registered_at: Option<String>,
    pub dispatched_at: Option<String>,
    pub signed_at: Option<String>,
    pub sign_seconds: Option<i64>,
    pub due_at: Option<String>,
    pub close_seconds: Option<i64>,
    pub on_time: Option<bool>,
    pub callback_at: Option<String>,
}

/// A reporter's own name and phone, sealed, with their masked forms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = reporters, treat_none_as_default_value = false)]
pub struct Reporter {
    pub incident_id: String,
    pub name_cipher: Option<Vec<u8>>,
    pub name_key_id: Option<String>,
    pub name_masked: Option<String>,
    pub phone_cipher: Option<Vec<u8>>,
    pub phone_key_id: Option<String>,
    pub phone_masked: Option<String>,
}

/// # Errors
/// Database errors.
pub fn insert_reporter(conn: &mut AnyConnection, row: &Reporter) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(reporters::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// The reporter's name and phone given with a case, if any.
///
/// # Errors
/// Database errors.
pub fn reporter_of(conn: &mut AnyConnection, id: &str) -> Result<Option<Reporter>, StoreError> {
    Ok(reporters::table
        .find(id)
        .select(Reporter::as_select())
        .first(conn)
        .optional()?)
}

/// A case's measures (empty before its first measured step).
///
/// # Errors
/// Database errors.
pub fn measures_of(conn: &mut AnyConnection, id: &str) -> Result<Measures, StoreError> {
    Ok(measures::table
        .find(id)
        .select(Measures::as_select())
        .first(conn)
        .optional()?
        .unwrap_or_else(|| Measures {
            incident_id: id.to_owned(),
            ..Measures::default()
        }))
}

/// Writes a case's measures whole.
///
/// # Errors
/// Database errors.
pub fn put_measures(conn: &mut AnyConnection, m: &Measures) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(measures::table)
        .values(m)
        .on_conflict(measures::incident_id)
        .do_update()
        .set(m)
        .execute(c))?;
    Ok(())
}

/// A department summoned to a case.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = summons, treat_none_as_default_value = false)]
pub struct Summons {
    pub incident_id: String,
    pub department_id: String,
    pub summoned_at: String,
    pub report_in_due: String,
    pub reported_in_at: Option<String>,
    pub missed_at: Option<String>,
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
    Ok(incidents::table
        .find(id)
        .select(IncidentRecord::as_select())
        .first(conn)
        .optional()?)
}

/// The ids of the cases one unit owns (not those below it).
///
/// # Errors
/// Database errors.
pub fn ids_owned_by(conn: &mut AnyConnection, unit_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(incidents::table
        .filter(incidents::owner_unit_id.eq(unit_id))
        .select(incidents::id)
        .load(conn)?)
}

/// These cases (those that exist), in no order.
///
/// # Errors
/// Database errors.
pub fn by_ids(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<IncidentRecord>, StoreError> {
    Ok(incidents::table
        .filter(incidents::id.eq_any(ids))
        .select(IncidentRecord::as_select())
        .load(conn)?)
}

/// The versions of these cases (those that exist).
///
/// # Errors
/// Database errors.
pub fn versions(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(incidents::table
        .filter(incidents::id.eq_any(ids))
        .select((incidents::id, incidents::version))
        .load(conn)?)
}

/// Inserts a new case at version 1.
///
/// # Errors
/// Database errors.
pub fn insert(conn: &mut AnyConnection, row: &IncidentRecord) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(incidents::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// Inserts incidents as they are, many rows a statement (demo and benchmark data).
///
/// # Errors
/// Database errors.
pub fn insert_incidents_bulk(
    conn: &mut AnyConnection,
    rows: &[IncidentRecord],
    measures: &[Measures],
) -> Result<(), StoreError> {
    // Within SQLite's 32,766 bound parameters a statement.
    for chunk in rows.chunks(500) {
        on_backend!(conn, |c| diesel::insert_into(incidents::table)
            .values(chunk)
            .execute(c))?;
    }
    for chunk in measures.chunks(1_000) {
        on_backend!(conn, |c| diesel::insert_into(measures::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// Writes the case back if it is still at version `expected`, as `expected + 1`. False when
/// another write came first.
///
/// # Errors
/// Database errors.
pub fn update(
    conn: &mut AnyConnection,
    expected: i64,
    row: &IncidentRecord,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        incidents::table
            .filter(incidents::id.eq(&row.id))
            .filter(incidents::version.eq(expected)),
    )
    .set((
        incidents::status.eq(&row.status),
        incidents::held_from.eq(&row.held_from),
        incidents::owner_unit_id.eq(&row.owner_unit_id),
        incidents::department_id.eq(&row.department_id),
        incidents::merged_into.eq(&row.merged_into),
        incidents::extension_pending.eq(row.extension_pending),
        incidents::register_due.eq(&row.register_due),
        incidents::sign_due.eq(&row.sign_due),
        incidents::close_due.eq(&row.close_due),
        incidents::next_due.eq(&row.next_due),
        incidents::clock_noted.eq(&row.clock_noted),
        incidents::escalations.eq(row.escalations),
        incidents::satisfied.eq(row.satisfied),
        incidents::updated_at.eq(&row.updated_at),
        incidents::closed_at.eq(&row.closed_at),
        incidents::version.eq(expected + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Up to `limit` cases whose next deadline has passed, earliest first. On PostgreSQL the rows
/// are held (`FOR UPDATE SKIP LOCKED`): another instance's clock skips them and takes the
/// next, so no case is acted on twice; SQLite has one writer at a time anyway.
///
/// # Errors
/// Database errors.
pub fn overdue(
    conn: &mut AnyConnection,
    now: &str,
    limit: i64,
) -> Result<Vec<IncidentRecord>, StoreError> {
    macro_rules! due {
        () => {
            incidents::table
                .filter(incidents::next_due.lt(now.to_owned()))
                .select(IncidentRecord::as_select())
                .order(incidents::next_due.asc())
                .limit(limit)
        };
    }
    Ok(match conn {
        AnyConnection::Postgresql(c) => due!().for_update().skip_locked().load(c)?,
        AnyConnection::Sqlite(c) => due!().load(c)?,
    })
}

/// A latitude's band of about 111 m, as `incidents_nearby_idx` computes it. The same
/// expression on both sides of the comparison, so each backend's own rounding of the cast
/// agrees with itself (it only has to be monotone). A type rather than an SQL literal, so
/// the statement stays prepared once per connection.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
struct LatBand<E>(E);

impl<E: Expression> Expression for LatBand<E> {
    type SqlType = diesel::sql_types::Integer;
}

impl<E, DB> diesel::query_builder::QueryFragment<DB> for LatBand<E>
where
    DB: diesel::backend::Backend,
    E: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql("CAST(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" * 1000 AS INTEGER)");
        Ok(())
    }
}

impl<E: SelectableExpression<QS>, QS> SelectableExpression<QS> for LatBand<E> {}
impl<E: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for LatBand<E> {}
impl<E: diesel::expression::ValidGrouping<G>, G> diesel::expression::ValidGrouping<G>
    for LatBand<E>
{
    type IsAggregate = E::IsAggregate;
}

/// An open case near a new report, with what deciding whether its reporter may see it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NearbyCase {
    pub id: String,
    pub status: String,
    pub lon: f64,
    pub lat: f64,
    pub reporter_id: Option<String>,
    pub created_at: String,
    pub owner_path: String,
}

/// A category by code, with the open cases of it whose point lies in the box (degrees) and
/// their owner's path, the nearest found first by the caller: what a new report reads, in one
/// statement. Few cases: a box of ~100 m in one category. `None` when no category has the code.
///
/// # Errors
/// Database errors.
pub fn category_and_open_in_box(
    conn: &mut AnyConnection,
    code: &str,
    (min_lon, min_lat, max_lon, max_lat): (f64, f64, f64, f64),
    limit: i64,
) -> Result<Option<(CategoryRecord, Vec<NearbyCase>)>, StoreError> {
    use crate::schema::incident_categories as cat;
    use diesel::sql_types::Double;
    let band = |lat: f64| LatBand(lat.into_sql::<Double>());
    type Row = (
        CategoryRecord,
        Option<(String, String, f64, f64, Option<String>, String)>,
        Option<String>,
    );
    let rows: Vec<Row> = cat::table
        .left_join(
            incidents::table.on(incidents::category_code
                .eq(cat::code)
                .and(LatBand(incidents::lat).between(band(min_lat), band(max_lat)))
                .and(incidents::status.ne_all(["closed", "rejected"]))
                .and(incidents::lat.between(min_lat, max_lat))
                .and(incidents::lon.between(min_lon, max_lon))),
        )
        .left_join(units::table.on(units::id.eq(incidents::owner_unit_id)))
        .filter(cat::code.eq(code))
        .select((
            CategoryRecord::as_select(),
            (
                incidents::id,
                incidents::status,
                incidents::lon,
                incidents::lat,
                incidents::reporter_id,
                incidents::created_at,
            )
                .nullable(),
            units::path.nullable(),
        ))
        .order(incidents::id.asc())
        .limit(limit)
        .load(conn)?;
    let mut rows = rows.into_iter();
    let Some((category, case, path)) = rows.next() else {
        return Ok(None);
    };
    let nearby = std::iter::once((case, path))
        .chain(rows.map(|(_, case, path)| (case, path)))
        .filter_map(|(case, path)| case.zip(path))
        .map(
            |((id, status, lon, lat, reporter_id, created_at), owner_path)| NearbyCase {
                id,
                status,
                lon,
                lat,
                reporter_id,
                created_at,
                owner_path,
            },
        )
        .collect();
    Ok(Some((category, nearby)))
}

/// The departments summoned to a case, in the order summoned.
///
/// # Errors
/// Database errors.
pub fn summoned(conn: &mut AnyConnection, id: &str) -> Result<Vec<Summons>, StoreError> {
    Ok(summons::table
        .filter(summons::incident_id.eq(id))
        .select(Summons::as_select())
        .order((summons::summoned_at.asc(), summons::department_id.asc()))
        .load(conn)?)
}

/// The departments summoned to these cases, each case's in the order summoned.
///
/// # Errors
/// Database errors.
pub fn summoned_of(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<Summons>, StoreError> {
    Ok(summons::table
        .filter(summons::incident_id.eq_any(ids))
        .select(Summons::as_select())
        .order((
            summons::incident_id.asc(),
            summons::summoned_at.asc(),
            summons::department_id.asc(),
        ))
        .load(conn)?)
}

/// Summons departments (one already summoned is left as it is).
///
/// # Errors
/// Database errors.
pub fn summon(conn: &mut AnyConnection, rows: &[Summons]) -> Result<(), StoreError> {
    for row in rows {
        on_backend!(conn, |c| diesel::insert_into(summons::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(())
}

/// Up to `limit` summonses whose report-in deadline passed unanswered and unnoticed, held
/// like [`overdue`] so one clock takes each.
///
/// # Errors
/// Database errors.
pub fn missed_report_ins(
    conn: &mut AnyConnection,
    now: &str,
    limit: i64,
) -> Result<Vec<Summons>, StoreError> {
    macro_rules! missed {
        () => {
            summons::table
                .filter(summons::report_in_due.lt(now.to_owned()))
                .filter(summons::reported_in_at.is_null())
                .filter(summons::missed_at.is_null())
                .select(Summons::as_select())
                .order(summons::report_in_due.asc())
                .limit(limit)
        };
    }
    Ok(match conn {
        AnyConnection::Postgresql(c) => missed!().for_update().skip_locked().load(c)?,
        AnyConnection::Sqlite(c) => missed!().load(c)?,
    })
}

/// Notes that a summons' report-in was missed; false when someone noted it first.
///
/// # Errors
/// Database errors.
pub fn note_missed(
    conn: &mut AnyConnection,
    id: &str,
    department_id: &str,
    at: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        summons::table
            .filter(summons::incident_id.eq(id))
            .filter(summons::department_id.eq(department_id))
            .filter(summons::missed_at.is_null())
            .filter(summons::reported_in_at.is_null()),
    )
    .set(summons::missed_at.eq(at))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records that a summoned department reported in.
///
/// # Errors
/// Database errors.
pub fn report_in(
    conn: &mut AnyConnection,
    id: &str,
    department_id: &str,
    at: &str,
) -> Result<(), StoreError> {
    diesel::update(
        summons::table
            .filter(summons::incident_id.eq(id))
            .filter(summons::department_id.eq(department_id))
            .filter(summons::reported_in_at.is_null()),
    )
    .set(summons::reported_in_at.eq(at))
    .execute(conn)?;
    Ok(())
}

/// Whether a department was summoned to the case.
///
/// # Errors
/// Database errors.
pub fn is_summoned(
    conn: &mut AnyConnection,
    id: &str,
    department_id: &str,
) -> Result<bool, StoreError> {
    Ok(summons::table
        .filter(summons::incident_id.eq(id))
        .filter(summons::department_id.eq(department_id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// How many cases refer to the category.
///
/// # Errors
/// Database errors.
pub fn of_category(conn: &mut AnyConnection, code: &str) -> Result<i64, StoreError> {
    Ok(incidents::table
        .filter(incidents::category_code.eq(code))
        .count()
        .get_result(conn)?)
}

const OWNER_UNIT: UnitRef = UnitRef {
    before: "incidents.owner_unit_id",
    after: "",
};

/// Filters of the incident list.
#[derive(Debug, Default, Clone)]
pub struct IncidentFilter {
    pub statuses: Vec<String>,
    pub category: Option<String>,
    pub priority: Option<String>,
    /// Only cases owned inside this subtree (a unit path).
    pub under_path: Option<String>,
    /// Only cases dispatched to this department.
    pub department_id: Option<String>,
    /// Only cases with a deadline of their stage before this time (stored form).
    pub overdue_at: Option<String>,
    /// Reported at or after / before these times (stored form).
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    /// Closed at or after / before these times (stored form).
    pub closed_from: Option<String>,
    pub closed_to: Option<String>,
    /// Reported by this account.
    pub reporter_id: Option<String>,
    /// Leave out anonymous reports (a reporter filter by anyone but the reporter must not
    /// tell who made them).
    pub named_only: bool,
    /// Newest first (ids are UUIDv7, so id order is report order).
    pub newest_first: bool,
    /// Only cases inside this box, WGS-84 degrees: (min lng, min lat, max lng, max lat).
    pub bbox: Option<(f64, f64, f64, f64)>,
    /// Only cases whose leaf cell lies in one of these inclusive ranges of cell indexes (the
    /// leaf descendants of H3 cells, `wangge_geo::leaf_range`).
    pub cell_ranges: Vec<(i64, i64)>,
}

/// Who the list is for: a reach over owner units, and for a department account its own cases
/// (dispatched or summoned), whatever their unit.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    Units(Reach<'a>),
    Department(&'a str),
}

/// One page of cases in id order after the cursor.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    viewer: Viewer<'_>,
    filter: &IncidentFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<IncidentRecord>, StoreError> {
    let mut q = incidents::table.into_boxed();
    let reach = match viewer {
        // A subtree asked for inside the caller's reach needs no second condition: the
        // reach of a district's command centre is every unit of the district.
        Viewer::Units(reach)
            if filter
                .under_path
                .as_deref()
                .is_some_and(|p| reach.contains(p)) =>
        {
            None
        }
        Viewer::Units(reach) => Some(reach_sql::<incidents::table>(conn, reach)?),
        Viewer::Department(d) => {
            q = q.filter(
                incidents::department_id
                    .eq(d.to_owned())
                    .or(incidents::id.eq_any(
                        summons::table
                            .filter(summons::department_id.eq(d.to_owned()))
                            .select(summons::incident_id),
                    )),
            );
            None
        }
    };
    let under = filter
        .under_path
        .as_ref()
        .map(|p| subtrees_sql::<incidents::table>(conn, std::slice::from_ref(p)))
        .transpose()?;
    let mut few_units = false;
    for f in [reach, under].into_iter().flatten() {
        match f {
            ReachSql::Empty => return Ok(Vec::new()),
            ReachSql::All => {}
            ReachSql::Units(ids) => {
                few_units = true;
                q = q.filter(incidents::owner_unit_id.eq_any(ids));
            }
            ReachSql::Subtrees(..) => {
                if let Some(c) = f.condition(&OWNER_UNIT) {
                    q = q.filter(c);
                }
            }
        }
    }
    if !filter.statuses.is_empty() {
        q = q.filter(incidents::status.eq_any(filter.statuses.clone()));
    }
    // Open cases only: say so in the words of the open-cases index (a literal, so the
    // planner can match it whatever the bound values).
    let open_only = !filter.statuses.is_empty()
        && filter
            .statuses
            .iter()
            .all(|s| s != "closed" && s != "rejected");
    if open_only {
        q = q.filter(sql::<Bool>(
            "incidents.status NOT IN ('closed', 'rejected')",
        ));
    }
    // A few units' open cases are few: take the page's ids from the open-cases index and
    // sort them (by an expression that sorts as the id does). Ordered by the bare id,
    // PostgreSQL walks the primary key through a year of closed cases instead, taking it for
    // the cheaper way to the first page (25-400 ms with a million cases; docs/benchmarks.md).
    let by_sort = open_only && few_units;
    if let Some(c) = &filter.category {
        q = q.filter(
            incidents::category_code
                .eq(c.clone())
                .or(incidents::category_code.like(format!("{c}%"))),
        );
    }
    if let Some(p) = &filter.priority {
        q = q.filter(incidents::priority.eq(p.clone()));
    }
    if let Some(d) = &filter.department_id {
        q = q.filter(incidents::department_id.eq(d.clone()));
    }
    if let Some(now) = &filter.overdue_at {
        q = q
            .filter(incidents::status.ne_all(["closed", "rejected", "on_hold"]))
            .filter(
                incidents::register_due
                    .lt(now.clone())
                    .or(incidents::sign_due.lt(now.clone()))
                    .or(incidents::close_due.lt(now.clone())),
            );
    }
    if let Some(t) = &filter.created_from {
        q = q.filter(incidents::created_at.ge(t.clone()));
    }
    if let Some(t) = &filter.created_to {
        q = q.filter(incidents::created_at.lt(t.clone()));
    }
    if let Some(t) = &filter.closed_from {
        q = q.filter(incidents::closed_at.ge(t.clone()));
    }
    if let Some(t) = &filter.closed_to {
        q = q.filter(incidents::closed_at.lt(t.clone()));
    }
    if let Some(r) = &filter.reporter_id {
        q = q.filter(incidents::reporter_id.eq(r.clone()));
    }
    if filter.named_only {
        q = q.filter(incidents::anonymous.eq(false));
    }
    if let Some((min_lng, min_lat, max_lng, max_lat)) = filter.bbox {
        q = q
            .filter(incidents::lat.between(min_lat, max_lat))
            .filter(incidents::lon.between(min_lng, max_lng));
    }
    if let Some(((lo, hi), rest)) = filter.cell_ranges.split_first() {
        let mut any: Box<
            dyn BoxableExpression<
                    incidents::table,
                    crate::db::Backend,
                    SqlType = diesel::sql_types::Bool,
                >,
        > = Box::new(incidents::cell.between(*lo, *hi));
        for (lo, hi) in rest {
            any = Box::new(any.or(incidents::cell.between(*lo, *hi)));
        }
        q = q.filter(any);
    }
    q = match (filter.newest_first, after) {
        (true, Some(a)) => q.filter(incidents::id.lt(a.to_owned())),
        (false, Some(a)) => q.filter(incidents::id.gt(a.to_owned())),
        (_, None) => q,
    };
    if by_sort {
        // The page's ids from the open-cases index alone, then those rows.
        let sorted = sql::<diesel::sql_types::Text>("incidents.id || ''");
        let q = if filter.newest_first {
            q.order(sorted.desc())
        } else {
            q.order(sorted.asc())
        };
        let ids: Vec<String> = q.select(incidents::id).limit(limit).load(conn)?;
        // Again with the status: a case closed between the two reads stays out.
        let mut rows: Vec<IncidentRecord> = incidents::table
            .filter(incidents::id.eq_any(&ids))
            .filter(incidents::status.eq_any(&filter.statuses))
            .select(IncidentRecord::as_select())
            .load(conn)?;
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        if filter.newest_first {
            rows.reverse();
        }
        return Ok(rows);
    }
    let q = if filter.newest_first {
        q.order(incidents::id.desc())
    } else {
        q.order(incidents::id.asc())
    };
    Ok(q.select(IncidentRecord::as_select())
        .limit(limit)
        .load(conn)?)
}

/// A file attached to a case.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments, treat_none_as_default_value = false)]
pub struct Attachment {
    pub incident_id: String,
    pub hash: String,
    pub kind: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub uploaded_by: Option<String>,
    pub created_at: String,
}

/// Links a content to a case. False when the same content was attached as the same kind.
///
/// # Errors
/// Database errors.
pub fn attach(conn: &mut AnyConnection, row: &Attachment) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| diesel::insert_into(attachments::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// The attachments of these cases, each case's oldest first.
///
/// # Errors
/// Database errors.
pub fn attachments_of_cases(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> Result<Vec<Attachment>, StoreError> {
    Ok(attachments::table
        .filter(attachments::incident_id.eq_any(ids))
        .select(Attachment::as_select())
        .order((
            attachments::incident_id.asc(),
            attachments::created_at.asc(),
            attachments::hash.asc(),
        ))
        .load(conn)?)
}

/// A case's attachments, oldest first.
///
/// # Errors
/// Database errors.
pub fn attachments_of(conn: &mut AnyConnection, id: &str) -> Result<Vec<Attachment>, StoreError> {
    Ok(attachments::table
        .filter(attachments::incident_id.eq(id))
        .select(Attachment::as_select())
        .order((attachments::created_at.asc(), attachments::hash.asc()))
        .load(conn)?)
}
