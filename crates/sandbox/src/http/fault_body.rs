//! The body of `POST /sandbox/faults`, checked by hand so that every refusal names the field at
//! fault (serde's own type errors give only a line and column). Owns the accepted shapes; it never
//! touches the active faults.
//!
//! `{"kind":K,"count":N}` (the next N track requests) or `{"kind":K,"seconds":S}` (every track request
//! for S seconds). Kind `slow` also needs its delay, in milliseconds, in one of two spellings:
//! `"latency_ms":"P50[:P99]"` (the `--latency-ms` syntax; a bare number means P50 = P99) or
//! `"p50_ms":P50` with an optional `"p99_ms":P99`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::faults::{Fault, FaultKind};
use crate::latency::{Latency, MAX_LATENCY_MS};

/// Longest timed fault: a day covers any soak test, and a typo of `seconds` cannot wedge a sandbox
/// for years.
const MAX_FAULT_SECONDS: f64 = 86_400.0;

/// What a refusal reminds the caller of.
const SHAPE: &str = r#"expected {"kind": K, "count": N} or {"kind": K, "seconds": S}; kind slow also takes "latency_ms": "P50[:P99]""#;

/// Fields are raw JSON values so that a wrong type is refused with the field's name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    kind: Option<Value>,
    count: Option<Value>,
    seconds: Option<Value>,
    latency_ms: Option<Value>,
    p50_ms: Option<Value>,
    p99_ms: Option<Value>,
}

/// Parses a fault request; the error is the message of a 400.
pub(crate) fn parse_fault(body: &[u8]) -> Result<Fault, String> {
    let request: FaultRequest =
        serde_json::from_slice(body).map_err(|err| format!("invalid fault: {err}; {SHAPE}"))?;
    let name = match &request.kind {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err("kind must be a string, e.g. \"http_500\" or \"slow\"".to_owned()),
        None => return Err(format!("kind is required; {SHAPE}")),
    };
    let latency = latency(&request)?;
    let kind = match (name, latency) {
        ("slow", Some(latency)) => FaultKind::Slow(latency),
        ("slow", None) => {
            return Err(
                "kind slow needs latency_ms (\"P50[:P99]\" in milliseconds, e.g. \"200:800\") or p50_ms"
                    .to_owned(),
            );
        }
        (_, Some(_)) => {
            return Err(format!(
                "latency_ms, p50_ms and p99_ms only apply to kind slow, not {name}"
            ));
        }
        (_, None) => name.parse().map_err(|err| format!("kind: {err}"))?,
    };
    match (&request.count, &request.seconds) {
        (Some(count), None) => {
            let count = count
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or("count must be a whole number from 1 to 4294967295")?;
            Ok(Fault::requests(kind, count))
        }
        (None, Some(seconds)) => {
            let seconds = seconds
                .as_f64()
                .filter(|s| *s > 0.0 && *s <= MAX_FAULT_SECONDS)
                .ok_or_else(|| {
                    format!(
                        "seconds must be a number greater than 0 and at most {MAX_FAULT_SECONDS}"
                    )
                })?;
            Ok(Fault::lasting(kind, Duration::from_secs_f64(seconds)))
        }
        (Some(_), Some(_)) => Err("give either count or seconds, not both".to_owned()),
        (None, None) => Err("give count (next N requests) or seconds (for S seconds)".to_owned()),
    }
}

/// The `slow` delay, in whichever spelling was used; `None` when no latency field was given.
fn latency(request: &FaultRequest) -> Result<Option<Latency>, String> {
    match (&request.latency_ms, &request.p50_ms, &request.p99_ms) {
        (None, None, None) => Ok(None),
        (Some(Value::String(text)), None, None) => text
            .parse()
            .map(Some)
            .map_err(|err| format!("latency_ms: {err}")),
        (Some(number @ Value::Number(_)), None, None) => {
            let ms = whole_ms("latency_ms", number)?;
            Latency::constant(ms)
                .map(Some)
                .map_err(|err| format!("latency_ms: {err}"))
        }
        (Some(_), None, None) => {
            Err("latency_ms must be a string \"P50[:P99]\" or a number, in milliseconds".to_owned())
        }
        (Some(_), _, _) => Err("give latency_ms or p50_ms/p99_ms, not both".to_owned()),
        (None, None, Some(_)) => Err("p99_ms needs p50_ms".to_owned()),
        (None, Some(p50), p99) => {
            let p50 = whole_ms("p50_ms", p50)?;
            let p99 = p99
                .as_ref()
                .map_or(Ok(p50), |p99| whole_ms("p99_ms", p99))?;
            Latency::new(p50, p99)
                .map(Some)
                .map_err(|err| format!("p50_ms/p99_ms: {err}"))
        }
    }
}

