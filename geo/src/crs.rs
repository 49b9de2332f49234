//! Coordinate reference systems phones in China report, and conversion to WGS-84.
//!
//! GCJ-02 ("Mars coordinates", Amap and Tencent maps) is WGS-84 shifted by a public, obfuscating
//! formula that moves points by a few hundred metres inside China. BD-09 (Baidu) is GCJ-02
//! shifted once more. The forward formulas are public; there is no closed-form inverse, so we
//! invert them by fixed-point iteration, which converges to well under a centimetre.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use h3o::LatLng;

use crate::GeoError;

/// Coordinate reference systems phones in China report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crs {
    /// WGS-84 (GPS, EPSG:4326): what we store.
    Wgs84,
    /// GCJ-02, the Chinese national obfuscated datum (Amap, Tencent).
    Gcj02,
    /// BD-09, Baidu's further-shifted GCJ-02.
    Bd09,
}

impl Crs {
    /// The wire name: `"wgs84"`, `"gcj02"` or `"bd09"`.
    ///
    /// # Example
    ///
    /// ```
    /// use wangge_geo::Crs;
    ///
    /// assert_eq!(Crs::Gcj02.as_str(), "gcj02");
    /// assert_eq!("gcj02".parse::<Crs>()?, Crs::Gcj02);
    /// # Ok::<(), wangge_geo::GeoError>(())
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wgs84 => "wgs84",
            Self::Gcj02 => "gcj02",
            Self::Bd09 => "bd09",
        }
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Crs {
    type Err = GeoError;

    /// Parses the lower-case wire name (exact match: clients must send what we document).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wgs84" => Ok(Self::Wgs84),
            "gcj02" => Ok(Self::Gcj02),
            "bd09" => Ok(Self::Bd09),
            // Cap what we echo back: the value comes from a client.
            other => Err(GeoError::UnknownCrs(other.chars().take(32).collect())),
        }
    }
}

/// Semi-major axis of the Krasovsky 1940 ellipsoid used by the GCJ-02 formula, in metres.
const KRASOVSKY_A_M: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid.
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;
/// BD-09's angular constant (π · 3000 / 180).
const BD_X_PI: f64 = PI * 3000.0 / 180.0;
/// Fixed-point iterations stop when a step is below this, in degrees (~1 mm).
const INVERSE_TOLERANCE_DEG: f64 = 1e-8;
/// The iteration converges in 3-5 steps; this bounds it on pathological input.
const INVERSE_MAX_STEPS: usize = 30;

/// Validates a position in degrees and converts it to WGS-84.
///
/// GCJ-02 is inverted by iterating the public forward formula (error < 1 cm), BD-09 goes
/// through GCJ-02. Outside mainland China (the usual `out_of_china` box) GCJ-02 equals WGS-84.
///
/// # Errors
///
/// [`GeoError::InvalidCoordinate`] if a component is not finite, or the latitude is outside
/// [-90, 90], or the longitude outside [-180, 180].
///
/// # Example
///
/// ```
/// use wangge_geo::{Crs, to_wgs84};
///
/// // A point in Shuidong, as Amap reports it.
/// let ll = to_wgs84(21.5, 111.0, Crs::Gcj02)?;
/// assert!((ll.lat() - 21.5).abs() < 0.01 && (ll.lng() - 111.0).abs() < 0.01);
/// assert!(to_wgs84(91.0, 111.0, Crs::Wgs84).is_err());
/// # Ok::<(), wangge_geo::GeoError>(())
/// ```
pub fn to_wgs84(lat_deg: f64, lng_deg: f64, crs: Crs) -> Result<LatLng, GeoError> {
    validate(lat_deg, lng_deg)?;
    let (lat, lng) = match crs {
        Crs::Wgs84 => (lat_deg, lng_deg),
        Crs::Gcj02 => gcj02_to_wgs84(lat_deg, lng_deg),
        Crs::Bd09 => {
            let (lat, lng) = bd09_to_gcj02(lat_deg, lng_deg);
            gcj02_to_wgs84(lat, lng)
        }
    };
    // The shifts are metres, but BD-09 applies everywhere: clamp so a point on a pole or the
    // antimeridian stays in range instead of failing after conversion.
    let lat = lat.clamp(-90.0, 90.0);
    let lng = lng.clamp(-180.0, 180.0);
    LatLng::new(lat, lng).map_err(|_| GeoError::InvalidCoordinate {
        lat: lat_deg,
        lng: lng_deg,
        reason: "conversion to WGS-84 produced a non-finite value",
    })
}

