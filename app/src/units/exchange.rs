//! The grid's GeoJSON exchange format, shared by the API, the CLI and the demo seed: a
//! FeatureCollection whose features carry `code`, `name`, `level` and `parent_code`, with the
//! unit's boundary (or, failing that, its dissolved cell outline) as geometry. Export writes
//! exactly what import reads, so the two round-trip.

use serde_json::{Value, json};
use wangge_domain::{Level, UnitCode, UnitName};
use wangge_geo::{Coverage, Resolution};
use wangge_persistence::grid::{CoverageRecord, ImportBatch, ImportItem, UnitRecord};
use wangge_persistence::{AnyConnection, ImportProblem, StoreError, grid};

/// What a streaming export writes to.
pub type Sink<'a> = dyn FnMut(&[u8]) -> Result<(), StoreError> + 'a;

/// At most this many features in one import.
pub const MAX_FEATURES: usize = 50_000;

fn problem(index: usize, code: Option<&str>, problem: impl Into<String>) -> ImportProblem {
    ImportProblem {
        index,
        code: code.map(str::to_owned),
        problem: problem.into(),
    }
}

/// Parses and tiles every feature, collecting every problem rather than stopping at the first;
/// the import reports them together with the relational ones. `progress` is told how many
/// features are done.
///
/// # Errors
/// Problems with the document itself (not a FeatureCollection, too many features).
pub fn parse_feature_collection(
    doc: &Value,
    leaf: Resolution,
    mut progress: impl FnMut(usize),
) -> Result<ImportBatch, Vec<ImportProblem>> {
    if doc.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(vec![problem(
            0,
            None,
            "the body must be a GeoJSON FeatureCollection",
        )]);
    }
    let Some(features) = doc.get("features").and_then(Value::as_array) else {
        return Err(vec![problem(
            0,
            None,
            "a FeatureCollection needs a features array",
        )]);
    };
    if features.len() > MAX_FEATURES {
        return Err(vec![problem(
            0,
            None,
            format!("at most {MAX_FEATURES} features per import; split the file"),
        )]);
    }
    let mut batch = ImportBatch::default();
    for (index, f) in features.iter().enumerate() {
        if let Some(code) = f.pointer("/properties/code").and_then(Value::as_str) {
            batch.codes_in_file.insert(code.to_owned());
        }
        match parse_feature(index, f, leaf) {
            Ok(item) => batch.items.push(item),
            Err(mut p) => batch.problems.append(&mut p),
        }
        progress(index + 1);
    }
    Ok(batch)
}

fn parse_feature(
    index: usize,
    f: &Value,
    leaf: Resolution,
) -> Result<ImportItem, Vec<ImportProblem>> {
    if f.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(vec![problem(index, None, "not a GeoJSON Feature")]);
    }
    let props = f.get("properties").cloned().unwrap_or(Value::Null);
    let code_str = props.get("code").and_then(Value::as_str);
    let mut problems = Vec::new();
    let mut bad = |p: String| problems.push(problem(index, code_str, p));
    let code = match code_str.map(UnitCode::parse) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            bad(e.to_string());
            None
        }
        None => {
            bad("properties.code (a string of digits) is required".into());
            None
        }
    };
    let name = match props
        .get("name")
        .and_then(Value::as_str)
        .map(UnitName::parse)
    {
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            bad(e.to_string());
            None
        }
        None => {
            bad("properties.name (a string) is required".into());
            None
        }
    };
    let level = match props.get("level") {
        Some(Value::Number(n)) => n.as_i64().map(Level::from_number),
        Some(Value::String(s)) => Some(s.parse::<Level>()),
        _ => None,
    };
    let level = match level {
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            bad(e.to_string());
            None
        }
        None => {
            bad("properties.level (1 to 5 or a level name) is required".into());
            None
        }
    };
    let parent_code = match props.get("parent_code") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match UnitCode::parse(s) {
            Ok(c) => Some(c),
            Err(e) => {
                bad(format!("parent_{e}"));
                None
            }
        },
        Some(_) => {
            bad("properties.parent_code must be a string or null".into());
            None
        }
    };
    // An exported cell outline is derived from the cells: importing it must not turn it into
    // a boundary, or export → import → export would not give the same file.
    let derived = props.get("geometry_source").and_then(Value::as_str) == Some("cells");
    let (coverage, boundary) = match f.get("geometry") {
        None | Some(Value::Null) => (None, None),
        Some(g) => match wangge_geo::parse_polygons(g)
            .and_then(|shape| Coverage::from_polygons(&shape, leaf).map(|c| (c, shape)))
        {
            Ok((cov, shape)) => (
                Some(cov),
                (!derived).then(|| wangge_geo::polygons_to_geojson(&shape).to_string()),
            ),
            Err(e) => {
                bad(format!("geometry: {e}"));
                (None, None)
            }
        },
    };
    match (code, name, level) {
        (Some(code), Some(name), Some(level)) if problems.is_empty() => Ok(ImportItem {
            index,
            code,
            name,
            level,
            parent_code,
            coverage,
            boundary,
        }),
        _ => Err(problems),
    }
}

