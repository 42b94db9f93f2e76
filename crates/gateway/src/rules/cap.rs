//! `[rules.cap]`: parsing the limits and computing the calendar window "now" falls in, in the rule's
//! time zone. Counting happens in the store (see [`crate::domain::CapCheck`]); this module only says
//! which window and which limit.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike,
};
use chrono_tz::Tz;
use serde_json::Value;

use super::issues::{Issues, describe, join};
use crate::domain::{CapCheck, CapPeriod};

/// A rule's caps, shortest period first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    limits: Vec<(CapPeriod, u64)>,
}

impl Caps {
    /// Parses `[rules.cap]` (`hourly`, `daily`, `weekly`, `monthly`, `total` = whole numbers ≥ 0).
    pub fn parse(value: &Value, issues: &mut Issues) -> Caps {
        let Value::Object(table) = value else {
            issues.push(
                "cap",
                format!(
                    "expected a table like {{ daily = 100 }}, got {}",
                    describe(value)
                ),
            );
            return Caps::default();
        };
        let mut limits = Vec::new();
        for (key, limit) in table {
            let path = join("cap", key);
            let period = match key.parse::<CapPeriod>() {
                Ok(p) => p,
                Err(e) => {
                    issues.push(path, e.to_string());
                    continue;
                }
            };
            match limit.as_u64() {
                Some(n) => limits.push((period, n)),
                None => issues.push(
                    path,
                    format!("expected a whole number ≥ 0, got {}", describe(limit)),
                ),
            }
        }
        if table.is_empty() {
            issues.push(
                "cap",
                "no limit given (hourly, daily, weekly, monthly or total)",
            );
        }
        limits.sort();
        Caps { limits }
    }

    /// Whether the rule has no cap.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// The limits, shortest period first.
    pub fn limits(&self) -> &[(CapPeriod, u64)] {
        &self.limits
    }

    /// The checks for a conversion queued at `now_ms`.
    pub fn checks(&self, now_ms: i64, tz: Tz) -> Vec<CapCheck> {
        self.limits
            .iter()
            .map(|&(period, limit)| CapCheck {
                period,
                limit,
                window_start_ms: window_start(period, now_ms, tz),
            })
            .collect()
    }
}

/// Start (unix ms) of the `period` window containing `now_ms`, in `tz`.
///
/// An hour is the clock hour of the instant (so the repeated hour when DST ends is two windows); a
/// day starts at the first instant of the local date (midnight, or the end of a DST gap at midnight);
/// weeks start on Monday; months on the 1st. `Total` never rolls over.
pub fn window_start(period: CapPeriod, now_ms: i64, tz: Tz) -> i64 {
    let Some(utc) = DateTime::from_timestamp_millis(now_ms) else {
        return now_ms;
    };
    let local = utc.with_timezone(&tz);
    let date = local.date_naive();
    let day = match period {
        CapPeriod::Total => return i64::MIN,
        CapPeriod::Hourly => {
            let into_hour = i64::from(local.minute()) * 60_000
                + i64::from(local.second()) * 1000
                + i64::from(local.timestamp_subsec_millis());
            return now_ms - into_hour;
        }
        CapPeriod::Daily => date,
        CapPeriod::Weekly => {
            date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
        }
        CapPeriod::Monthly => NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date),
    };
    start_of_day(day, tz).unwrap_or(now_ms)
}

/// The first instant of local `date` in `tz`, unix ms.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> Option<i64> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    first_instant_at_or_after(midnight, tz)
}