/// Converts a WGS-84 position to `crs`, returning `(lat_deg, lng_deg)`: for answering clients
/// that draw on Amap or Baidu maps.
///
/// # Example
///
/// ```
/// use wangge_geo::{Crs, LatLng, from_wgs84, to_wgs84};
///
/// let ll = LatLng::new(21.5, 111.0)?;
/// let (lat, lng) = from_wgs84(ll, Crs::Bd09);
/// let back = to_wgs84(lat, lng, Crs::Bd09)?;
/// assert!(ll.distance_m(back) < 0.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn from_wgs84(ll: LatLng, crs: Crs) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (ll.lat(), ll.lng()),
        Crs::Gcj02 => wgs84_to_gcj02(ll.lat(), ll.lng()),
        Crs::Bd09 => {
            let (lat, lng) = wgs84_to_gcj02(ll.lat(), ll.lng());
            gcj02_to_bd09(lat, lng)
        }
    }
}

/// Whether a position lies outside the box where GCJ-02 applies (the widely used
/// `out_of_china` test; it is a rectangle, so it includes some neighbouring countries).
#[must_use]
pub fn out_of_china(lat_deg: f64, lng_deg: f64) -> bool {
    !((72.004..=137.8347).contains(&lng_deg) && (0.8293..=55.8271).contains(&lat_deg))
}

