//! GeoJSON (RFC 7946) polygons in and out, with validation messages that point at the problem.

use geo::algorithm::Validation;
use geo::algorithm::validation::{InvalidMultiPolygon, InvalidPolygon, RingRole};
use geo::line_intersection::{LineIntersection, line_intersection};
use geo::{BoundingRect, Coord, Intersects, Line, LineString, MultiPolygon, Polygon};
use serde_json::Value;

use crate::GeoError;

/// The most positions [`parse_polygons`] accepts in one geometry. Validity checking is
/// quadratic in the positions of a ring (~2 s at this size), so a cap keeps one request from
/// hogging a core; the whole Dianbai outline has under 2,000.
pub const MAX_POSITIONS: usize = 20_000;

/// Parses a GeoJSON geometry object that must be a `Polygon` or `MultiPolygon` in WGS-84
/// (positions are `[lng, lat]`), and validates it: positions finite and in range, every ring
/// closed with at least 4 positions, no ring crossing itself or another, holes inside their
/// shell, polygons not overlapping (OGC simple-feature validity via [`geo::Validation`]).
///
/// A `Polygon` comes back as a `MultiPolygon` of one.
///
/// # Errors
///
/// [`GeoError::InvalidGeometry`] saying what is wrong and where, e.g.
/// `"ring 0 of polygon 1 intersects itself near (111.05, 21.55)"`, or that the geometry has
/// more than [`MAX_POSITIONS`] positions.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use wangge_geo::parse_polygons;
///
/// let square = json!({"type": "Polygon", "coordinates": [[
///     [111.0, 21.5], [111.1, 21.5], [111.1, 21.6], [111.0, 21.6], [111.0, 21.5]
/// ]]});
/// assert_eq!(parse_polygons(&square)?.0.len(), 1);
///
/// let bow_tie = json!({"type": "Polygon", "coordinates": [[
///     [111.0, 21.5], [111.1, 21.6], [111.1, 21.5], [111.0, 21.6], [111.0, 21.5]
/// ]]});
/// let err = parse_polygons(&bow_tie).unwrap_err();
/// assert!(err.to_string().contains("ring 0 of polygon 0 intersects itself near (111.05, 21.55)"));
/// # Ok::<(), wangge_geo::GeoError>(())
/// ```
pub fn parse_polygons(geometry: &Value) -> Result<MultiPolygon<f64>, GeoError> {
    let object = geometry.as_object().ok_or_else(|| {
        invalid(format!(
            "expected a GeoJSON geometry object, got {}",
            kind(geometry)
        ))
    })?;
    let kind_name = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("the geometry has no \"type\" string member".to_owned()))?;
    let coordinates = object.get("coordinates");
    let polygons = match (kind_name, coordinates) {
        ("Polygon", Some(coordinates)) => vec![parse_polygon(coordinates, 0)?],
        ("MultiPolygon", Some(coordinates)) => {
            let items = array(coordinates, "the MultiPolygon coordinates")?;
            items
                .iter()
                .enumerate()
                .map(|(index, polygon)| parse_polygon(polygon, index))
                .collect::<Result<Vec<_>, _>>()?
        }
        ("Polygon" | "MultiPolygon", None) => {
            return Err(invalid(format!(
                "the {kind_name} has no \"coordinates\" member"
            )));
        }
        (other, _) => {
            return Err(invalid(format!(
                "expected a Polygon or MultiPolygon geometry, got {:?}",
                truncate(other)
            )));
        }
    };
    if polygons.is_empty() {
        return Err(invalid("the MultiPolygon has no polygons".to_owned()));
    }
    let positions: usize = polygons
        .iter()
        .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
        .sum();
    if positions > MAX_POSITIONS {
        return Err(invalid(format!(
            "the geometry has {positions} positions, more than the {MAX_POSITIONS} accepted: \
             simplify it (a tolerance of 1 m is plenty for H3 cells)"
        )));
    }
    let shape = MultiPolygon::new(polygons);
    validate(&shape)?;
    Ok(shape)
}