/// A unit's geometry for export: its boundary when one was given, else the outline of its
/// cells, else null. The second value says which.
///
/// # Errors
/// Unreadable stored data.
pub fn unit_geometry(rec: Option<&CoverageRecord>) -> Result<(Value, &'static str), StoreError> {
    let Some(rec) = rec else {
        return Ok((Value::Null, "none"));
    };
    if let Some(b) = &rec.boundary {
        let v: Value = serde_json::from_str(b).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        return Ok((v, "boundary"));
    }
    let cov = rec.coverage()?;
    if cov.is_empty() {
        return Ok((Value::Null, "none"));
    }
    let shape = cov
        .outline()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((wangge_geo::polygons_to_geojson(&shape), "cells"))
}

/// One unit as a Feature of the exchange format.
///
/// # Errors
/// Unreadable stored data.
pub fn unit_feature(
    unit: &UnitRecord,
    parent_code: Option<&str>,
    rec: Option<&CoverageRecord>,
) -> Result<Value, StoreError> {
    let (geometry, source) = unit_geometry(rec)?;
    Ok(json!({
        "type": "Feature",
        "id": unit.id,
        "geometry": geometry,
        "properties": {
            "code": unit.code,
            "name": unit.name,
            "level": unit.level,
            "parent_code": parent_code,
            "geometry_source": source,
        },
    }))
}

/// Exports the subtree under `root` (or the whole grid), parents first, as a GeoJSON
/// FeatureCollection written to `out` one feature at a time: memory stays flat however large
/// the grid (the whole district at resolution 11 is about 65 MB).
///
/// # Errors
/// Database errors, unreadable stored data, or the sink's error.
pub fn export(
    conn: &mut AnyConnection,
    root: Option<&UnitRecord>,
    out: &mut Sink<'_>,
) -> Result<usize, StoreError> {
    let units = match root {
        Some(r) => grid::subtree(conn, r)?,
        None => grid::all_units(conn)?,
    };
    let mut codes = std::collections::HashMap::new();
    if let Some(r) = root {
        // The root's own parent is outside the export; name it so the file can be imported
        // back under the same parent.
        for a in grid::ancestors(conn, r)? {
            codes.insert(a.id.clone(), a.code.clone());
        }
    }
    for u in &units {
        codes.insert(u.id.clone(), u.code.clone());
    }
    out(br#"{"type":"FeatureCollection","features":["#)?;
    for (i, u) in units.iter().enumerate() {
        let rec = grid::get_coverage(conn, &u.id)?;
        let parent_code = u
            .parent_id
            .as_ref()
            .and_then(|p| codes.get(p))
            .map(String::as_str);
        let feature = unit_feature(u, parent_code, rec.as_ref())?;
        if i > 0 {
            out(b",")?;
        }
        out(feature.to_string().as_bytes())?;
    }
    out(b"]}")?;
    Ok(units.len())
}
