//! ISO 8601 timestamps and durations, parsed strictly and without allocation.

/// How strict timestamp parsing is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeRules {
    /// xAPI 1.0.x: ISO 8601 extended format with a zone; `-00:00` is UTC.
    Xapi1,
    /// xAPI 2.0: RFC 3339 — also a space between date and time; the
    /// "unknown offset" forms `-00`, `-0000`, `-00:00` are rejected.
    Xapi2,
    /// Caliper: UTC with `Z` (ISO 8601); milliseconds are the norm.
    Caliper,
}

/// Why a timestamp or duration was refused; the text completes
/// "… is not a valid timestamp: ".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeError {
    /// Stable suffix for the error code (`format`, `zone`, `unknown_offset`, `range`).
    pub kind: &'static str,
    /// Explanation.
    pub message: String,
}

fn err(kind: &'static str, message: impl Into<String>) -> TimeError {
    TimeError {
        kind,
        message: message.into(),
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let s = self.b.get(self.i..self.i + n)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(s.iter().fold(0i64, |a, d| a * 10 + (d - b'0') as i64))
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses a timestamp into microseconds since the Unix epoch, UTC.
pub fn parse_timestamp(s: &str, rules: TimeRules) -> Result<i64, TimeError> {
    let fmt = || {
        err(
            "format",
            format!("`{s}` is not an ISO 8601 date-time like 2024-03-01T08:15:00.000Z"),
        )
    };
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let year = c.digits(4).ok_or_else(fmt)?;
    if !c.eat(b'-') {
        return Err(fmt());
    }
    let month = c.digits(2).ok_or_else(fmt)?;
    if !c.eat(b'-') {
        return Err(fmt());
    }
    let day = c.digits(2).ok_or_else(fmt)?;
    let separator_ok = c.eat(b'T') || c.eat(b't') || (rules == TimeRules::Xapi2 && c.eat(b' '));
    if !separator_ok {
        let hint = if c.peek() == Some(b' ') {
            "; a space between date and time is only allowed from xAPI 2.0"
        } else if c.peek().is_none() {
            "; a time of day and a zone are required"
        } else {
            ""
        };
        return Err(err(
            "format",
            format!("`{s}` is not an ISO 8601 date-time{hint}"),
        ));
    }
    let hour = c.digits(2).ok_or_else(fmt)?;
    if !c.eat(b':') {
        return Err(fmt());
    }
    let minute = c.digits(2).ok_or_else(fmt)?;
    let mut second = 0;
    let mut micros = 0i64;
    if c.eat(b':') {
        second = c.digits(2).ok_or_else(fmt)?;
        if c.eat(b'.') || c.eat(b',') {
            let start = c.i;
            while c.peek().is_some_and(|d| d.is_ascii_digit()) {
                if c.i - start < 6 {
                    micros = micros * 10 + (c.b[c.i] - b'0') as i64;
                }
                c.i += 1;
            }
            let n = c.i - start;
            if n == 0 {
                return Err(fmt());
            }
            for _ in n..6 {
                micros *= 10;
            }
        }
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(err("range", format!("`{s}` has no such date")));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(err("range", format!("`{s}` has no such time of day")));
    }
    let offset_minutes = match c.peek() {
        Some(b'Z') | Some(b'z') => {
            c.i += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            if rules == TimeRules::Caliper {
                return Err(err(
                    "zone",
                    format!("`{s}` must be in UTC with a trailing Z (Caliper)"),
                ));
            }
            c.i += 1;
            let start = c.i;
            let h = c.digits(2).ok_or_else(fmt)?;
            let m = if c.eat(b':') {
                c.digits(2).ok_or_else(fmt)?
            } else {
                c.digits(2).unwrap_or(0)
            };
            if h > 23 || m > 59 {
                return Err(err("range", format!("`{s}` has an impossible zone offset")));
            }
            if sign == b'-' && h == 0 && m == 0 && rules == TimeRules::Xapi2 {
                let written = &s[start - 1..];
                return Err(err(
                    "unknown_offset",
                    format!(
                        "`{s}`: the offset {written} means \"unknown local offset\" and is not allowed in xAPI 2.0; use Z or +00:00"
                    ),
                ));
            }
            let total = h * 60 + m;
            if sign == b'-' { -total } else { total }
        }
        None => {
            return Err(err(
                "zone",
                format!("`{s}` has no time zone; add Z or an offset such as +09:00"),
            ));
        }
        Some(_) => return Err(fmt()),
    };
    if c.i != c.b.len() {
        return Err(fmt());
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
    Ok(secs * 1_000_000 + micros)
}

/// Formats microseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_timestamp(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let millis = us.rem_euclid(1_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses an ISO 8601 duration (`PT1H30M`, `P1DT2.5S`, `P2W`) into
/// milliseconds. Years and months have no fixed length; they count as 365
/// and 30 days, which is what the indicators need (time on task is never
/// reported in months).
///
/// ISO 8601's restrictions apply: designators in order, each at most once;
/// the week form `PnW` stands alone (`P4W1D` is no duration); only the last
/// component may have a decimal fraction (with digits on both sides of the
/// decimal sign); `T` is followed by at least one time component.
pub fn parse_duration_ms(s: &str) -> Result<i64, TimeError> {
    let bad = || {
        err(
            "format",
            format!("`{s}` is not an ISO 8601 duration like PT1H30M or PT45.5S"),
        )
    };
    let b = s.as_bytes();
    if b.first() != Some(&b'P') || b.len() < 3 {
        return Err(bad());
    }
    let mut i = 1;
    let mut in_time = false;
    let mut total_ms = 0f64;
    let mut components = 0;
    let mut last_rank = 0;
    let mut fraction_in = None;
    let mut weeks = false;
    while i < b.len() {
        if b[i] == b'T' {
            if in_time {
                return Err(bad());
            }
            in_time = true;
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b',') {
            i += 1;
        }
        if start == i || i >= b.len() {
            return Err(bad());
        }
        if let Some(earlier) = fraction_in {
            return Err(err(
                "format",
                format!(
                    "`{s}`: only the last component of a duration may have a decimal fraction, and {earlier} is not the last"
                ),
            ));
        }
        let digits = &s[start..i];
        let number: f64 = if digits.len() <= 15 && digits.bytes().all(|c| c.is_ascii_digit()) {
            // Whole numbers (nearly every component) read without a parse;
            // 15 digits are exact in an f64, as the parse would give.
            digits
                .bytes()
                .fold(0u64, |n, c| n * 10 + u64::from(c - b'0')) as f64
        } else if digits.contains(['.', ',']) {
            fraction_in = Some(b[i] as char);
            decimal(digits).ok_or_else(bad)?
        } else {
            digits.parse().map_err(|_| bad())?
        };
        let (rank, unit_ms) = match (in_time, b[i]) {
            (false, b'Y') => (1, 365.0 * 86_400_000.0),
            (false, b'M') => (2, 30.0 * 86_400_000.0),
            (false, b'W') => (3, 7.0 * 86_400_000.0),
            (false, b'D') => (4, 86_400_000.0),
            (true, b'H') => (5, 3_600_000.0),
            (true, b'M') => (6, 60_000.0),
            (true, b'S') => (7, 1000.0),
            _ => return Err(bad()),
        };
        if rank <= last_rank {
            return Err(bad());
        }
        last_rank = rank;
        weeks |= rank == 3;
        total_ms += number * unit_ms;
        components += 1;
        i += 1;
    }
    if weeks && components > 1 {
        return Err(err(
            "format",
            format!(
                "`{s}` combines weeks with other designators; the week form stands alone (P4W), so write the whole duration in days instead (P29D, not P4W1D)"
            ),
        ));
    }
    if components == 0 || (in_time && last_rank < 5) || total_ms > 1.0e15 {
        return Err(bad());
    }
    Ok(total_ms.round() as i64)
}

/// A component's number with a decimal fraction: digits, one decimal sign
/// (`.` or ISO 8601's `,`), digits.
fn decimal(digits: &str) -> Option<f64> {
    let (whole, fraction) = digits.split_once(['.', ','])?;
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit());
    if !(all_digits(whole) && all_digits(fraction)) {
        return None;
    }
    format!("{whole}.{fraction}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_709_280_900_000_000; // 2024-03-01T08:15:00Z

    #[test]
    fn zones_and_fractions() {
        let r = TimeRules::Xapi1;
        assert_eq!(parse_timestamp("2024-03-01T08:15:00Z", r), Ok(T0));
        assert_eq!(parse_timestamp("2024-03-01T17:15:00+09:00", r), Ok(T0));
        assert_eq!(parse_timestamp("2024-03-01T03:15:00-0500", r), Ok(T0));
        assert_eq!(
            parse_timestamp("2024-03-01T08:15:00.123456789Z", r),
            Ok(T0 + 123_456)
        );
        assert_eq!(
            parse_timestamp("2024-03-01T08:15:00.5Z", r),
            Ok(T0 + 500_000)
        );
        assert_eq!(parse_timestamp("2024-03-01T08:15:00-00:00", r), Ok(T0));
        assert_eq!(
            parse_timestamp("2024-03-01T08:15:00", r).unwrap_err().kind,
            "zone"
        );
        assert_eq!(
            parse_timestamp("2024-02-30T08:15:00Z", r).unwrap_err().kind,
            "range"
        );
        assert_eq!(
            parse_timestamp("2024-03-01 08:15:00Z", r).unwrap_err().kind,
            "format"
        );
        assert_eq!(parse_timestamp("yesterday", r).unwrap_err().kind, "format");
    }

    #[test]
    fn xapi2_is_rfc3339() {
        let r = TimeRules::Xapi2;
        assert_eq!(parse_timestamp("2024-03-01 08:15:00Z", r), Ok(T0));
        for bad in [
            "2024-03-01T08:15:00-00",
            "2024-03-01T08:15:00-0000",
            "2024-03-01T08:15:00-00:00",
        ] {
            assert_eq!(
                parse_timestamp(bad, r).unwrap_err().kind,
                "unknown_offset",
                "{bad}"
            );
        }
        assert_eq!(parse_timestamp("2024-03-01T08:15:00+00:00", r), Ok(T0));
    }

    #[test]
    fn caliper_wants_utc() {
        let r = TimeRules::Caliper;
        assert_eq!(parse_timestamp("2024-03-01T08:15:00.000Z", r), Ok(T0));
        assert_eq!(
            parse_timestamp("2024-03-01T09:15:00.000+01:00", r)
                .unwrap_err()
                .kind,
            "zone"
        );
    }

    #[test]
    fn format_round_trips() {
        assert_eq!(format_timestamp(T0 + 123_000), "2024-03-01T08:15:00.123Z");
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("PT120S"), parse_duration_ms("PT2M"));
        assert_eq!(parse_duration_ms("PT1H30M"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("PT45.25S"), Ok(45_250));
        assert_eq!(parse_duration_ms("P1DT1S"), Ok(86_401_000));
        assert_eq!(parse_duration_ms("P2W"), Ok(14 * 86_400_000));
        assert_eq!(
            parse_duration_ms("PT1,5S"),
            Ok(1_500),
            "ISO 8601's decimal comma"
        );
        assert_eq!(
            parse_duration_ms("PT0000000000000000012S"),
            Ok(12_000),
            "more digits than the whole-number path reads"
        );
        for bad in [
            "", "P", "PT", "1H", "PT1X", "PT1S2M", "P1H", "PT-5S", "PT1.2.3S", "P1DT", "PT.5S",
            "PT5.S", "P1MM",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration_ms("P1.5D"), Ok(129_600_000));
        assert_eq!(parse_duration_ms("PT1H0.25M"), Ok(3_615_000));
    }

    #[test]
    fn weeks_stand_alone() {
        assert_eq!(parse_duration_ms("P4W"), Ok(28 * 86_400_000));
        for bad in ["P4W1D", "P1Y2W", "P2WT1H", "P1W1W"] {
            let e = parse_duration_ms(bad).unwrap_err();
            assert_eq!(e.kind, "format", "{bad}");
        }
        let e = parse_duration_ms("P4W1D").unwrap_err();
        assert!(
            e.message.contains("week form stands alone"),
            "{}",
            e.message
        );
    }

    #[test]
    fn only_the_last_component_has_a_fraction() {
        for bad in ["P1.5DT2H", "PT1.5H30M", "PT0.5M1S", "P1,5Y2M"] {
            let e = parse_duration_ms(bad).unwrap_err();
            assert!(
                e.message.contains("decimal fraction"),
                "{bad}: {}",
                e.message
            );
        }
    }
}
