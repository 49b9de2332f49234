//! What a new report reads in one statement: its category, and the open cases of it nearby.

use crate::categories::CategoryRecord;
use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::{incidents, units};
use diesel::prelude::*;

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
