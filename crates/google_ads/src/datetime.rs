//! `conversionDateTime`: `yyyy-mm-dd hh:mm:ss+|-hh:mm`, e.g. `2019-01-01 12:32:45-08:00`. The offset
//! is required (ClickConversion reference), and dropping it is the classic cause of
//! `CONVERSION_PRECEDES_EVENT` (shared/google-ads-conversions.md), so the formatter always writes
//! the zone's real offset at that instant (DST included) and the parser takes nothing else: no `Z`,
//! no `T`, no fractions, no missing offset.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Offset, TimeZone};

/// Exactly `yyyy-mm-dd hh:mm:ss+hh:mm`.
const LENGTH: usize = 25;
/// The largest UTC offset in use anywhere (Kiribati, +14:00); decision: Google documents none.
const MAX_OFFSET_SECS: i32 = 14 * 3600;

/// Formats unix seconds in `zone` (a `chrono_tz::Tz`, `FixedOffset` or `Utc`). `None` when the
/// instant is outside chrono's range.
pub fn format_conversion_date_time<Z: TimeZone>(unix_secs: i64, zone: &Z) -> Option<String> {
    let utc = DateTime::from_timestamp(unix_secs, 0)?;
    let local = utc.with_timezone(zone);
    let offset = local.offset().fix().local_minus_utc();
    let (sign, abs) = if offset < 0 {
        ('-', -offset)
    } else {
        ('+', offset)
    };
    Some(format!(
        "{}{sign}{:02}:{:02}",
        local.naive_local().format("%Y-%m-%d %H:%M:%S"),
        abs / 3600,
        abs % 3600 / 60
    ))
}

/// Why a `conversionDateTime` is refused, in Google's `DateError` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeError {
    /// Not `yyyy-mm-dd hh:mm:ss+|-hh:mm` (`INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET`).
    Format,
    /// The shape is right but the date, time or offset does not exist, e.g. `2024-02-30`
    /// (`INVALID_FIELD_VALUES_IN_DATE_TIME`).
    Values,
}

impl DateTimeError {
    /// The `dateError` enum value Google answers with.
    pub fn code(self) -> &'static str {
        match self {
            DateTimeError::Format => "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET",
            DateTimeError::Values => "INVALID_FIELD_VALUES_IN_DATE_TIME",
        }
    }
}

impl fmt::Display for DateTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DateTimeError::Format => {
                "must be \"yyyy-mm-dd hh:mm:ss+|-hh:mm\" (e.g. \"2019-01-01 12:32:45-08:00\"): the UTC offset is required"
            }
            DateTimeError::Values => "names a date, time or UTC offset that does not exist",
        })
    }
}

