//! Working days and deadlines. Time limits are given in seconds, hours or working days; a
//! working day is a weekday that is not a public holiday, or a weekend day the State Council
//! made a working day (调休). The calendar is data (one override per date that differs from the
//! plain week), and every deadline is computed here from it, the start and the limit.
//!
//! Days are counted in Beijing time (UTC+8, no daylight saving). As Chinese administrative
//! rules count periods (the start day is not counted, 期间开始之日不计算在内), a limit of N
//! working days ends at the end of the N-th working day after the day of the start.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use wangge_domain::calendar::{TimeLimit, WorkCalendar};
//!
//! let cal = WorkCalendar::china_2026();
//! // Friday 13 February 2026, 10:00 in Beijing; the Spring Festival holiday runs 15–23
//! // February, and Saturday the 14th is a make-up working day.
//! let start: DateTime<Utc> = "2026-02-13T02:00:00Z".parse().unwrap();
//! let due = TimeLimit::WorkingDays(2).deadline(&cal, start);
//! // The 14th, then the 24th: due at the end of Tuesday 24 February, Beijing time.
//! assert_eq!(due.to_rfc3339(), "2026-02-24T16:00:00+00:00");
//! ```

use crate::unit::ValidationError;
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Beijing time, in which days are counted (and periods of figures begin) (a valid offset: checked when compiling).
pub const CST: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is an offset"),
};

/// The longest limit accepted, in each unit: a year and more is no time limit.
pub const MAX_SECONDS: u32 = 366 * 24 * 3600;
pub const MAX_HOURS: u32 = 366 * 24;
pub const MAX_WORKING_DAYS: u32 = 250;

/// How a date differs from the plain week (Monday to Friday worked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A day off: a public holiday, or a weekday given off to bridge one.
    Holiday,
    /// A weekend day made a working day (调休).
    Workday,
}

impl DayKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Holiday => "holiday",
            Self::Workday => "workday",
        }
    }

    /// # Errors
    /// `kind` for anything but `holiday` or `workday`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "holiday" => Ok(Self::Holiday),
            "workday" => Ok(Self::Workday),
            _ => Err(ValidationError::new(
                "kind",
                format!("{s:?} is not holiday or workday"),
            )),
        }
    }
}

/// The working-day calendar: the plain week plus the dates that differ from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    overrides: BTreeMap<NaiveDate, DayKind>,
}

impl WorkCalendar {
    #[must_use]
    pub fn new(overrides: impl IntoIterator<Item = (NaiveDate, DayKind)>) -> Self {
        Self {
            overrides: overrides.into_iter().collect(),
        }
    }

    /// The State Council's arrangement of holidays for 2026 (notice of 4 November 2025).
    #[must_use]
    pub fn china_2026() -> Self {
        Self::new(CHINA_2026.iter().flat_map(|d| d.days()))
    }

    /// Whether `date` is a working day.
    #[must_use]
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.overrides.get(&date) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::Workday) => true,
            None => !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// The end (24:00 Beijing time) of the `n`-th working day after the day of `start`.
    /// Zero working days ends with the day of the start.
    #[must_use]
    pub fn after_working_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let mut day = start.with_timezone(&CST).date_naive();
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().unwrap_or(day);
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        end_of_day(day)
    }

    /// The dates that differ from the plain week, in order.
    pub fn overrides(&self) -> impl Iterator<Item = (NaiveDate, DayKind)> + '_ {
        self.overrides.iter().map(|(d, k)| (*d, *k))
    }
}

/// 24:00 Beijing time at the end of `day`, in UTC.
fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap_or(day);
    let midnight = next.and_hms_opt(0, 0, 0).unwrap_or_default();
    CST.from_local_datetime(&midnight)
        .single()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// A time limit: elapsed seconds or hours, or working days by the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeLimit {
    /// For tests and drills.
    Seconds(u32),
    Hours(u32),
    WorkingDays(u32),
}

impl TimeLimit {
    /// A limit, refused when zero or longer than a year.
    ///
    /// # Errors
    /// `field` when the amount is 0 or over the maximum of its unit.
    pub fn checked(self, field: &'static str) -> Result<Self, ValidationError> {
        let (n, max) = match self {
            Self::Seconds(n) => (n, MAX_SECONDS),
            Self::Hours(n) => (n, MAX_HOURS),
            Self::WorkingDays(n) => (n, MAX_WORKING_DAYS),
        };
        if n == 0 || n > max {
            return Err(ValidationError::new(
                field,
                format!("must be from 1 to {max} in its unit"),
            ));
        }
        Ok(self)
    }

    /// When a period of this limit that starts at `start` ends.
    #[must_use]
    pub fn deadline(self, calendar: &WorkCalendar, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Seconds(s) => start + Duration::seconds(i64::from(s)),
            Self::Hours(h) => start + Duration::hours(i64::from(h)),
            Self::WorkingDays(n) => calendar.after_working_days(start, n),
        }
    }
}

/// One holiday period of a year's arrangement: the days off and the make-up working days.
#[derive(Debug, Clone, Copy)]
pub struct HolidayPeriod {
    pub name: &'static str,
    /// First and last day off, `YYYY-MM-DD`.
    pub off: (&'static str, &'static str),
    pub make_up: &'static [&'static str],
}

impl HolidayPeriod {
    /// Its dates, each with its kind.
    #[must_use]
    pub fn days(&self) -> Vec<(NaiveDate, DayKind)> {
        let parse = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let mut out = Vec::new();
        if let (Some(first), Some(last)) = (parse(self.off.0), parse(self.off.1)) {
            out.extend(
                first
                    .iter_days()
                    .take_while(|d| *d <= last)
                    .map(|d| (d, DayKind::Holiday)),
            );
        }
        out.extend(
            self.make_up
                .iter()
                .filter_map(|s| parse(s))
                .map(|d| (d, DayKind::Workday)),
        );
        out
    }
}