/// A `MultiPolygon` as a GeoJSON geometry object.
///
/// # Example
///
/// ```
/// use geo::{MultiPolygon, polygon};
/// use wangge_geo::{parse_polygons, polygons_to_geojson};
///
/// let shape = MultiPolygon::new(vec![polygon![
///     (x: 111.0, y: 21.5), (x: 111.1, y: 21.5), (x: 111.1, y: 21.6), (x: 111.0, y: 21.5),
/// ]]);
/// let json = polygons_to_geojson(&shape);
/// assert_eq!(json["type"], "MultiPolygon");
/// assert_eq!(parse_polygons(&json)?, shape);
/// # Ok::<(), wangge_geo::GeoError>(())
/// ```
#[must_use]
pub fn polygons_to_geojson(shape: &MultiPolygon<f64>) -> Value {
    Value::Object(geojson::JsonObject::from(&geojson::Value::from(shape)))
}

fn invalid(reason: String) -> GeoError {
    GeoError::InvalidGeometry(reason)
}

/// A short name for the JSON type of a value.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Caps client-supplied text we echo back.
fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn array<'a>(value: &'a Value, what: &str) -> Result<&'a Vec<Value>, GeoError> {
    value
        .as_array()
        .ok_or_else(|| invalid(format!("{what} must be an array, got {}", kind(value))))
}

fn parse_polygon(value: &Value, polygon: usize) -> Result<Polygon<f64>, GeoError> {
    let rings = array(value, &format!("polygon {polygon}"))?;
    let mut rings = rings
        .iter()
        .enumerate()
        .map(|(ring, value)| parse_ring(value, ring, polygon))
        .collect::<Result<Vec<_>, _>>()?;
    if rings.is_empty() {
        return Err(invalid(format!("polygon {polygon} has no rings")));
    }
    let exterior = rings.remove(0);
    Ok(Polygon::new(exterior, rings))
}

fn parse_ring(value: &Value, ring: usize, polygon: usize) -> Result<LineString<f64>, GeoError> {
    let at = format!("ring {ring} of polygon {polygon}");
    let positions = array(value, &at)?;
    let coords = positions
        .iter()
        .enumerate()
        .map(|(index, position)| parse_position(position, index, &at))
        .collect::<Result<Vec<_>, _>>()?;
    if coords.len() < 4 {
        return Err(invalid(format!(
            "{at} has {} positions; a closed ring needs at least 4 (first = last)",
            coords.len()
        )));
    }
    let (first, last) = (coords[0], coords[coords.len() - 1]);
    if first != last {
        return Err(invalid(format!(
            "{at} is not closed: its first position ({}, {}) differs from its last ({}, {})",
            first.x, first.y, last.x, last.y
        )));
    }
    Ok(LineString::new(coords))
}

fn parse_position(value: &Value, index: usize, at: &str) -> Result<Coord<f64>, GeoError> {
    let numbers = array(value, &format!("position {index} of {at}"))?;
    // A third number (altitude) is allowed by RFC 7946 and ignored.
    let (Some(lng), Some(lat)) = (
        numbers.first().and_then(Value::as_f64),
        numbers.get(1).and_then(Value::as_f64),
    ) else {
        return Err(invalid(format!(
            "position {index} of {at} must be [longitude, latitude] numbers"
        )));
    };
    let problem = if !lng.is_finite() || !lat.is_finite() {
        Some("is not finite")
    } else if !(-180.0..=180.0).contains(&lng) {
        Some("has a longitude outside [-180, 180]")
    } else if !(-90.0..=90.0).contains(&lat) {
        Some("has a latitude outside [-90, 90]")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(invalid(format!(
            "position {index} of {at} ({lng}, {lat}) {problem}; positions are [longitude, latitude] in WGS-84 degrees"
        ))),
        None => Ok(Coord { x: lng, y: lat }),
    }
}