/// The earliest instant whose local time is `local` or, inside a DST gap, the first after it.
pub fn first_instant_at_or_after(local: NaiveDateTime, tz: Tz) -> Option<i64> {
    // Gaps are at most a few hours: walk minutes until the local time exists.
    (0..=240).find_map(|minute| {
        match tz.from_local_datetime(&(local + Duration::minutes(minute))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp_millis()),
            LocalResult::None => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn parse(toml_src: &str) -> (Caps, Vec<String>) {
        let v: Value = toml::from_str(toml_src).unwrap();
        let mut issues = Issues::default();
        let caps = Caps::parse(&v, &mut issues);
        let msgs = issues
            .into_vec()
            .into_iter()
            .map(|i| format!("{}: {}", i.path, i.problem))
            .collect();
        (caps, msgs)
    }

    #[test]
    fn windows_follow_the_operators_calendar() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let utc = Tz::UTC;
        // 2024-03-06 is a Wednesday. 02:30 UTC is still Tuesday evening in New York.
        let now = ms("2024-03-06T02:30:15.250Z");
        let cases = [
            (CapPeriod::Hourly, utc, "2024-03-06T02:00:00Z"),
            (CapPeriod::Daily, utc, "2024-03-06T00:00:00Z"),
            (CapPeriod::Weekly, utc, "2024-03-04T00:00:00Z"),
            (CapPeriod::Monthly, utc, "2024-03-01T00:00:00Z"),
            (CapPeriod::Hourly, ny, "2024-03-06T02:00:00Z"),
            (CapPeriod::Daily, ny, "2024-03-05T00:00:00-05:00"),
            (CapPeriod::Weekly, ny, "2024-03-04T00:00:00-05:00"),
            (CapPeriod::Monthly, ny, "2024-03-01T00:00:00-05:00"),
        ];
        for (period, tz, want) in cases {
            assert_eq!(window_start(period, now, tz), ms(want), "{period} in {tz}");
        }
        assert_eq!(window_start(CapPeriod::Total, now, ny), i64::MIN);
    }

    #[test]
    fn half_hour_zones_start_hours_at_local_minute_zero() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        // 10:20 UTC is 15:50 in Kolkata: the local hour began at 15:00 = 09:30 UTC.
        assert_eq!(
            window_start(CapPeriod::Hourly, ms("2024-01-10T10:20:00Z"), kolkata),
            ms("2024-01-10T09:30:00Z")
        );
    }

    #[test]
    fn days_across_dst_changes_are_23_and_25_hours_long() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // Spring forward on 2024-03-10: that day starts at 05:00 UTC, the next at 04:00 UTC.
        let day = window_start(CapPeriod::Daily, ms("2024-03-10T20:00:00Z"), ny);
        let next = window_start(CapPeriod::Daily, ms("2024-03-11T20:00:00Z"), ny);
        assert_eq!(day, ms("2024-03-10T05:00:00Z"));
        assert_eq!(next - day, 23 * 3_600_000);
        // Fall back on 2024-11-03: 25 hours.
        let day = window_start(CapPeriod::Daily, ms("2024-11-03T20:00:00Z"), ny);
        let next = window_start(CapPeriod::Daily, ms("2024-11-04T20:00:00Z"), ny);
        assert_eq!(next - day, 25 * 3_600_000);
        // The repeated 01:00 hour is two windows.
        let first = window_start(CapPeriod::Hourly, ms("2024-11-03T05:30:00Z"), ny);
        let second = window_start(CapPeriod::Hourly, ms("2024-11-03T06:30:00Z"), ny);
        assert_eq!(second - first, 3_600_000);
    }

    #[test]
    fn a_day_starting_in_a_dst_gap_starts_when_the_gap_ends() {
        // Santiago skipped 2022-09-11 00:00–01:00 local: the day began at 01:00 (-03).
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let start = window_start(CapPeriod::Daily, ms("2022-09-11T15:00:00Z"), santiago);
        assert_eq!(start, ms("2022-09-11T01:00:00-03:00"));
    }

    #[test]
    fn parses_limits_and_reports_each_bad_one() {
        let (caps, errs) = parse("daily = 100\nhourly = 10\ntotal = 0");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            caps.limits(),
            &[
                (CapPeriod::Hourly, 10),
                (CapPeriod::Daily, 100),
                (CapPeriod::Total, 0)
            ]
        );
        let (_, errs) = parse("daily = -1\nyearly = 5\nhourly = \"10\"\nweekly = 2.5");
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.starts_with("cap.yearly: unknown cap period"))
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("cap.hourly: expected a whole number"))
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("cap.daily: expected a whole number"))
        );
    }
}
