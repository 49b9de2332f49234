//! Patrol tracks (巡查): the distance, time and H3 cells a grid worker covered, from the GPS
//! fixes their phone sent, with the implausible movements flagged rather than counted.

use std::fmt;

use h3o::{CellIndex, LatLng, Resolution};

/// Mean earth radius (IUGG), in metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A GPS fix from a phone: WGS-84 degrees, the accuracy radius in metres, Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    /// Latitude, in degrees.
    pub lat: f64,
    /// Longitude, in degrees.
    pub lng: f64,
    /// Radius of the phone's 68% confidence circle, in metres.
    pub accuracy_m: f64,
    /// When the fix was taken, in Unix milliseconds.
    pub at_ms: i64,
}

/// What [`analyse`] accepts as a plausible walk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackLimits {
    /// Fixes less accurate than this are ignored.
    pub max_accuracy_m: f64,
    /// Faster than this between two fixes is not walking or riding a scooter in town.
    pub max_speed_m_per_s: f64,
    /// A longer move between two fixes less than `max_gap_s` apart is a GPS jump.
    pub max_jump_m: f64,
    /// A longer silence ends a stretch: the phone was off, nothing is known in between.
    pub max_gap_s: i64,
}

impl Default for TrackLimits {
    fn default() -> Self {
        Self {
            max_accuracy_m: 50.0,
            max_speed_m_per_s: 15.0,
            max_jump_m: 2_000.0,
            max_gap_s: 30 * 60,
        }
    }
}

/// Why a segment between two fixes was not counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlagReason {
    /// The segment was covered faster than `max_speed_m_per_s`.
    TooFast {
        /// The speed over the segment, in metres per second.
        speed_m_per_s: f64,
    },
    /// The segment is longer than `max_jump_m` although the fixes are close in time.
    Jump {
        /// The length of the segment, in metres.
        distance_m: f64,
    },
}

impl fmt::Display for FlagReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooFast { speed_m_per_s } => write!(
                f,
                "moved at {speed_m_per_s:.1} m/s ({:.0} km/h), too fast for a patrol on foot",
                speed_m_per_s * 3.6
            ),
            Self::Jump { distance_m } => write!(
                f,
                "jumped {distance_m:.0} m between two close fixes, likely a GPS error"
            ),
        }
    }
}

/// An implausible segment between the fixes taken at `from_at_ms` and `to_at_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flag {
    /// When the segment starts, in Unix milliseconds.
    pub from_at_ms: i64,
    /// When the segment ends, in Unix milliseconds.
    pub to_at_ms: i64,
    /// Why it was not counted.
    pub reason: FlagReason,
}

/// What a track covered; see [`analyse`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackSummary {
    /// Length of the counted segments, in metres.
    pub distance_m: f64,
    /// Time spent on the counted segments, in seconds (rounded).
    pub duration_s: i64,
    /// The distinct cells the counted track passes through, sorted.
    pub cells: Vec<CellIndex>,
    /// The implausible segments, in time order.
    pub flags: Vec<Flag>,
    /// Fixes used (valid and not a duplicate).
    pub accepted: usize,
    /// Fixes with unusable coordinates or too coarse an accuracy.
    pub ignored: usize,
    /// Valid fixes dropped because an earlier one has the same time.
    pub duplicates: usize,
    /// Time of the first accepted fix, in Unix milliseconds.
    pub started_at_ms: Option<i64>,
    /// Time of the last accepted fix, in Unix milliseconds.
    pub ended_at_ms: Option<i64>,
}

