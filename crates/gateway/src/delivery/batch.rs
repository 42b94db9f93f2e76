//! Splits claimed conversions into requests: one request per (pixel, test_event_code), at most the
//! destination's event limit and ~1 MB each. The body around them is the destination's
//! (`crate::destinations`), made by concatenating the stored event JSON (never re-serialized:
//! delivery only copies bytes).

use std::collections::BTreeMap;

use crate::store::ClaimedConversion;

/// The conversions that go into one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBatch {
    /// Top-level `test_event_code` of the request.
    pub test_event_code: Option<String>,
    pub conversions: Vec<ClaimedConversion>,
}

/// Splits claimed conversions into requests. A conversion's own test code (from its rule) wins over
/// the pixel's; conversions with different codes never share a request, since the code is top-level.
pub fn plan_requests(
    claimed: Vec<ClaimedConversion>,
    pixel_test_event_code: Option<&str>,
    max_events: usize,
    max_bytes: usize,
) -> Vec<RequestBatch> {
    let max_events = max_events.max(1);
    let mut by_code: BTreeMap<Option<String>, Vec<ClaimedConversion>> = BTreeMap::new();
    for c in claimed {
        let code = c
            .test_event_code
            .clone()
            .or_else(|| pixel_test_event_code.map(str::to_owned));
        by_code.entry(code).or_default().push(c);
    }
    let mut requests = Vec::new();
    for (code, conversions) in by_code {
        let mut current: Vec<ClaimedConversion> = Vec::new();
        let mut bytes = ENVELOPE_BYTES;
        for c in conversions {
            let size = c.payload.len() + 1;
            if !current.is_empty() && (current.len() >= max_events || bytes + size > max_bytes) {
                requests.push(RequestBatch {
                    test_event_code: code.clone(),
                    conversions: std::mem::take(&mut current),
                });
                bytes = ENVELOPE_BYTES;
            }
            bytes += size;
            current.push(c);
        }
        if !current.is_empty() {
            requests.push(RequestBatch {
                test_event_code: code,
                conversions: current,
            });
        }
    }
    requests
}

/// Rough size of the envelope around `data`, counted against the byte cap.
const ENVELOPE_BYTES: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;
    use signalpost_tiktok::model::{EventSource, TrackRequest};

    fn tiktok_body<'a>(
        pixel: &str,
        code: Option<&str>,
        payloads: impl Iterator<Item = &'a str> + Clone,
    ) -> Vec<u8> {
        crate::destinations::Destination::default().request_body(pixel, None, code, payloads)
    }

    fn claimed(id: i64, code: Option<&str>, payload: &str) -> ClaimedConversion {
        ClaimedConversion {
            id,
            claim: 1,
            pixel: "PIX".into(),
            event_name: "Purchase".into(),
            event_id: format!("tx-{id}"),
            test_event_code: code.map(Into::into),
            event_time: 1_700_000_000,
            attempts: 0,
            retries: 0,
            first_attempt_at_ms: None,
            payload: payload.into(),
        }
    }

    #[test]
    fn the_body_is_a_valid_track_request_with_payloads_verbatim() {
        let p1 = r#"{"event":"Purchase","event_time":1700000000,"event_id":"a"}"#;
        let p2 =
            r#"{"event":"Lead","event_time":1700000001,"event_id":"b","properties":{"value":0.0}}"#;
        let body = tiktok_body("PIX\"1", Some("TEST1"), [p1, p2].into_iter());
        let parsed: TrackRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.event_source, EventSource::Web);
        assert_eq!(parsed.event_source_id, "PIX\"1");
        assert_eq!(parsed.test_event_code.as_deref(), Some("TEST1"));
        assert_eq!(parsed.data.len(), 2);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(p1) && text.contains(p2), "{text}");
        let no_code = tiktok_body("PIX", None, [p1].into_iter());
        assert!(
            !String::from_utf8(no_code)
                .unwrap()
                .contains("test_event_code")
        );
    }

    #[test]
    fn requests_split_by_test_code_count_and_size() {
        let big = format!("{{\"x\":\"{}\"}}", "y".repeat(500));
        let claimed_list = vec![
            claimed(1, None, "{}"),
            claimed(2, Some("RULE"), "{}"),
            claimed(3, None, "{}"),
            claimed(4, None, "{}"),
            claimed(5, None, &big),
            claimed(6, None, &big),
        ];
        let reqs = plan_requests(claimed_list, Some("PIXCODE"), 3, 1000);
        let shape: Vec<(Option<&str>, Vec<i64>)> = reqs
            .iter()
            .map(|r| {
                (
                    r.test_event_code.as_deref(),
                    r.conversions.iter().map(|c| c.id).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (Some("PIXCODE"), vec![1, 3, 4]),
                (Some("PIXCODE"), vec![5]),
                (Some("PIXCODE"), vec![6]),
                (Some("RULE"), vec![2]),
            ]
        );
    }

    #[test]
    fn an_oversized_event_still_goes_alone() {
        let huge = "z".repeat(5000);
        let reqs = plan_requests(vec![claimed(1, None, &huge)], None, 1000, 1000);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].test_event_code, None);
    }
}