/// OGC validity, reported with ring and polygon numbers as in the GeoJSON arrays.
fn validate(shape: &MultiPolygon<f64>) -> Result<(), GeoError> {
    let Err(error) = shape.check_validation() else {
        return Ok(());
    };
    let message = match error {
        InvalidMultiPolygon::InvalidPolygon(index, problem) => {
            let polygon = index.0;
            let ring_name = |role: RingRole| match role {
                RingRole::Exterior => format!("ring 0 of polygon {polygon}"),
                RingRole::Interior(hole) => format!("ring {} of polygon {polygon}", hole + 1),
            };
            match problem {
                InvalidPolygon::TooFewPointsInRing(role) => {
                    format!("{} has fewer than 3 distinct positions", ring_name(role))
                }
                InvalidPolygon::SelfIntersection(role) => {
                    let ring = match role {
                        RingRole::Exterior => shape.0.get(polygon).map(Polygon::exterior),
                        RingRole::Interior(hole) => {
                            shape.0.get(polygon).and_then(|p| p.interiors().get(hole))
                        }
                    };
                    match ring.and_then(self_intersection) {
                        Some(near) => format!(
                            "{} intersects itself near ({}, {})",
                            ring_name(role),
                            round_deg(near.x),
                            round_deg(near.y)
                        ),
                        None => format!("{} intersects itself", ring_name(role)),
                    }
                }
                InvalidPolygon::NonFiniteCoord(role, coord) => {
                    format!("position {} of {} is not finite", coord.0, ring_name(role))
                }
                InvalidPolygon::InteriorRingNotContainedInExteriorRing(role) => format!(
                    "{} (a hole) is not inside ring 0 of polygon {polygon}",
                    ring_name(role)
                ),
                InvalidPolygon::IntersectingRingsOnALine(a, b) => {
                    format!("{} and {} touch along a line", ring_name(a), ring_name(b))
                }
                InvalidPolygon::IntersectingRingsOnAnArea(a, b) => {
                    format!("{} and {} overlap", ring_name(a), ring_name(b))
                }
            }
        }
        InvalidMultiPolygon::ElementsOverlaps(a, b) => {
            format!("polygons {} and {} overlap", a.0, b.0)
        }
        InvalidMultiPolygon::ElementsTouchOnALine(a, b) => format!(
            "polygons {} and {} touch along a line: merge them into one polygon",
            a.0, b.0
        ),
    };
    Err(invalid(message))
}

/// Rounds to 1e-7 degrees (~1 cm) so messages stay readable.
fn round_deg(value: f64) -> f64 {
    (value * 1e7).round() / 1e7
}

