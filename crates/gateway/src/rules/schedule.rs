//! `[rules.schedule]`: days of the week and hours of the day during which a rule sends, in the rule's
//! time zone. Judged on the lifecycle event's `occurred_at` (when it happened, which is also TikTok's
//! `event_time`), not on when it reached us: a backfill of last night's sales is outside a 9-to-6
//! schedule even if it is posted at noon.

use chrono::{DateTime, Datelike, Timelike, Weekday};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::Value;

use super::issues::{Issues, describe, index, join};

const DAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "monday", Weekday::Mon),
    ("tue", "tuesday", Weekday::Tue),
    ("wed", "wednesday", Weekday::Wed),
    ("thu", "thursday", Weekday::Thu),
    ("fri", "friday", Weekday::Fri),
    ("sat", "saturday", Weekday::Sat),
    ("sun", "sunday", Weekday::Sun),
];

/// When a rule may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Indexed Monday = 0.
    days: [bool; 7],
    /// Minute-of-day ranges `[start, end)`; `end <= start` wraps past midnight.
    hours: Vec<(u32, u32)>,
    /// How it was configured, for messages (`mon-fri 09:00-18:00`).
    summary: String,
}

/// Why an event falls outside the schedule (for explanations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outside {
    /// The event's local time: `Sat 2024-03-09 10:15`.
    pub local_time: String,
    pub timezone: String,
    /// The schedule: `mon,tue,wed,thu,fri 09:00-18:00`.
    pub schedule: String,
}

impl Outside {
    /// The `last_error` of a conversion suppressed by the schedule.
    pub fn reason(&self) -> String {
        format!(
            "schedule: event at {} {} is outside {}",
            self.local_time, self.timezone, self.schedule
        )
    }
}

impl Schedule {
    /// Parses `[rules.schedule]`: `days = ["mon", "tue"]` (or `["mon-fri"]`), `hours = "09:00-18:00"`
    /// (or a list of ranges). At least one of the two; an absent one means "every day" / "all day".
    pub fn parse(value: &Value, issues: &mut Issues) -> Option<Schedule> {
        let Value::Object(table) = value else {
            issues.push(
                "schedule",
                format!(
                    "expected a table like {{ days = [\"mon-fri\"], hours = \"09:00-18:00\" }}, got {}",
                    describe(value)
                ),
            );
            return None;
        };
        let before = issues.len();
        for key in table.keys().filter(|k| *k != "days" && *k != "hours") {
            issues.push(
                join("schedule", key),
                "unknown key (expected days and/or hours)",
            );
        }
        if !table.contains_key("days") && !table.contains_key("hours") {
            issues.push("schedule", "give days, hours, or both");
        }
        let days = match table.get("days") {
            None => [true; 7],
            Some(v) => parse_days(v, issues),
        };
        let hours = match table.get("hours") {
            None => vec![(0, 24 * 60)],
            Some(Value::String(s)) => parse_range(s, "schedule.hours", issues)
                .into_iter()
                .collect(),
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let path = index("schedule.hours", i);
                    match item {
                        Value::String(s) => parse_range(s, &path, issues),
                        other => {
                            issues.push(
                                path,
                                format!(
                                    "expected a range like \"09:00-18:00\", got {}",
                                    describe(other)
                                ),
                            );
                            None
                        }
                    }
                })
                .collect(),
            Some(other) => {
                issues.push(
                    "schedule.hours",
                    format!(
                        "expected \"09:00-18:00\" or a list of such ranges, got {}",
                        describe(other)
                    ),
                );
                Vec::new()
            }
        };
        if issues.len() != before {
            return None;
        }
        let day_names: Vec<&str> = DAYS
            .iter()
            .zip(days)
            .filter(|(_, on)| *on)
            .map(|((short, _, _), _)| *short)
            .collect();
        let summary = format!(
            "{} {}",
            if day_names.len() == 7 {
                "every day".to_owned()
            } else {
                day_names.join(",")
            },
            hours
                .iter()
                .map(|(s, e)| format!("{}-{}", hhmm(*s), hhmm(*e)))
                .collect::<Vec<_>>()
                .join(",")
        );
        Some(Schedule {
            days,
            hours,
            summary,
        })
    }

    /// `Ok` when `at` (unix seconds) falls inside the schedule in `tz`.
    pub fn check(&self, at: i64, tz: Tz) -> Result<(), Outside> {
        let Some(utc) = DateTime::from_timestamp(at, 0) else {
            return Ok(());
        };
        let local = utc.with_timezone(&tz);
        let day = local.weekday().num_days_from_monday() as usize;
        let minute = local.hour() * 60 + local.minute();
        let in_hours = self.hours.iter().any(|&(start, end)| {
            if start < end {
                (start..end).contains(&minute)
            } else {
                minute >= start || minute < end
            }
        });
        if self.days[day] && in_hours {
            return Ok(());
        }
        Err(Outside {
            local_time: local.format("%a %Y-%m-%d %H:%M").to_string(),
            timezone: tz.name().to_owned(),
            schedule: self.summary.clone(),
        })
    }

    /// How it was configured, e.g. `mon,tue,wed,thu,fri 09:00-18:00`.
    pub fn summary(&self) -> &str {
        &self.summary
    }
}