/// Analyses a patrol track: sorts the fixes by time, drops unusable and duplicate ones, and
/// sums the plausible segments between consecutive fixes.
///
/// A segment longer than `max_jump_m` or faster than `max_speed_m_per_s` is flagged and not
/// counted; a silence longer than `max_gap_s` is neither counted nor flagged. The cells are
/// those of the fixes and of the grid path along each counted segment; a fix touched only by
/// flagged segments (a GPS spike) adds no cell.
///
/// # Example
///
/// ```
/// use wangge_geo::{Fix, Resolution, TrackLimits, analyse};
///
/// let fix = |lat, at_ms| Fix { lat, lng: 111.0, accuracy_m: 8.0, at_ms };
/// // ~111 m north in 80 s, sent twice and out of order.
/// let fixes = [fix(21.501, 80_000), fix(21.500, 0), fix(21.501, 80_000)];
/// let summary = analyse(&fixes, Resolution::Eleven, &TrackLimits::default());
/// assert!((summary.distance_m - 111.2).abs() < 0.1);
/// assert_eq!(summary.duration_s, 80);
/// assert_eq!((summary.accepted, summary.duplicates), (2, 1));
/// assert!(summary.flags.is_empty() && !summary.cells.is_empty());
/// ```
#[must_use]
pub fn analyse(fixes: &[Fix], resolution: Resolution, limits: &TrackLimits) -> TrackSummary {
    let mut summary = TrackSummary::default();
    let mut points: Vec<(Fix, CellIndex)> = Vec::with_capacity(fixes.len());
    for fix in fixes {
        match cell_of(fix, resolution, limits) {
            Some(cell) => points.push((*fix, cell)),
            None => summary.ignored += 1,
        }
    }
    // Stable: of fixes sent twice with the same time, the first received wins. Invalid fixes
    // are gone already, so a good retry is not lost to a bad original.
    points.sort_by_key(|(fix, _)| fix.at_ms);
    let before = points.len();
    points.dedup_by_key(|(fix, _)| fix.at_ms);
    summary.duplicates = before - points.len();
    summary.accepted = points.len();
    summary.started_at_ms = points.first().map(|(fix, _)| fix.at_ms);
    summary.ended_at_ms = points.last().map(|(fix, _)| fix.at_ms);

    let max_gap_ms = limits.max_gap_s.saturating_mul(1_000);
    let mut counted_ms: i64 = 0;
    // Per fix: touched by a counted segment, touched by a flagged one.
    let mut touched = vec![(false, false); points.len()];
    for (i, ((a, a_cell), (b, b_cell))) in points.iter().zip(points.iter().skip(1)).enumerate() {
        // Sorted and deduplicated, so positive; saturates to "a gap" for absurd times.
        let dt_ms = b.at_ms.saturating_sub(a.at_ms);
        if dt_ms > max_gap_ms {
            continue;
        }
        let distance_m = haversine_m(a, b);
        let speed_m_per_s = distance_m / (ms_as_f64(dt_ms) / 1_000.0);
        // A jump is usually also too fast: name the jump, it is the likelier cause.
        let reason = if distance_m > limits.max_jump_m {
            Some(FlagReason::Jump { distance_m })
        } else if speed_m_per_s > limits.max_speed_m_per_s {
            Some(FlagReason::TooFast { speed_m_per_s })
        } else {
            None
        };
        if let Some(reason) = reason {
            summary.flags.push(Flag {
                from_at_ms: a.at_ms,
                to_at_ms: b.at_ms,
                reason,
            });
            touched[i].1 = true;
            touched[i + 1].1 = true;
            continue;
        }
        summary.distance_m += distance_m;
        counted_ms = counted_ms.saturating_add(dt_ms);
        touched[i].0 = true;
        touched[i + 1].0 = true;
        match path_cells(*a_cell, *b_cell) {
            Some(path) => summary.cells.extend(path),
            None => summary.cells.extend([*a_cell, *b_cell]),
        }
    }
    for ((_, cell), (counted, flagged)) in points.iter().zip(&touched) {
        if *counted || !*flagged {
            summary.cells.push(*cell);
        }
    }
    summary.cells.sort_unstable();
    summary.cells.dedup();
    summary.duration_s = counted_ms.saturating_add(500) / 1_000;
    summary
}

/// The cell of a usable fix, or None for one [`analyse`] ignores.
fn cell_of(fix: &Fix, resolution: Resolution, limits: &TrackLimits) -> Option<CellIndex> {
    let usable = (-90.0..=90.0).contains(&fix.lat)
        && (-180.0..=180.0).contains(&fix.lng)
        && (0.0..=limits.max_accuracy_m).contains(&fix.accuracy_m);
    // The ranges reject NaN and infinities, so `LatLng::new` cannot fail here.
    usable
        .then(|| LatLng::new(fix.lat, fix.lng).ok())
        .flatten()
        .map(|ll| ll.to_cell(resolution))
}

