//! Daily and ISO-weekly tumbling windows in the schools' time zone.
//!
//! Days are counted in the local calendar ([`Day`]), so a window follows the
//! school's midnight through daylight-saving changes (a day is 23, 24 or 25
//! hours long); instants are UTC microseconds, as in the Avro records.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;
use lap_schemas::WindowKind;

/// Days from 0001-01-01 to 1970-01-01 in chrono's count.
const EPOCH_CE: i32 = 719_163;

/// A local calendar date as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(pub i32);

impl Day {
    /// 0 for Monday … 6 for Sunday (1970-01-01 was a Thursday).
    pub fn weekday(self) -> i32 {
        (self.0 + 3).rem_euclid(7)
    }

    /// The Monday of this day's ISO week.
    pub fn week_start(self) -> Day {
        Day(self.0 - self.weekday())
    }

    /// The calendar date.
    pub fn date(self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.0 + EPOCH_CE).unwrap_or_default()
    }
}

/// `2025-09-01`, for logs.
impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.date().fmt(f)
    }
}

/// One tumbling window: a day, or an ISO week (Monday to Sunday).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// First day of the window.
    pub first: Day,
    /// Daily or weekly.
    pub kind: WindowKind,
}

impl Window {
    /// The window of `kind` containing `day`.
    pub fn of(kind: WindowKind, day: Day) -> Window {
        let first = match kind {
            WindowKind::Daily => day,
            WindowKind::Weekly => day.week_start(),
        };
        Window { first, kind }
    }

    /// One past the last day.
    pub fn end_day(self) -> Day {
        let days = match self.kind {
            WindowKind::Daily => 1,
            WindowKind::Weekly => 7,
        };
        Day(self.first.0 + days)
    }

    /// The days of the window.
    pub fn days(self) -> impl Iterator<Item = Day> {
        (self.first.0..self.end_day().0).map(Day)
    }
}

/// Maps instants to local days and back for one IANA time zone.
#[derive(Clone, Debug)]
pub struct Calendar {
    tz: Tz,
}

/// The time zone name is not in the IANA database.
#[derive(Debug, thiserror::Error)]
#[error("unknown time zone `{0}`: use an IANA name such as Europe/Berlin or America/New_York")]
pub struct UnknownTimeZone(pub String);

impl Calendar {
    /// A calendar for an IANA zone name such as `Europe/Berlin`.
    pub fn new(name: &str) -> Result<Calendar, UnknownTimeZone> {
        let tz = name
            .parse::<Tz>()
            .map_err(|_| UnknownTimeZone(name.into()))?;
        Ok(Calendar { tz })
    }

    /// The zone's IANA name, carried in every indicator row.
    pub fn name(&self) -> &'static str {
        self.tz.name()
    }

    /// The local day an instant (UTC microseconds) falls on.
    pub fn day_of(&self, micros: i64) -> Day {
        let utc = DateTime::from_timestamp_micros(micros).unwrap_or_default();
        Day(utc.with_timezone(&self.tz).date_naive().num_days_from_ce() - EPOCH_CE)
    }

    /// The instant local midnight starts `day` (the first instant of the day
    /// when a zone skips midnight).
    pub fn day_start(&self, day: Day) -> i64 {
        let mut local = day.date().and_hms_opt(0, 0, 0).unwrap_or_default();
        // A zone that jumps over midnight has no 00:00 that day; the first
        // valid local time within the next hours starts it.
        for _ in 0..4 {
            if let Some(t) = self.tz.from_local_datetime(&local).earliest() {
                return t.timestamp_micros();
            }
            local += chrono::Duration::minutes(30);
        }
        local.and_utc().timestamp_micros()
    }

    /// Start of a window as a UTC instant.
    pub fn start(&self, w: Window) -> i64 {
        self.day_start(w.first)
    }

    /// End (exclusive) of a window as a UTC instant.
    pub fn end(&self, w: Window) -> i64 {
        self.day_start(w.end_day())
    }
}
