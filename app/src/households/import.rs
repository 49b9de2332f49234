//! Bulk import of households and their residents, from CSV or NDJSON: the one use case behind
//! `wangge households import`, `POST /api/v1/households/import` and the demo seed. Every row is validated and
//! every problem reported with its line; nothing is written unless every row is good, and then
//! everything is written in one transaction.
//!
//! CSV: a header row, then one row per resident; rows with the same `household_ref` form one
//! household, whose own columns come from its first row. A household without residents is a
//! row with an empty `name`. Tags are separated by `;`. Columns:
//! `household_ref, address, lat, lng, crs, unit_code, unit_reason, tags, notes, name,
//! relation, gender, birth_date, id_card, phone, resident_tags` (only `household_ref`,
//! `address`, `lat`, `lng` are required; unknown columns are refused).
//!
//! NDJSON: one household per line: `{"ref", "address", "location": {"lat", "lng", "crs"},
//! "unit_code", "unit_reason", "tags": [], "notes", "residents": [{"name", "relation",
//! "gender", "birth_date", "id_card", "phone", "tags": []}]}`.

use super::residents::seal;
use crate::error::AppError;
use crate::tx::{Audit, Change, Entity, Tx, new_id};
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use wangge_domain::{Action, Address, NewResident, Notes, Tag, UnitCode, UnitReason};
use wangge_geo::{Crs, Resolution};
use wangge_persistence::households::{self as store, NewHousehold};
use wangge_persistence::{grid, residents};

/// At most this many data rows (or lines) per import.
pub const MAX_ROWS: usize = 250_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

/// One rejected row: its line in the file (1-based, the CSV header being line 1), the
/// household it belongs to, the field to blame when one is, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RowProblem {
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub household_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub problem: String,
}