/// A latency field as whole milliseconds within the sandbox's bound.
fn whole_ms(field: &str, value: &Value) -> Result<u64, String> {
    value
        .as_u64()
        .filter(|ms| *ms <= u64::from(MAX_LATENCY_MS))
        .ok_or_else(|| {
            format!("{field} must be a whole number of milliseconds from 0 to {MAX_LATENCY_MS}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::FaultSpan;

    fn slow(p50: u64, p99: u64) -> FaultKind {
        FaultKind::Slow(Latency::new(p50, p99).unwrap())
    }

    #[test]
    fn parses_count_and_seconds_faults() {
        assert_eq!(
            parse_fault(br#"{"kind":"http_502","count":3}"#),
            Ok(Fault::requests(FaultKind::Http502, 3))
        );
        let fault = parse_fault(br#"{"kind":"hang","seconds":1.5}"#).unwrap();
        assert_eq!(fault.span, FaultSpan::For(Duration::from_millis(1500)));
    }

    #[test]
    fn parses_slow_faults_in_every_spelling() {
        for (body, kind) in [
            (
                r#"{"kind":"slow","latency_ms":"200:800","count":2}"#,
                slow(200, 800),
            ),
            (
                r#"{"kind":"slow","latency_ms":"200","count":2}"#,
                slow(200, 200),
            ),
            (
                r#"{"kind":"slow","latency_ms":200,"count":2}"#,
                slow(200, 200),
            ),
            (
                r#"{"kind":"slow","p50_ms":200,"p99_ms":800,"count":2}"#,
                slow(200, 800),
            ),
            (r#"{"kind":"slow","p50_ms":200,"count":2}"#, slow(200, 200)),
            (r#"{"kind":"slow","latency_ms":0,"count":2}"#, slow(0, 0)),
        ] {
            assert_eq!(
                parse_fault(body.as_bytes()),
                Ok(Fault::requests(kind, 2)),
                "{body}"
            );
        }
        let timed = parse_fault(br#"{"kind":"slow","latency_ms":"100:300","seconds":30}"#);
        assert_eq!(
            timed,
            Ok(Fault::lasting(slow(100, 300), Duration::from_secs(30)))
        );
    }

    #[test]
    fn rejects_bad_fault_requests_naming_the_field() {
        for (body, needle) in [
            (
                r#"{"kind":"explode","count":1}"#,
                "kind: unknown fault kind",
            ),
            (r#"{"kind":7,"count":1}"#, "kind must be a string"),
            (r#"{"count":1}"#, "kind is required"),
            (r#"{"kind":"hang"}"#, "give count"),
            (r#"{"kind":"hang","count":1,"seconds":2}"#, "not both"),
            (r#"{"kind":"hang","count":0}"#, "count must be"),
            (r#"{"kind":"hang","count":"3"}"#, "count must be"),
            (r#"{"kind":"hang","count":5000000000}"#, "count must be"),
            (r#"{"kind":"hang","seconds":-1}"#, "seconds must be"),
            (r#"{"kind":"hang","seconds":"soon"}"#, "seconds must be"),
            (r#"{"kind":"hang","count":1,"pixel":"x"}"#, "unknown field"),
            ("nope", "invalid fault"),
            (r#"{"kind":"slow","count":1}"#, "kind slow needs latency_ms"),
            (
                r#"{"kind":"http_500","latency_ms":"100","count":1}"#,
                "only apply to kind slow",
            ),
            (
                r#"{"kind":"slow","latency_ms":"300:100","count":1}"#,
                "latency_ms: P99 (100 ms) is below P50",
            ),
            (
                r#"{"kind":"slow","latency_ms":"fast","count":1}"#,
                "latency_ms: expected P50 or P50:P99",
            ),
            (
                r#"{"kind":"slow","latency_ms":"0:100","count":1}"#,
                "latency_ms: P50 is 0",
            ),
            (
                r#"{"kind":"slow","latency_ms":"70000","count":1}"#,
                "latency_ms: latencies are at most 60000 ms",
            ),
            (
                r#"{"kind":"slow","latency_ms":-5,"count":1}"#,
                "latency_ms must be a whole number",
            ),
            (
                r#"{"kind":"slow","latency_ms":1.5,"count":1}"#,
                "latency_ms must be a whole number",
            ),
            (
                r#"{"kind":"slow","latency_ms":[100],"count":1}"#,
                "latency_ms must be a string",
            ),
            (
                r#"{"kind":"slow","latency_ms":"100","p50_ms":100,"count":1}"#,
                "not both",
            ),
            (
                r#"{"kind":"slow","p99_ms":100,"count":1}"#,
                "p99_ms needs p50_ms",
            ),
            (
                r#"{"kind":"slow","p50_ms":"100","count":1}"#,
                "p50_ms must be a whole number",
            ),
            (
                r#"{"kind":"slow","p50_ms":100,"p99_ms":70000,"count":1}"#,
                "p99_ms must be a whole number",
            ),
            (
                r#"{"kind":"slow","p50_ms":300,"p99_ms":100,"count":1}"#,
                "p50_ms/p99_ms: P99 (100 ms) is below P50",
            ),
            (
                r#"{"kind":"slow","latency_ms":"100","count":0}"#,
                "count must be",
            ),
        ] {
            let err = parse_fault(body.as_bytes()).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