/// The public WGS-84 → GCJ-02 formula; `(lat_deg, lng_deg)` in and out. Identity outside China.
///
/// # Example
///
/// ```
/// // The reference vector of the widely used coordTransform libraries (Beijing).
/// let (lat, lng) = wangge_geo::wgs84_to_gcj02(39.915, 116.404);
/// assert!((lat - 39.916_404_281_501_64).abs() < 1e-9);
/// assert!((lng - 116.410_244_499_169_38).abs() < 1e-9);
/// ```
#[must_use]
pub fn wgs84_to_gcj02(lat_deg: f64, lng_deg: f64) -> (f64, f64) {
    if out_of_china(lat_deg, lng_deg) {
        return (lat_deg, lng_deg);
    }
    let x = lng_deg - 105.0;
    let y = lat_deg - 35.0;
    let rad_lat = lat_deg.to_radians();
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let d_lat = (transform_lat(x, y) * 180.0)
        / ((KRASOVSKY_A_M * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lng = (transform_lng(x, y) * 180.0) / (KRASOVSKY_A_M / sqrt_magic * rad_lat.cos() * PI);
    (lat_deg + d_lat, lng_deg + d_lng)
}

/// GCJ-02 → WGS-84 by fixed-point iteration of [`wgs84_to_gcj02`]; `(lat_deg, lng_deg)` in
/// and out. Identity outside China.
#[must_use]
pub fn gcj02_to_wgs84(lat_deg: f64, lng_deg: f64) -> (f64, f64) {
    invert(lat_deg, lng_deg, wgs84_to_gcj02)
}

/// The public GCJ-02 → BD-09 formula; `(lat_deg, lng_deg)` in and out.
///
/// # Example
///
/// ```
/// let (lat, lng) = wangge_geo::gcj02_to_bd09(39.915, 116.404);
/// assert!((lat - 39.921_336_993_510_22).abs() < 1e-9);
/// assert!((lng - 116.410_369_493_710_29).abs() < 1e-9);
/// ```
#[must_use]
pub fn gcj02_to_bd09(lat_deg: f64, lng_deg: f64) -> (f64, f64) {
    let (x, y) = (lng_deg, lat_deg);
    let z = x.hypot(y) + 0.000_02 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) + 0.000_003 * (x * BD_X_PI).cos();
    (z * theta.sin() + 0.006, z * theta.cos() + 0.0065)
}

/// BD-09 → GCJ-02 by fixed-point iteration of [`gcj02_to_bd09`] (the usual closed-form
/// approximation is off by up to a metre); `(lat_deg, lng_deg)` in and out.
#[must_use]
pub fn bd09_to_gcj02(lat_deg: f64, lng_deg: f64) -> (f64, f64) {
    invert(lat_deg, lng_deg, gcj02_to_bd09)
}

/// Inverts a forward shift that is close to the identity: x ← x − (f(x) − target).
fn invert(lat_deg: f64, lng_deg: f64, forward: fn(f64, f64) -> (f64, f64)) -> (f64, f64) {
    let (mut lat, mut lng) = (lat_deg, lng_deg);
    for _ in 0..INVERSE_MAX_STEPS {
        let (f_lat, f_lng) = forward(lat, lng);
        let (d_lat, d_lng) = (f_lat - lat_deg, f_lng - lng_deg);
        lat -= d_lat;
        lng -= d_lng;
        if d_lat.abs() < INVERSE_TOLERANCE_DEG && d_lng.abs() < INVERSE_TOLERANCE_DEG {
            break;
        }
    }
    (lat, lng)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn transform_lng(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// Checks a position in degrees: finite, latitude in [-90, 90], longitude in [-180, 180].
pub(crate) fn validate(lat_deg: f64, lng_deg: f64) -> Result<(), GeoError> {
    let reason = if !lat_deg.is_finite() || !lng_deg.is_finite() {
        "latitude and longitude must be finite numbers"
    } else if !(-90.0..=90.0).contains(&lat_deg) {
        "latitude must be within [-90, 90] degrees"
    } else if !(-180.0..=180.0).contains(&lng_deg) {
        "longitude must be within [-180, 180] degrees"
    } else {
        return Ok(());
    };
    Err(GeoError::InvalidCoordinate {
        lat: lat_deg,
        lng: lng_deg,
        reason,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ll(lat: f64, lng: f64) -> LatLng {
        LatLng::new(lat, lng).unwrap()
    }

    #[test]
    fn parses_and_prints_names() {
        for crs in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
            assert_eq!(crs.as_str().parse::<Crs>().unwrap(), crs);
            assert_eq!(crs.to_string(), crs.as_str());
        }
        assert_eq!(
            "WGS84".parse::<Crs>(),
            Err(GeoError::UnknownCrs("WGS84".into()))
        );
        assert!("epsg:4326".parse::<Crs>().is_err());
    }

    #[test]
    fn reference_vectors_of_the_public_formulas() {
        // coordTransform (wandergis) reference outputs for (116.404, 39.915).
        let (lat, lng) = wgs84_to_gcj02(39.915, 116.404);
        assert!((lat - 39.916_404_281_501_64).abs() < 1e-9);
        assert!((lng - 116.410_244_499_169_38).abs() < 1e-9);
        let (lat, lng) = gcj02_to_bd09(39.915, 116.404);
        assert!((lat - 39.921_336_993_510_22).abs() < 1e-9);
        assert!((lng - 116.410_369_493_710_29).abs() < 1e-9);
    }

    #[test]
    fn gcj02_round_trip_in_maoming_is_sub_half_metre() {
        let wgs = ll(21.5, 111.0);
        let (lat, lng) = wgs84_to_gcj02(wgs.lat(), wgs.lng());
        let gcj = ll(lat, lng);
        // The published GCJ-02 offset in Guangdong is a few hundred metres.
        let offset_m = wgs.distance_m(gcj);
        assert!((100.0..700.0).contains(&offset_m), "offset {offset_m} m");
        let back = to_wgs84(lat, lng, Crs::Gcj02).unwrap();
        assert!(wgs.distance_m(back) < 0.5, "{}", wgs.distance_m(back));
    }

    #[test]
    fn bd09_round_trip_in_maoming_is_sub_half_metre() {
        for (lat, lng) in [(21.5, 111.0), (21.3735, 110.8625), (21.9916, 111.4544)] {
            let wgs = ll(lat, lng);
            let (b_lat, b_lng) = from_wgs84(wgs, Crs::Bd09);
            let offset_m = wgs.distance_m(ll(b_lat, b_lng));
            assert!((300.0..1_500.0).contains(&offset_m), "offset {offset_m} m");
            let back = to_wgs84(b_lat, b_lng, Crs::Bd09).unwrap();
            assert!(wgs.distance_m(back) < 0.5, "{}", wgs.distance_m(back));
        }
    }

    #[test]
    fn outside_china_gcj02_is_wgs84() {
        let paris = to_wgs84(48.8566, 2.3522, Crs::Gcj02).unwrap();
        assert_eq!(paris, ll(48.8566, 2.3522));
        assert!(out_of_china(48.8566, 2.3522));
        assert!(!out_of_china(21.5, 111.0));
    }

    #[test]
    fn rejects_invalid_coordinates() {
        for (lat, lng) in [
            (f64::NAN, 111.0),
            (21.5, f64::INFINITY),
            (90.5, 111.0),
            (-91.0, 0.0),
            (21.5, 180.01),
            (21.5, -200.0),
        ] {
            for crs in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
                let err = to_wgs84(lat, lng, crs).unwrap_err();
                assert!(matches!(err, GeoError::InvalidCoordinate { .. }), "{err}");
            }
        }
        let msg = to_wgs84(95.0, 111.0, Crs::Wgs84).unwrap_err().to_string();
        assert!(msg.contains("95") && msg.contains("latitude"), "{msg}");
        // The edges are valid.
        assert!(to_wgs84(90.0, 180.0, Crs::Bd09).is_ok());
        assert!(to_wgs84(-90.0, -180.0, Crs::Wgs84).is_ok());
    }
}