fn parse_days(v: &Value, issues: &mut Issues) -> [bool; 7] {
    let mut days = [false; 7];
    let Value::Array(items) = v else {
        issues.push(
            "schedule.days",
            format!(
                "expected a list like [\"mon\", \"tue\"] or [\"mon-fri\"], got {}",
                describe(v)
            ),
        );
        return days;
    };
    if items.is_empty() {
        issues.push("schedule.days", "must not be empty");
    }
    for (i, item) in items.iter().enumerate() {
        let path = index("schedule.days", i);
        let Value::String(s) = item else {
            issues.push(path, format!("expected a day name, got {}", describe(item)));
            continue;
        };
        let (from, to) = s.split_once('-').unwrap_or((s, s));
        match (day_index(from), day_index(to)) {
            (Some(a), Some(b)) => {
                // `fri-mon` wraps over the weekend.
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            _ => issues.push(
                path,
                format!("{s:?} is not a day (mon, tue, wed, thu, fri, sat, sun, or a range like mon-fri)"),
            ),
        }
    }
    days
}

fn day_index(name: &str) -> Option<usize> {
    let name = name.trim().to_ascii_lowercase();
    DAYS.iter()
        .position(|(short, long, _)| *short == name || *long == name)
}

/// `"09:00-18:00"` → minutes `[540, 1080)`.
fn parse_range(s: &str, path: &str, issues: &mut Issues) -> Option<(u32, u32)> {
    let parsed = s
        .split_once('-')
        .and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?)));
    match parsed {
        Some((start, end)) if start < 24 * 60 && start != end => Some((start, end)),
        _ => {
            issues.push(
                path,
                format!("{s:?} is not a range like \"09:00-18:00\" (24-hour HH:MM-HH:MM, end may be 24:00)"),
            );
            None
        }
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) || s.trim().len() != 5 {
        return None;
    }
    Some(h * 60 + m)
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp()
    }

    fn schedule(toml_src: &str) -> Result<Schedule, Vec<String>> {
        let v: Value = toml::from_str(toml_src).unwrap();
        let mut issues = Issues::default();
        let s = Schedule::parse(&v, &mut issues);
        let errs: Vec<String> = issues
            .into_vec()
            .into_iter()
            .map(|i| format!("{}: {}", i.path, i.problem))
            .collect();
        match s {
            Some(s) if errs.is_empty() => Ok(s),
            _ => Err(errs),
        }
    }

    #[test]
    fn business_hours_in_new_york_differ_from_utc() {
        let s = schedule("days = [\"mon-fri\"]\nhours = \"09:00-18:00\"").unwrap();
        let ny: Tz = "America/New_York".parse().unwrap();
        let cases = [
            // Mon 13:30 UTC = 09:30 EDT: inside in New York, inside in UTC.
            ("2024-06-03T13:30:00Z", true, true),
            // Mon 22:30 UTC = 18:30 EDT: closed in New York, closed in UTC too.
            ("2024-06-03T22:30:00Z", false, false),
            // Mon 20:00 UTC = 16:00 EDT: open in New York, closed in UTC.
            ("2024-06-03T20:00:00Z", true, false),
            // Sat 02:00 UTC = Fri 22:00 EDT: closed both (hours), Friday in NY.
            ("2024-06-08T02:00:00Z", false, false),
            // Sat 00:30 UTC = Fri 20:30 EDT... closed; Fri 21:30 UTC = 17:30 EDT: open in NY.
            ("2024-06-07T21:30:00Z", true, false),
            // Mon 08:30 UTC = Mon 04:30 EDT: closed in NY, closed in UTC (before 9).
            ("2024-06-03T08:30:00Z", false, false),
            // Mon 10:00 UTC = 06:00 EDT: open in UTC only.
            ("2024-06-03T10:00:00Z", false, true),
        ];
        for (when, in_ny, in_utc) in cases {
            assert_eq!(s.check(at(when), ny).is_ok(), in_ny, "{when} in New York");
            assert_eq!(s.check(at(when), Tz::UTC).is_ok(), in_utc, "{when} in UTC");
        }
    }

    #[test]
    fn the_new_york_offset_follows_dst() {
        let s = schedule("hours = \"09:00-10:00\"").unwrap();
        let ny: Tz = "America/New_York".parse().unwrap();
        // 09:30 local is 14:30 UTC in winter (EST, -5) and 13:30 UTC in summer (EDT, -4).
        assert!(s.check(at("2024-01-15T14:30:00Z"), ny).is_ok());
        assert!(s.check(at("2024-01-15T13:30:00Z"), ny).is_err());
        assert!(s.check(at("2024-07-15T13:30:00Z"), ny).is_ok());
        assert!(s.check(at("2024-07-15T14:30:00Z"), ny).is_err());
        // The Monday DST starts (2024-03-10 is a Sunday; the Monday after is on EDT).
        assert!(s.check(at("2024-03-11T13:30:00Z"), ny).is_ok());
        assert!(
            s.check(at("2024-03-08T14:30:00Z"), ny).is_ok(),
            "Friday before, EST"
        );
    }

    #[test]
    fn a_day_is_the_local_day_not_the_utc_day() {
        let s = schedule("days = [\"sat\", \"sun\"]").unwrap();
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        // Fri 16:00 UTC is Sat 01:00 in Tokyo.
        assert!(s.check(at("2024-06-07T16:00:00Z"), tokyo).is_ok());
        let outside = s.check(at("2024-06-07T16:00:00Z"), Tz::UTC).unwrap_err();
        assert_eq!(outside.local_time, "Fri 2024-06-07 16:00");
        assert_eq!(
            outside.reason(),
            "schedule: event at Fri 2024-06-07 16:00 UTC is outside sat,sun 00:00-24:00"
        );
    }

    #[test]
    fn overnight_ranges_wrap_and_lists_combine() {
        let s = schedule("hours = [\"22:00-02:00\", \"12:00-13:00\"]").unwrap();
        for (when, inside) in [
            ("2024-06-03T23:00:00Z", true),
            ("2024-06-03T01:59:00Z", true),
            ("2024-06-03T02:00:00Z", false),
            ("2024-06-03T12:30:00Z", true),
            ("2024-06-03T13:00:00Z", false),
        ] {
            assert_eq!(s.check(at(when), Tz::UTC).is_ok(), inside, "{when}");
        }
        assert!(
            schedule("days = [\"fri-mon\"]")
                .unwrap()
                .check(at("2024-06-09T12:00:00Z"), Tz::UTC)
                .is_ok(),
            "fri-mon includes Sunday"
        );
    }

    #[test]
    fn reports_every_bad_part_with_its_path() {
        let errs = schedule(
            "days = [\"mon\", \"funday\", 3]\nhours = [\"9-18\", \"10:00-25:00\"]\nzone = \"x\"",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:?}");
        for want in [
            "schedule.zone: unknown key",
            "schedule.days[1]: \"funday\" is not a day",
            "schedule.days[2]: expected a day name",
            "schedule.hours[0]: \"9-18\" is not a range",
            "schedule.hours[1]: \"10:00-25:00\" is not a range",
        ] {
            assert!(errs.iter().any(|e| e.starts_with(want)), "{want}: {errs:?}");
        }
        assert!(schedule("").unwrap_err()[0].contains("give days, hours, or both"));
        assert!(schedule("hours = \"09:00-09:00\"").is_err());
    }
}
