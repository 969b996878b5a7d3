//! `UnixTime`: the verification time every verifier takes as a parameter.
//!
//! Libraries never read the clock; binaries read it once and pass it in, and tests pin it inside
//! each vector's validity window.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Seconds since 1970-01-01T00:00:00Z (UTC, no leap seconds).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(u64);

/// A timestamp that is not RFC 3339 (`2025-07-19T10:00:34Z`, an offset, or fractional seconds).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 time: {text:?}")]
pub struct TimeParseError {
    text: String,
}

impl UnixTime {
    /// Wraps seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// Builds a time from a UTC calendar date and time of day; `None` before 1970 or when a
    /// field is out of range.
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
    ) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let secs = days
            .checked_mul(86_400)?
            .checked_add(i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second))?;
        u64::try_from(secs).ok().map(Self)
    }

    /// Seconds as a signed value shifted by `offset_secs`; `None` below zero.
    fn shifted(self, offset_secs: i64) -> Option<Self> {
        let secs = i64::try_from(self.0).ok()?.checked_sub(offset_secs)?;
        u64::try_from(secs).ok().map(Self)
    }
}

impl fmt::Display for UnixTime {
    /// RFC 3339 in UTC, e.g. `2025-07-19T10:00:34Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = i64::try_from(self.0 / 86_400).unwrap_or(i64::MAX);
        let rem = self.0 % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

impl fmt::Debug for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixTime({self})")
    }
}

impl FromStr for UnixTime {
    type Err = TimeParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_rfc3339(text.trim()).ok_or_else(|| TimeParseError {
            text: text.to_owned(),
        })
    }
}

impl Serialize for UnixTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UnixTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn parse_rfc3339(text: &str) -> Option<UnixTime> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if bytes.len() < 20
        || bytes.get(4) != Some(&b'-')
        || bytes.get(7) != Some(&b'-')
        || !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
    {
        return None;
    }
    let year = i64::from(digits(0..4)?);
    let base = UnixTime::from_civil(
        year,
        digits(5..7)?,
        digits(8..10)?,
        digits(11..13)?,
        digits(14..16)?,
        digits(17..19)?,
    )?;
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction.find(|c: char| !c.is_ascii_digit())?;
        if end == 0 {
            return None;
        }
        rest = fraction.get(end..)?;
    }
    match rest {
        "Z" | "z" => Some(base),
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            base.shifted(sign * (hours * 3600 + minutes * 60))
        }
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_utc() {
        let time: UnixTime = "2025-07-19T10:00:34Z".parse().unwrap();
        assert_eq!(time.as_secs(), 1_752_919_234);
        assert_eq!(time.to_string(), "2025-07-19T10:00:34Z");
    }

    #[test]
    fn applies_offsets_and_ignores_fractions() {
        let time: UnixTime = "2025-07-19T12:00:34.250+02:00".parse().unwrap();
        assert_eq!(time.to_string(), "2025-07-19T10:00:34Z");
    }

    #[test]
    fn rejects_malformed_times() {
        for text in [
            "2025-07-19",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-07-19T10:00:34",
            "x025-07-19T10:00:34Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(text.parse::<UnixTime>().is_err(), "{text} parsed");
        }
    }

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (0..200_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