/// Parses a `conversionDateTime` into the instant it names.
pub fn parse_conversion_date_time(text: &str) -> Result<DateTime<FixedOffset>, DateTimeError> {
    let b = text.as_bytes();
    if b.len() != LENGTH {
        return Err(DateTimeError::Format);
    }
    let digits_at = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    let shaped = digits_at(0..4)
        && b[4] == b'-'
        && digits_at(5..7)
        && b[7] == b'-'
        && digits_at(8..10)
        && b[10] == b' '
        && digits_at(11..13)
        && b[13] == b':'
        && digits_at(14..16)
        && b[16] == b':'
        && digits_at(17..19)
        && (b[19] == b'+' || b[19] == b'-')
        && digits_at(20..22)
        && b[22] == b':'
        && digits_at(23..25);
    if !shaped {
        return Err(DateTimeError::Format);
    }
    // Only ASCII digits are read below, so each slice is valid and parses.
    let num = |range: std::ops::Range<usize>| {
        b[range]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let year = i32::try_from(num(0..4)).map_err(|_| DateTimeError::Values)?;
    let date = NaiveDate::from_ymd_opt(year, num(5..7), num(8..10)).ok_or(DateTimeError::Values)?;
    // `from_hms_opt` refuses second 60: Google's format has no leap seconds either.
    let time = NaiveTime::from_hms_opt(num(11..13), num(14..16), num(17..19))
        .ok_or(DateTimeError::Values)?;
    let (off_h, off_m) = (num(20..22), num(23..25));
    if off_m >= 60 {
        return Err(DateTimeError::Values);
    }
    let magnitude = i32::try_from(off_h * 3600 + off_m * 60).map_err(|_| DateTimeError::Values)?;
    if magnitude > MAX_OFFSET_SECS {
        return Err(DateTimeError::Values);
    }
    let offset = if b[19] == b'-' {
        FixedOffset::west_opt(magnitude)
    } else {
        FixedOffset::east_opt(magnitude)
    }
    .ok_or(DateTimeError::Values)?;
    offset
        .from_local_datetime(&date.and_time(time))
        .single()
        .ok_or(DateTimeError::Values)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::Utc;
    use proptest::prelude::*;

    #[test]
    fn formats_with_the_zones_offset_at_that_instant() {
        let la: chrono_tz::Tz = "America/Los_Angeles".parse().unwrap();
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let kolkata: chrono_tz::Tz = "Asia/Kolkata".parse().unwrap();
        // 2019-01-01 20:32:45 UTC (winter) and 2019-07-01 19:32:45 UTC (summer).
        let (winter, summer) = (1_546_374_765, 1_562_009_565);
        for (secs, zone, expected) in [
            (winter, la, "2019-01-01 12:32:45-08:00"),
            (summer, la, "2019-07-01 12:32:45-07:00"),
            (winter, berlin, "2019-01-01 21:32:45+01:00"),
            (summer, berlin, "2019-07-01 21:32:45+02:00"),
            (winter, kolkata, "2019-01-02 02:02:45+05:30"),
        ] {
            assert_eq!(
                format_conversion_date_time(secs, &zone).as_deref(),
                Some(expected)
            );
        }
        assert_eq!(
            format_conversion_date_time(0, &Utc).as_deref(),
            Some("1970-01-01 00:00:00+00:00")
        );
        let minus_0330 = FixedOffset::west_opt(3 * 3600 + 1800).unwrap();
        assert_eq!(
            format_conversion_date_time(0, &minus_0330).as_deref(),
            Some("1969-12-31 20:30:00-03:30")
        );
        assert_eq!(format_conversion_date_time(i64::MAX, &Utc), None);
    }

    #[test]
    fn parses_only_googles_exact_format() {
        use DateTimeError::*;
        for (text, expected) in [
            ("2019-01-01 12:32:45-08:00", Ok(1_546_374_765)),
            ("2019-01-01 21:32:45+01:00", Ok(1_546_374_765)),
            ("2024-02-29 00:00:00+00:00", Ok(1_709_164_800)),
            ("2019-01-01 12:32:45", Err(Format)),
            ("2019-01-01T12:32:45-08:00", Err(Format)),
            ("2019-01-01 12:32:45Z", Err(Format)),
            ("2019-01-01 12:32:45+0000", Err(Format)),
            ("2019-01-01 12:32:45.123-08:00", Err(Format)),
            ("2019-1-01 12:32:45-08:00", Err(Format)),
            (" 2019-01-01 12:32:45-08:00", Err(Format)),
            ("2019-01-01 12:32:45-08:00 ", Err(Format)),
            ("2019-01-01 12:32:45 08:00", Err(Format)),
            ("２019-01-01 12:32:45-08:00", Err(Format)),
            ("", Err(Format)),
            ("2023-02-29 12:00:00+00:00", Err(Values)),
            ("2019-13-01 12:00:00+00:00", Err(Values)),
            ("2019-01-01 24:00:00+00:00", Err(Values)),
            ("2019-01-01 12:60:00+00:00", Err(Values)),
            ("2019-01-01 12:00:60+00:00", Err(Values)),
            ("2019-01-01 12:00:00+00:60", Err(Values)),
            ("2019-01-01 12:00:00+15:00", Err(Values)),
            ("0000-00-00 00:00:00+00:00", Err(Values)),
        ] {
            let parsed = parse_conversion_date_time(text).map(|t| t.timestamp());
            assert_eq!(parsed, expected, "{text:?}");
        }
        assert_eq!(
            Format.code(),
            "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET"
        );
    }

    proptest! {
        #[test]
        fn what_the_formatter_writes_parses_back_to_the_same_instant(
            secs in 0i64..4_102_444_800,
            zone in prop::sample::select(vec!["UTC", "America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata", "Pacific/Chatham", "Pacific/Kiritimati", "America/St_Johns"]),
        ) {
            let zone: chrono_tz::Tz = zone.parse().unwrap();
            let text = format_conversion_date_time(secs, &zone).unwrap();
            prop_assert_eq!(parse_conversion_date_time(&text).map(|t| t.timestamp()), Ok(secs), "{}", text);
        }

        #[test]
        fn the_parser_never_panics(text in "\\PC{0,40}") {
            let _ = parse_conversion_date_time(&text);
        }
    }
}