/// A point where two non-adjacent segments of `ring` meet, found with the same rule as
/// geo's validation (segments that do not share an endpoint in sequence must not touch).
/// Quadratic, but only run once validation has already found a self-intersection.
fn self_intersection(ring: &LineString<f64>) -> Option<Coord<f64>> {
    let lines: Vec<Line<f64>> = ring.lines().collect();
    for (i, a) in lines.iter().enumerate() {
        let a_box = a.bounding_rect();
        for b in &lines[i + 1..] {
            if a.start == b.end || a.end == b.start || !a_box.intersects(&b.bounding_rect()) {
                continue;
            }
            match line_intersection(*a, *b) {
                Some(LineIntersection::SinglePoint { intersection, .. }) => {
                    return Some(intersection);
                }
                Some(LineIntersection::Collinear { intersection }) => {
                    return Some(intersection.start);
                }
                None => {}
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(geometry: &Value) -> String {
        parse_polygons(geometry).unwrap_err().to_string()
    }

    const SQUARE: [[f64; 2]; 5] = [
        [111.0, 21.5],
        [111.1, 21.5],
        [111.1, 21.6],
        [111.0, 21.6],
        [111.0, 21.5],
    ];

    #[test]
    fn parses_polygon_and_multipolygon_with_holes() {
        let hole = [
            [111.02, 21.52],
            [111.02, 21.54],
            [111.04, 21.54],
            [111.04, 21.52],
            [111.02, 21.52],
        ];
        let other = [[111.2, 21.5], [111.3, 21.5], [111.3, 21.6], [111.2, 21.5]];
        let shape = parse_polygons(&json!({
            "type": "MultiPolygon",
            "coordinates": [[SQUARE, hole], [other]]
        }))
        .unwrap();
        assert_eq!(shape.0.len(), 2);
        assert_eq!(shape.0[0].interiors().len(), 1);
        // Round trip through GeoJSON out.
        assert_eq!(parse_polygons(&polygons_to_geojson(&shape)).unwrap(), shape);
        // Altitude is ignored.
        let with_z = json!({"type": "Polygon", "coordinates": [[
            [111.0, 21.5, 3.0], [111.1, 21.5, 3.0], [111.1, 21.6, 3.0], [111.0, 21.5, 3.0]
        ]]});
        assert_eq!(parse_polygons(&with_z).unwrap().0[0].exterior().0.len(), 4);
    }

    #[test]
    fn rejects_a_bow_tie() {
        let msg = err(&json!({"type": "MultiPolygon", "coordinates": [
            [SQUARE],
            [[[112.0, 21.5], [112.1, 21.6], [112.1, 21.5], [112.0, 21.6], [112.0, 21.5]]]
        ]}));
        assert_eq!(
            msg,
            "invalid geometry: ring 0 of polygon 1 intersects itself near (112.05, 21.55)"
        );
    }

    #[test]
    fn rejects_an_unclosed_ring() {
        let msg = err(&json!({"type": "Polygon", "coordinates": [[
            [111.0, 21.5], [111.1, 21.5], [111.1, 21.6], [111.0, 21.6]
        ]]}));
        assert!(msg.contains("ring 0 of polygon 0 is not closed"), "{msg}");
        let msg = err(&json!({"type": "Polygon", "coordinates": [[
            [111.0, 21.5], [111.1, 21.5], [111.0, 21.5]
        ]]}));
        assert!(msg.contains("at least 4"), "{msg}");
    }

    #[test]
    fn rejects_out_of_range_or_malformed_positions() {
        let msg = err(&json!({"type": "Polygon", "coordinates": [[
            [111.0, 21.5], [211.1, 21.5], [111.1, 21.6], [111.0, 21.5]
        ]]}));
        assert!(
            msg.contains("position 1 of ring 0 of polygon 0 (211.1, 21.5) has a longitude"),
            "{msg}"
        );
        // Latitude first by mistake.
        let msg = err(&json!({"type": "Polygon", "coordinates": [[
            [21.5, 111.0], [21.5, 111.1], [21.6, 111.1], [21.5, 111.0]
        ]]}));
        assert!(msg.contains("latitude outside [-90, 90]"), "{msg}");
        let msg = err(&json!({"type": "Polygon", "coordinates": [[
            [111.0, 21.5], ["111.1", 21.5], [111.1, 21.6], [111.0, 21.5]
        ]]}));
        assert!(msg.contains("[longitude, latitude] numbers"), "{msg}");
        assert!(err(&json!({"type": "Polygon", "coordinates": []})).contains("no rings"));
        assert!(err(&json!({"type": "MultiPolygon", "coordinates": []})).contains("no polygons"));
        assert!(err(&json!({"type": "Polygon"})).contains("no \"coordinates\""));
        let mut huge: Vec<[f64; 2]> = (0..=MAX_POSITIONS)
            .map(|i| [111.0 + i as f64 * 1e-6, 21.5 + (i % 2) as f64 * 1e-6])
            .collect();
        huge.push(huge[0]);
        let msg = err(&json!({"type": "Polygon", "coordinates": [huge]}));
        assert!(msg.contains("more than the 20000 accepted"), "{msg}");
    }

    #[test]
    fn rejects_other_geometry_types() {
        let msg = err(&json!({"type": "Point", "coordinates": [111.0, 21.5]}));
        assert!(msg.contains("got \"Point\""), "{msg}");
        assert!(err(&json!([1, 2])).contains("an array"));
        assert!(err(&json!({"coordinates": []})).contains("\"type\""));
    }

    #[test]
    fn rejects_overlaps_and_stray_holes() {
        let shifted = SQUARE.map(|[x, y]| [x + 0.05, y]);
        let msg = err(&json!({"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted]]}));
        assert!(msg.contains("polygons 0 and 1 overlap"), "{msg}");
        let far_hole = SQUARE.map(|[x, y]| [x + 1.0, y]);
        let msg = err(&json!({"type": "Polygon", "coordinates": [SQUARE, far_hole]}));
        assert!(
            msg.contains("ring 1 of polygon 0 (a hole) is not inside"),
            "{msg}"
        );
    }

    #[test]
    fn accepts_the_district_boundary() {
        let collection: Value =
            serde_json::from_str(include_str!("../../app/demo/dianbai_boundary.geojson")).unwrap();
        let shape = parse_polygons(&collection["features"][0]["geometry"]).unwrap();
        assert!(!shape.0.is_empty());
    }
}