/// A household that passed validation, not yet placed.
pub struct ParsedHousehold {
    pub line: usize,
    pub reference: String,
    pub address: Address,
    pub lon: f64,
    pub lat: f64,
    pub cell: i64,
    pub unit_code: Option<UnitCode>,
    pub unit_reason: Option<UnitReason>,
    pub tags: Vec<Tag>,
    pub notes: Option<Notes>,
    pub residents: Vec<(usize, NewResident)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvRow {
    household_ref: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lng: String,
    #[serde(default)]
    crs: String,
    #[serde(default)]
    unit_code: String,
    #[serde(default)]
    unit_reason: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    relation: String,
    #[serde(default)]
    gender: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    id_card: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    resident_tags: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPoint {
    lat: f64,
    lng: f64,
    #[serde(default)]
    crs: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonResident {
    name: String,
    relation: String,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    birth_date: Option<String>,
    #[serde(default)]
    id_card: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonHousehold {
    #[serde(rename = "ref")]
    reference: String,
    address: String,
    location: JsonPoint,
    #[serde(default)]
    unit_code: Option<String>,
    #[serde(default)]
    unit_reason: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    residents: Vec<JsonResident>,
}

fn none_if_empty(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

fn split_tags(s: &str) -> Vec<String> {
    s.split([';', '|'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

struct Problems {
    list: Vec<RowProblem>,
}

impl Problems {
    fn add(
        &mut self,
        line: usize,
        reference: Option<&str>,
        field: Option<&str>,
        problem: impl Into<String>,
    ) {
        // A file of a million bad rows must not become a report of a million lines.
        if self.list.len() < 1000 {
            self.list.push(RowProblem {
                line,
                household_ref: reference.map(str::to_owned),
                field: field.map(str::to_owned),
                problem: problem.into(),
            });
        }
    }
}

/// The household-level fields, validated.
#[allow(clippy::too_many_arguments)]
fn household(
    p: &mut Problems,
    line: usize,
    reference: &str,
    address: &str,
    lat: Option<f64>,
    lng: Option<f64>,
    crs: Option<&str>,
    unit_code: Option<&str>,
    unit_reason: Option<&str>,
    tags: &[String],
    notes: Option<&str>,
    leaf: Resolution,
) -> Option<ParsedHousehold> {
    let r = Some(reference);
    let before = p.list.len();
    let address = Address::parse(address)
        .map_err(|e| p.add(line, r, Some("address"), e.reason))
        .ok();
    let crs: Option<Crs> = match crs {
        None => Some(Crs::Wgs84),
        Some(c) => c
            .parse()
            .map_err(|e: wangge_geo::GeoError| p.add(line, r, Some("crs"), e.to_string()))
            .ok(),
    };
    let point = match (lat, lng, crs) {
        (Some(lat), Some(lng), Some(crs)) => wangge_geo::to_wgs84(lat, lng, crs)
            .map_err(|e| p.add(line, r, Some("location"), e.to_string()))
            .ok(),
        (None, _, _) | (_, None, _) => {
            p.add(
                line,
                r,
                Some("location"),
                "lat and lng are required numbers",
            );
            None
        }
        _ => None,
    };
    let unit_code = unit_code
        .map(|c| UnitCode::parse(c).map_err(|e| p.add(line, r, Some("unit_code"), e.reason)))
        .transpose()
        .ok()
        .flatten();
    let unit_reason = unit_reason
        .map(|s| UnitReason::parse(s).map_err(|e| p.add(line, r, Some("unit_reason"), e.reason)))
        .transpose()
        .ok()
        .flatten();
    if unit_code.is_some() != unit_reason.is_some() && p.list.len() == before {
        p.add(
            line,
            r,
            Some("unit_reason"),
            "unit_code and unit_reason go together",
        );
    }
    let tags = Tag::parse_list(tags.iter().map(String::as_str))
        .map_err(|e| p.add(line, r, Some("tags"), e.reason))
        .ok();
    let notes = notes
        .map(|n| Notes::parse(n).map_err(|e| p.add(line, r, Some("notes"), e.reason)))
        .transpose()
        .ok()
        .flatten();
    if p.list.len() > before {
        return None;
    }
    let (address, ll, tags) = (address?, point?, tags?);
    Some(ParsedHousehold {
        line,
        reference: reference.to_owned(),
        address,
        lon: ll.lng(),
        lat: ll.lat(),
        cell: i64::try_from(u64::from(ll.to_cell(leaf))).unwrap_or_default(),
        unit_code,
        unit_reason,
        tags,
        notes,
        residents: Vec::new(),
    })
}

#[allow(clippy::too_many_arguments)]
fn resident(
    p: &mut Problems,
    line: usize,
    reference: &str,
    name: &str,
    relation: &str,
    gender: Option<&str>,
    birth_date: Option<&str>,
    id_card: Option<&str>,
    phone: Option<&str>,
    tags: &[String],
) -> Option<NewResident> {
    NewResident::parse(name, relation, gender, birth_date, id_card, phone, tags)
        .map_err(|e| p.add(line, Some(reference), Some(e.field), e.reason))
        .ok()
}

fn parse_f64(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Parses and validates a whole file. Returns the households, or every problem found.
///
/// # Errors
/// The problems, each with its line.
pub fn parse(
    bytes: &[u8],
    format: Format,
    leaf: Resolution,
) -> Result<Vec<ParsedHousehold>, Vec<RowProblem>> {
    let mut p = Problems { list: Vec::new() };
    let mut out: Vec<ParsedHousehold> = Vec::new();
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    match format {
        Format::Csv => {
            // A UTF-8 BOM (Excel writes one) is not part of the first column's name.
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(bytes);
            for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
                let line = i + 2;
                if i >= MAX_ROWS {
                    p.add(
                        line,
                        None,
                        None,
                        format!("more than {MAX_ROWS} rows; split the file"),
                    );
                    break;
                }
                let row = match row {
                    Ok(r) => r,
                    Err(e) => {
                        p.add(line, None, None, format!("unreadable row: {e}"));
                        continue;
                    }
                };
                let reference = row.household_ref.trim().to_owned();
                if reference.is_empty() || reference.chars().count() > 64 {
                    p.add(
                        line,
                        None,
                        Some("household_ref"),
                        "must be 1 to 64 characters",
                    );
                    continue;
                }
                let idx = match by_ref.get(&reference) {
                    Some(&idx) => Some(idx),
                    None => {
                        let h = household(
                            &mut p,
                            line,
                            &reference,
                            &row.address,
                            parse_f64(&row.lat),
                            parse_f64(&row.lng),
                            none_if_empty(&row.crs),
                            none_if_empty(&row.unit_code),
                            none_if_empty(&row.unit_reason),
                            &split_tags(&row.tags),
                            none_if_empty(&row.notes),
                            leaf,
                        );
                        // Remember the reference even when it failed, so its other rows do not
                        // report the same household again.
                        by_ref.insert(reference.clone(), usize::MAX);
                        h.map(|h| {
                            out.push(h);
                            by_ref.insert(reference.clone(), out.len() - 1);
                            out.len() - 1
                        })
                    }
                };
                if row.name.trim().is_empty() {
                    continue;
                }
                if let Some(r) = resident(
                    &mut p,
                    line,
                    &reference,
                    &row.name,
                    &row.relation,
                    none_if_empty(&row.gender),
                    none_if_empty(&row.birth_date),
                    none_if_empty(&row.id_card),
                    none_if_empty(&row.phone),
                    &split_tags(&row.resident_tags),
                ) && let Some(h) = idx.and_then(|i| out.get_mut(i))
                {
                    h.residents.push((line, r));
                }
            }
        }
        Format::Ndjson => {
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    p.add(1, None, None, format!("not UTF-8: {e}"));
                    return Err(p.list);
                }
            };
            for (i, raw) in text.lines().enumerate() {
                let line = i + 1;
                if raw.trim().is_empty() {
                    continue;
                }
                if out.len() + p.list.len() >= MAX_ROWS {
                    p.add(
                        line,
                        None,
                        None,
                        format!("more than {MAX_ROWS} lines; split the file"),
                    );
                    break;
                }
                let j: JsonHousehold = match serde_json::from_str(raw) {
                    Ok(j) => j,
                    Err(e) => {
                        p.add(line, None, None, format!("not a household object: {e}"));
                        continue;
                    }
                };
                let reference = j.reference.trim().to_owned();
                if reference.is_empty() || reference.chars().count() > 64 {
                    p.add(line, None, Some("ref"), "must be 1 to 64 characters");
                    continue;
                }
                if by_ref.contains_key(&reference) {
                    p.add(
                        line,
                        Some(&reference),
                        Some("ref"),
                        "appears twice in the file",
                    );
                    continue;
                }
                by_ref.insert(reference.clone(), 0);
                let h = household(
                    &mut p,
                    line,
                    &reference,
                    &j.address,
                    Some(j.location.lat),
                    Some(j.location.lng),
                    j.location.crs.as_deref(),
                    j.unit_code.as_deref(),
                    j.unit_reason.as_deref(),
                    &j.tags,
                    j.notes.as_deref(),
                    leaf,
                );
                let residents: Vec<(usize, NewResident)> = j
                    .residents
                    .iter()
                    .filter_map(|r| {
                        resident(
                            &mut p,
                            line,
                            &reference,
                            &r.name,
                            &r.relation,
                            r.gender.as_deref(),
                            r.birth_date.as_deref(),
                            r.id_card.as_deref(),
                            r.phone.as_deref(),
                            &r.tags,
                        )
                        .map(|x| (line, x))
                    })
                    .collect();
                if let Some(mut h) = h {
                    h.residents = residents;
                    out.push(h);
                }
            }
        }
    }
    // The same identity number twice in one file.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for h in &out {
        for (line, r) in &h.residents {
            if let Some(n) = r.identity.id_card()
                && let Some(first) = seen.insert(n.expose().to_owned(), *line)
            {
                p.add(
                    *line,
                    Some(&h.reference),
                    Some("id_card"),
                    format!("the same identity number is on line {first}"),
                );
            }
        }
    }
    if out.is_empty() && p.list.is_empty() {
        p.add(1, None, None, "the file holds no households");
    }
    if p.list.is_empty() {
        Ok(out)
    } else {
        Err(p.list)
    }
}

/// What an import stored.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportSummary {
    pub households: usize,
    pub residents: usize,
}

/// 422 `rows_rejected` with every rejected row; nothing was written.
#[must_use]
pub fn rejected(rows: Vec<RowProblem>) -> AppError {
    AppError::Unprocessable {
        code: "rows_rejected",
        message: format!("{} row(s) were rejected; nothing was written", rows.len()),
        details: json!({ "rows": rows }),
    }
}

/// Checks, before a file is parsed, that the caller may register households somewhere.
///
/// # Errors
/// 403.
pub fn authorize(caller: &crate::caller::Caller) -> Result<(), AppError> {
    caller.require_some(
        Action::WriteHousehold,
        "importing households needs a role that registers them and assigned units",
    )
}

/// Places every household (named unit, or the deepest unit `snapshot` locates its point in:
/// the service's, or one of the caller's own transaction), checks it
/// against the caller's scope and the registered identity numbers, then stores everything,
/// each household and resident recorded as if registered one by one, or nothing, with every
/// problem.
///
/// # Errors
/// `rows_rejected` listing every rejected row; 403.
pub fn import(
    tx: &mut Tx<'_>,
    parsed: Vec<ParsedHousehold>,
    source: &'static str,
    snapshot: &crate::locate::Snapshot,
    mut progress: impl FnMut(usize),
) -> Result<ImportSummary, AppError> {
    authorize(tx.caller)?;
    let mut p = Problems { list: Vec::new() };
    let mut by_code: HashMap<String, Option<(String, String)>> = HashMap::new();
    let mut by_id: HashMap<String, String> = HashMap::new();
    // (household index, unit id, unit path) of the households that found a place.
    let mut placed: Vec<(usize, String, String)> = Vec::with_capacity(parsed.len());
    for (i, h) in parsed.iter().enumerate() {
        let r = Some(h.reference.as_str());
        let (unit, action) = match &h.unit_code {
            Some(code) => {
                if !by_code.contains_key(code.as_str()) {
                    let u = grid::find_by_code(tx.conn, code.as_str())?.map(|u| (u.id, u.path));
                    by_code.insert(code.as_str().to_owned(), u);
                }
                match by_code.get(code.as_str()).cloned().flatten() {
                    Some(u) => (u, Action::OverrideHouseholdUnit),
                    None => {
                        p.add(
                            h.line,
                            r,
                            Some("unit_code"),
                            format!("no unit has code {}", code.as_str()),
                        );
                        continue;
                    }
                }
            }
            None => {
                let located = wangge_geo::LatLng::new(h.lat, h.lon)
                    .ok()
                    .and_then(|ll| snapshot.locate(ll))
                    .and_then(|(_, chain)| chain.first().map(|u| u.id.clone()));
                let Some(id) = located else {
                    p.add(h.line, r, Some("location"), "no unit covers this location");
                    continue;
                };
                if !by_id.contains_key(&id) {
                    let unit = grid::get_unit(tx.conn, wangge_domain::UnitId::parse(&id)?)?;
                    by_id.insert(id.clone(), unit.path);
                }
                let path = by_id.get(&id).cloned().unwrap_or_default();
                ((id, path), Action::WriteHousehold)
            }
        };
        if !tx.caller.permits(action, &unit.1) {
            p.add(
                h.line,
                r,
                None,
                "this household's unit is outside what you may register",
            );
            continue;
        }
        placed.push((i, unit.0, unit.1));
    }
    let sealed: Vec<Vec<_>> = parsed
        .iter()
        .map(|h| {
            h.residents
                .iter()
                .map(|(_, r)| seal(&tx.svc.pii, r))
                .collect()
        })
        .collect();
    let mut lines_by_hash: HashMap<&str, (usize, &str)> = HashMap::new();
    for (h, s) in parsed.iter().zip(&sealed) {
        for ((line, _), (id_card, _)) in h.residents.iter().zip(s) {
            if let Some(ic) = id_card {
                lines_by_hash.insert(ic.hash.as_str(), (*line, h.reference.as_str()));
            }
        }
    }
    let hashes: Vec<&str> = lines_by_hash.keys().copied().collect();
    let mut taken = HashSet::new();
    for chunk in hashes.chunks(500) {
        taken.extend(residents::registered_id_card_hashes(tx.conn, chunk, None)?);
    }
    for h in &taken {
        if let Some((line, reference)) = lines_by_hash.get(h.as_str()) {
            p.add(
                *line,
                Some(reference),
                Some("id_card"),
                "a resident with this identity number is registered already",
            );
        }
    }
    if !taken.is_empty() {
        // Each such line says the person is registered somewhere: the search it amounts to
        // is on record even though nothing is written.
        tx.audit_lasting(Audit {
            action: "pii.searched",
            subject_type: Some("resident"),
            subject_id: None,
            unit_path: None,
            details: json!({ "id_card": true, "phone": false, "found": taken.len(), "via": "households.import", "outcome": "refused_registered" }),
        });
    }
    if !p.list.is_empty() {
        p.list.sort_by_key(|x| x.line);
        return Err(rejected(p.list));
    }
    let actor = tx.caller.account_id().map(str::to_owned);
    let now = tx.now().to_owned();
    let mut summary = ImportSummary::default();
    for chunk in placed.chunks(400) {
        let ids: Vec<String> = chunk.iter().map(|_| new_id()).collect();
        let tags: Vec<String> = chunk
            .iter()
            .map(|(i, _, _)| super::stored_tags(&parsed[*i].tags))
            .collect();
        let rows: Vec<NewHousehold<'_>> = chunk
            .iter()
            .zip(&ids)
            .zip(&tags)
            .map(|(((i, unit_id, _), id), tags)| {
                let h = &parsed[*i];
                NewHousehold {
                    id,
                    unit_id,
                    address: h.address.as_str(),
                    lon: h.lon,
                    lat: h.lat,
                    cell: h.cell,
                    unit_reason: h.unit_reason.as_ref().map(UnitReason::as_str),
                    tags,
                    notes: h.notes.as_ref().map(Notes::as_str),
                    created_by: actor.as_deref(),
                }
            })
            .collect();
        store::insert(tx.conn, &rows, &now)?;
        let mut resident_rows = Vec::new();
        let mut births: Vec<Option<String>> = Vec::new();
        let mut resident_tags: Vec<String> = Vec::new();
        // (household id, its unit's path) per resident.
        let mut owners: Vec<(&str, &str)> = Vec::new();
        for ((i, _, path), id) in chunk.iter().zip(&ids) {
            for (_, r) in &parsed[*i].residents {
                births.push(r.identity.birth_date().map(|d| d.to_string()));
                resident_tags.push(super::stored_tags(&r.tags));
                owners.push((id, path));
            }
        }
        let resident_ids: Vec<String> = owners.iter().map(|_| new_id()).collect();
        let mut k = 0;
        for ((i, _, _), id) in chunk.iter().zip(&ids) {
            for ((_, r), (id_card, phone)) in parsed[*i].residents.iter().zip(&sealed[*i]) {
                resident_rows.push(residents::NewResident {
                    id: &resident_ids[k],
                    household_id: id,
                    name: r.name.as_str(),
                    gender: r.identity.gender().map(|g| g.as_str()),
                    birth_date: births[k].as_deref(),
                    relation: r.relation.as_str(),
                    id_card: id_card.as_ref(),
                    phone: phone.as_ref(),
                    tags: &resident_tags[k],
                });
                k += 1;
            }
        }
        residents::insert(tx.conn, &resident_rows, &now)?;
        for ((i, unit_id, path), id) in chunk.iter().zip(&ids) {
            record_imported(tx, id, unit_id, path, &tags_of(&parsed[*i]), source)?;
        }
        for ((household_id, path), rid) in owners.iter().zip(&resident_ids) {
            tx.history(
                Entity::Household,
                household_id,
                "resident_added",
                Some(1),
                json!({ "resident_id": rid, "source": "import", "via": source }),
            )?;
            tx.event(
                "resident.created",
                Entity::Resident,
                rid,
                1,
                json!({ "id": rid, "household_id": household_id, "version": 1 }),
            )?;
            tx.change(Change {
                entity: Entity::Resident,
                id: rid.clone(),
                version: 1,
                deleted: false,
                unit_path_before: None,
                unit_path_after: Some((*path).to_owned()),
            })?;
        }
        summary.households += rows.len();
        summary.residents += resident_rows.len();
        progress(summary.households);
    }
    tx.audit(Audit {
        action: "households.imported",
        subject_type: Some("household"),
        subject_id: None,
        unit_path: tx.caller.scope.assigned_paths().first().cloned(),
        details: json!({ "households": summary.households, "residents": summary.residents, "source": source }),
    })?;
    Ok(summary)
}

fn tags_of(h: &ParsedHousehold) -> Vec<&'static str> {
    h.tags.iter().map(|t| t.as_str()).collect()
}

fn record_imported(
    tx: &mut Tx<'_>,
    id: &str,
    unit_id: &str,
    path: &str,
    tags: &[&str],
    source: &str,
) -> Result<(), AppError> {
    tx.history(
        Entity::Household,
        id,
        "created",
        Some(1),
        json!({ "unit_id": unit_id, "source": "import", "via": source }),
    )?;
    tx.event(
        "household.created",
        Entity::Household,
        id,
        1,
        json!({ "id": id, "unit_id": unit_id, "version": 1, "tags": tags }),
    )?;
    tx.change(Change {
        entity: Entity::Household,
        id: id.to_owned(),
        version: 1,
        deleted: false,
        unit_path_before: None,
        unit_path_after: Some(path.to_owned()),
    })
}