/// The grid path between two cells, or None when H3 cannot draw one (e.g. across a pentagon).
fn path_cells(from: CellIndex, to: CellIndex) -> Option<Vec<CellIndex>> {
    from.grid_path_cells(to)
        .ok()?
        .collect::<Result<_, _>>()
        .ok()
}

/// Great-circle distance between two fixes, in metres.
fn haversine_m(a: &Fix, b: &Fix) -> f64 {
    let (lat_a, lat_b) = (a.lat.to_radians(), b.lat.to_radians());
    let half_dlat = (lat_b - lat_a) / 2.0;
    let half_dlng = (b.lng - a.lng).to_radians() / 2.0;
    let h = half_dlat.sin().powi(2) + lat_a.cos() * lat_b.cos() * half_dlng.sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

#[allow(clippy::cast_precision_loss)] // Exact below 2^53 ms (285,000 years).
const fn ms_as_f64(ms: i64) -> f64 {
    ms as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RES: Resolution = Resolution::Eleven;
    /// Degrees of latitude per metre along a meridian.
    const DEG_PER_M: f64 = 180.0 / (std::f64::consts::PI * EARTH_RADIUS_M);
    const STEP_MS: i64 = 71_000;

    fn fix(lat: f64, lng: f64, accuracy_m: f64, at_ms: i64) -> Fix {
        Fix {
            lat,
            lng,
            accuracy_m,
            at_ms,
        }
    }

    /// `n` fixes walking north from Dianbai, 100 m and 71 s apart (1.41 m/s).
    fn walk(n: i64) -> Vec<Fix> {
        let lat = |i| 21.5 + ms_as_f64(i) * 100.0 * DEG_PER_M;
        (0..n)
            .map(|i| fix(lat(i), 111.0, 10.0, i * STEP_MS))
            .collect()
    }

    fn run(fixes: &[Fix]) -> TrackSummary {
        analyse(fixes, RES, &TrackLimits::default())
    }

    fn spans(flags: &[Flag]) -> Vec<(i64, i64)> {
        flags.iter().map(|f| (f.from_at_ms, f.to_at_ms)).collect()
    }

    fn connected(cells: &[CellIndex]) -> bool {
        let mut seen = vec![cells[0]];
        let mut todo = vec![cells[0]];
        while let Some(c) = todo.pop() {
            for n in c.grid_disk::<Vec<_>>(1) {
                if cells.contains(&n) && !seen.contains(&n) {
                    seen.push(n);
                    todo.push(n);
                }
            }
        }
        seen.len() == cells.len()
    }

    #[test]
    fn a_straight_walk_is_measured() {
        let s = run(&walk(10));
        assert!((s.distance_m - 900.0).abs() < 9.0, "{}", s.distance_m);
        assert_eq!(s.duration_s, 9 * 71);
        // Resolution 11 cells are ~43 m across: a 900 m line crosses about 20.
        assert!(s.cells.len() >= 15 && connected(&s.cells), "{:?}", s.cells);
        assert!(s.flags.is_empty());
        assert_eq!((s.accepted, s.ignored, s.duplicates), (10, 0, 0));
        assert_eq!((s.started_at_ms, s.ended_at_ms), (Some(0), Some(639_000)));
    }

    #[test]
    fn shuffled_and_duplicated_input_gives_the_same_summary() {
        let ordered = walk(10);
        let mut messy: Vec<Fix> = (0..10).map(|i| ordered[(i * 7) % 10]).collect();
        messy.extend_from_slice(&ordered[3..6]);
        let expected = TrackSummary {
            duplicates: 3,
            ..run(&ordered)
        };
        assert_eq!(run(&messy), expected);
    }

    #[test]
    fn a_teleport_is_flagged_as_a_jump_and_not_counted() {
        let mut fixes = walk(5);
        let east_5km = 111.0 + 5_000.0 * DEG_PER_M / fixes[2].lat.to_radians().cos();
        let spike = fix(fixes[2].lat, east_5km, 10.0, 177_500);
        fixes.push(spike);
        let s = run(&fixes);
        // Only 0→1, 1→2 and 3→4 count: out to the spike and back are both jumps.
        assert!((s.distance_m - 300.0).abs() < 3.0, "{}", s.distance_m);
        assert_eq!(s.duration_s, 3 * 71);
        assert_eq!(spans(&s.flags), [(142_000, 177_500), (177_500, 213_000)]);
        let reason = s.flags[0].reason;
        let FlagReason::Jump { distance_m } = reason else {
            panic!("{reason:?}");
        };
        assert!((distance_m - 5_000.0).abs() < 10.0, "{distance_m}");
        assert!(reason.to_string().starts_with("jumped 500"), "{reason}");
        let spike_cell = LatLng::new(spike.lat, spike.lng).unwrap().to_cell(RES);
        assert!(!s.cells.contains(&spike_cell));
        assert_eq!(s.accepted, 6);
    }

    #[test]
    fn a_car_speed_segment_is_flagged_too_fast() {
        let mut fixes = walk(3);
        // 1 km in 40 s: 25 m/s, under the jump limit.
        let lat = fixes[2].lat + 1_000.0 * DEG_PER_M;
        fixes.push(fix(lat, 111.0, 10.0, 2 * STEP_MS + 40_000));
        let s = run(&fixes);
        assert!((s.distance_m - 200.0).abs() < 2.0, "{}", s.distance_m);
        assert_eq!(s.duration_s, 2 * 71);
        assert_eq!(spans(&s.flags), [(142_000, 182_000)]);
        let reason = s.flags[0].reason;
        let FlagReason::TooFast { speed_m_per_s } = reason else {
            panic!("{reason:?}");
        };
        assert!((speed_m_per_s - 25.0).abs() < 0.1, "{speed_m_per_s}");
        let text = reason.to_string();
        assert!(text.starts_with("moved at 25.0 m/s (90 km/h)"), "{text}");
    }

    #[test]
    fn a_long_gap_is_neither_counted_nor_flagged() {
        let gap_ms = 2 * 3_600_000;
        // The phone comes back on 3 km further north.
        let later = |f: Fix| fix(f.lat + 3_000.0 * DEG_PER_M, f.lng, 10.0, f.at_ms + gap_ms);
        let mut fixes = walk(3);
        fixes.extend(walk(3).into_iter().map(later));
        let s = run(&fixes);
        assert!((s.distance_m - 400.0).abs() < 4.0, "{}", s.distance_m);
        assert_eq!(s.duration_s, 4 * 71);
        assert!(s.flags.is_empty());
        assert_eq!(s.ended_at_ms, Some(gap_ms + 142_000));
    }

    #[test]
    fn unusable_fixes_are_ignored_and_counted() {
        let good = walk(4);
        // The coarse copy of a good fix comes first: it must not make the good one a duplicate.
        let mut fixes = vec![fix(good[1].lat, good[1].lng, 80.0, good[1].at_ms)];
        fixes.extend(&good);
        fixes.extend([
            fix(21.6, 111.1, 500.0, 35_000),
            fix(21.6, 111.1, -1.0, 36_000),
            fix(21.5, 111.0, f64::NAN, 5_000),
            fix(f64::NAN, 111.0, 10.0, 1_000),
            fix(21.5, f64::INFINITY, 10.0, 2_000),
            fix(91.0, 111.0, 10.0, 3_000),
            fix(21.5, -181.0, 10.0, 4_000),
        ]);
        let s = run(&fixes);
        assert_eq!((s.accepted, s.ignored, s.duplicates), (4, 8, 0));
        assert_eq!(
            s,
            TrackSummary {
                ignored: 8,
                ..run(&good)
            }
        );
    }

    #[test]
    fn empty_and_single_fix_tracks() {
        assert_eq!(run(&[]), TrackSummary::default());
        let s = run(&walk(1));
        assert_eq!((s.distance_m, s.duration_s, s.cells.len()), (0.0, 0, 1));
        assert_eq!(s.started_at_ms, Some(0));
        assert_eq!((s.accepted, s.ended_at_ms), (1, Some(0)));
    }
}
