//! Replay: re-queue dead, paused or undeliverable conversions with their original event_id and
//! payload (an undeliverable one gets its pixel's current `site_url` as `page.url` when it had
//! none), by pixel, age, rule or lead. Parsing and validation of the request are shared by `POST /v1/replay` and
//! `signalpost replay`; the re-queuing itself is `Gateway::replay` (chunked, one transaction per
//! chunk, attempt log kept with a `replayed` entry, fresh retry budget).

use serde::{Deserialize, Serialize};
use signalpost_gateway::delivery::PixelRegistry;
use signalpost_gateway::store::{ReplayFilter, ReplayFrom};
use utoipa::ToSchema;

use crate::wire::dto::validate_transaction_id;
use crate::wire::problem::{ApiError, FieldError};

/// `POST /v1/replay` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Which parked conversions: `dead`, `paused` or `undeliverable` (refused at ingest: replay
    /// them once their pixel has a `site_url`).
    #[schema(value_type = String, example = "dead")]
    pub state: String,
    /// Only this pixel's conversions.
    #[serde(default)]
    pub pixel: Option<String>,
    /// Only conversions queued since then: an RFC 3339 time or a duration back from now (`90m`,
    /// `6h`, `2d`, `1w`).
    #[serde(default)]
    pub since: Option<String>,
    /// Only conversions of this rule.
    #[serde(default)]
    pub rule: Option<String>,
    /// Only this lead's conversions.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Count what would be re-queued; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a replay did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplayAnswer {
    pub state: String,
    /// Conversions that matched the filter.
    pub matched: u64,
    /// Of those, moved back to pending (0 on a dry run).
    pub requeued: u64,
    pub dry_run: bool,
    /// Paused pixels this replay resumed (replaying paused conversions says the token problem is
    /// fixed; if it is not, TikTok's next answer pauses the pixel again).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resumed_pixels: Vec<String>,
}

impl ReplayRequest {
    /// The store filter, every field checked (all problems at once). `pixels` is the configured set:
    /// a replay to a pixel that is not configured would wait forever, so it is refused.
    pub fn filter(&self, pixels: &PixelRegistry, now_ms: i64) -> Result<ReplayFilter, ApiError> {
        let mut errors = Vec::new();
        let from = ReplayFrom::parse(&self.state)
            .map_err(|e| errors.push(FieldError::new("state", e)))
            .ok();
        let pixel = non_empty(&self.pixel);
        if let Some(code) = &pixel
            && !pixels.contains(code)
        {
            errors.push(FieldError::new(
                "pixel",
                format!(
                    "no pixel with code {code:?} is configured; its conversions could not be sent"
                ),
            ));
        }
        let queued_since_ms = non_empty(&self.since).and_then(|raw| {
            parse_since(&raw, now_ms)
                .map_err(|e| errors.push(FieldError::new("since", e)))
                .ok()
        });
        let transaction_id = non_empty(&self.transaction_id).and_then(|t| {
            validate_transaction_id(&t, "transaction_id")
                .map_err(|e| errors.push(e))
                .ok()
        });
        match from {
            Some(from) if errors.is_empty() => Ok(ReplayFilter {
                from,
                pixel,
                queued_since_ms,
                rule: non_empty(&self.rule),
                transaction_id,
                // Filled by the gateway from the pixels it knows (undeliverable replays only).
                page_repairs: Default::default(),
            }),
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

/// `since` as unix milliseconds: an RFC 3339 time, or a duration back from `now_ms` — a whole
/// number followed by `s`, `m`, `h`, `d` or `w` (`90m`, `6h`, `2d`).
pub fn parse_since(raw: &str, now_ms: i64) -> Result<i64, String> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let unit_secs: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => 0,
    };
    match digits.parse::<i64>() {
        Ok(n) if unit_secs > 0 => n
            .checked_mul(unit_secs * 1000)
            .map(|back| now_ms.saturating_sub(back))
            .ok_or_else(|| format!("{raw:?} is too far back")),
        _ => Err(format!(
            "{raw:?} is neither an RFC 3339 time nor a duration like 90m, 6h, 2d or 1w"
        )),
    }
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000_000;

    #[test]
    fn since_takes_durations_and_rfc3339_times() {
        assert_eq!(parse_since("2d", NOW), Ok(NOW - 2 * 86_400_000));
        assert_eq!(parse_since("6h", NOW), Ok(NOW - 6 * 3_600_000));
        assert_eq!(parse_since(" 90m ", NOW), Ok(NOW - 90 * 60_000));
        assert_eq!(parse_since("1w", NOW), Ok(NOW - 7 * 86_400_000));
        assert_eq!(
            parse_since("2025-06-15T15:06:40Z", NOW),
            Ok(1_750_000_000_000)
        );
        for bad in ["2", "d", "2 days", "-2d", "yesterday", "1.5h"] {
            assert!(parse_since(bad, NOW).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let pixels = PixelRegistry::new([]);
        let err = ReplayRequest {
            state: "delivered".into(),
            pixel: Some("NOPE".into()),
            since: Some("soon".into()),
            ..Default::default()
        }
        .filter(&pixels, NOW)
        .unwrap_err();
        let fields: Vec<_> = err
            .problem()
            .errors
            .iter()
            .map(|e| e.field.clone())
            .collect();
        assert_eq!(fields, ["state", "pixel", "since"]);
    }
}