/// 国务院办公厅关于2026年部分节假日安排的通知 (4 November 2025).
pub const CHINA_2026: &[HolidayPeriod] = &[
    HolidayPeriod {
        name: "元旦",
        off: ("2026-01-01", "2026-01-03"),
        make_up: &["2026-01-04"],
    },
    HolidayPeriod {
        name: "春节",
        off: ("2026-02-15", "2026-02-23"),
        make_up: &["2026-02-14", "2026-02-28"],
    },
    HolidayPeriod {
        name: "清明节",
        off: ("2026-04-04", "2026-04-06"),
        make_up: &[],
    },
    HolidayPeriod {
        name: "劳动节",
        off: ("2026-05-01", "2026-05-05"),
        make_up: &["2026-05-09"],
    },
    HolidayPeriod {
        name: "端午节",
        off: ("2026-06-19", "2026-06-21"),
        make_up: &[],
    },
    HolidayPeriod {
        name: "中秋节",
        off: ("2026-09-25", "2026-09-27"),
        make_up: &[],
    },
    HolidayPeriod {
        name: "国庆节",
        off: ("2026-10-01", "2026-10-07"),
        make_up: &["2026-09-20", "2026-10-10"],
    },
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_2026_arrangement_has_its_holidays_and_make_up_days() {
        let cal = WorkCalendar::china_2026();
        for off in [
            "2026-01-01",
            "2026-02-16",
            "2026-02-23",
            "2026-10-07",
            "2026-06-19",
        ] {
            assert!(!cal.is_working_day(date(off)), "{off}");
        }
        // Make-up days fall on weekends and are worked.
        for on in [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        ] {
            assert!(cal.is_working_day(date(on)), "{on}");
        }
        // A plain week.
        assert!(cal.is_working_day(date("2026-03-02")));
        assert!(!cal.is_working_day(date("2026-03-07")));
        assert_eq!(
            cal.overrides().count(),
            3 + 1 + 9 + 2 + 3 + 5 + 1 + 3 + 3 + 7 + 2
        );
    }

    #[test]
    fn working_days_skip_the_spring_festival_and_count_its_make_up_saturdays() {
        let cal = WorkCalendar::china_2026();
        // Friday 13 Feb, 10:00 Beijing.
        let start = at("2026-02-13T10:00:00+08:00");
        assert_eq!(
            TimeLimit::WorkingDays(1).deadline(&cal, start),
            at("2026-02-15T00:00:00+08:00"),
            "Saturday the 14th is worked"
        );
        assert_eq!(
            TimeLimit::WorkingDays(2).deadline(&cal, start),
            at("2026-02-25T00:00:00+08:00"),
            "15–23 off: the 24th is next"
        );
        // Friday 27 Feb: Saturday the 28th is a make-up day, Sunday not, then Monday.
        assert_eq!(
            TimeLimit::WorkingDays(2).deadline(&cal, at("2026-02-27T17:00:00+08:00")),
            at("2026-03-03T00:00:00+08:00")
        );
    }

    #[test]
    fn working_days_skip_national_day_and_count_its_make_up_days() {
        let cal = WorkCalendar::china_2026();
        // Friday 18 Sep: Sunday the 20th is worked.
        assert_eq!(
            TimeLimit::WorkingDays(1).deadline(&cal, at("2026-09-18T09:00:00+08:00")),
            at("2026-09-21T00:00:00+08:00")
        );
        // Wednesday 30 Sep: 1–7 Oct off, Thursday 8, Friday 9, Saturday 10 (make-up).
        let start = at("2026-09-30T15:00:00+08:00");
        assert_eq!(
            TimeLimit::WorkingDays(3).deadline(&cal, start),
            at("2026-10-11T00:00:00+08:00")
        );
        // Mid-Autumn (25–27 Sep) is a Friday to Sunday: Thursday 24 + 1 is Monday 28.
        assert_eq!(
            TimeLimit::WorkingDays(1).deadline(&cal, at("2026-09-24T08:00:00+08:00")),
            at("2026-09-29T00:00:00+08:00")
        );
    }

    #[test]
    fn days_are_beijing_days_whatever_the_utc_date() {
        let cal = WorkCalendar::china_2026();
        // 17:00 UTC on Friday 13 Feb is already Saturday the 14th in Beijing.
        assert_eq!(
            TimeLimit::WorkingDays(1).deadline(&cal, at("2026-02-13T17:00:00Z")),
            at("2026-02-25T00:00:00+08:00")
        );
    }

    #[test]
    fn hours_and_seconds_are_elapsed_time_holidays_or_not() {
        let cal = WorkCalendar::china_2026();
        let start = at("2026-02-14T22:00:00+08:00");
        assert_eq!(
            TimeLimit::Hours(24).deadline(&cal, start),
            at("2026-02-15T22:00:00+08:00")
        );
        assert_eq!(
            TimeLimit::Seconds(90).deadline(&cal, start),
            at("2026-02-14T22:01:30+08:00")
        );
    }

    #[test]
    fn limits_are_between_one_and_a_year() {
        assert!(TimeLimit::Hours(0).checked("x").is_err());
        assert!(
            TimeLimit::WorkingDays(MAX_WORKING_DAYS)
                .checked("x")
                .is_ok()
        );
        assert!(
            TimeLimit::WorkingDays(MAX_WORKING_DAYS + 1)
                .checked("x")
                .is_err()
        );
        assert!(TimeLimit::Seconds(1).checked("x").is_ok());
        assert_eq!(DayKind::parse("holiday"), Ok(DayKind::Holiday));
        assert!(DayKind::parse("weekend").is_err());
    }
}
