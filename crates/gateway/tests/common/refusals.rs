//! A batch that only the destination refuses: `n` form-submit conversions of one pixel, written to the
//! store as ingest queues them, where the events at `bad` carry a numeric `event_id` (TikTok answers
//! `40002 Invalid value for data.K.event_id: not a valid string.`, Meta a `(#100)` naming
//! `data[K][event_id]`). Ingest's own check would catch
//! that, so the units are built here, to put the delivery engine in front of a refusal it could not
//! foresee. Shared by the refusal tests and the `refused_batch` benchmark (included by path).
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeSet;

use signalpost_gateway::domain::{LifecycleEvent, NewConversion};
use signalpost_gateway::gateway::lead_from;
use signalpost_gateway::{IngestUnit, NewLead};

/// TikTok web events: the units to pass to `Store::ingest_many`, in order (ids follow it).
pub fn refusable_units(pixel: &str, n: usize, bad: &BTreeSet<usize>) -> Vec<IngestUnit> {
    units(pixel, n, bad, |event_id, time| {
        format!(
            r#"{{"event":"CompleteRegistration","event_time":{time},"event_id":{event_id},"user":{{"ip":"203.0.113.7"}},"page":{{"url":"https://lp.example.com/form"}}}}"#
        )
    })
}

/// The same for a Meta pixel: web events in Meta's shape.
pub fn refusable_meta_units(pixel: &str, n: usize, bad: &BTreeSet<usize>) -> Vec<IngestUnit> {
    units(pixel, n, bad, |event_id, time| {
        format!(
            r#"{{"event_name":"CompleteRegistration","event_time":{time},"event_id":{event_id},"action_source":"website","event_source_url":"https://lp.example.com/form","user_data":{{"client_ip_address":"203.0.113.7","client_user_agent":"Mozilla/5.0 (test)"}}}}"#
        )
    })
}

/// `n` units whose payload `shape` makes from the event id's JSON and the event time.
fn units(
    pixel: &str,
    n: usize,
    bad: &BTreeSet<usize>,
    shape: impl Fn(&str, i64) -> String,
) -> Vec<IngestUnit> {
    let now = signalpost_gateway::time::now_secs();
    (0..n)
        .map(|i| {
            let transaction_id = format!("rf-{i:05}");
            let lead = lead_from(
                NewLead {
                    transaction_id: Some(transaction_id.clone()),
                    ip: Some("203.0.113.7".into()),
                    occurred_at: Some(now - 60),
                    ..NewLead::default()
                },
                now,
            )
            .unwrap();
            let event_id = if bad.contains(&i) {
                i.to_string()
            } else {
                format!("\"{transaction_id}\"")
            };
            let payload = shape(&event_id, now - 60);
            IngestUnit {
                event: LifecycleEvent::form_submit(&lead),
                lead: Some(lead),
                planned_with: None,
                conversions: vec![NewConversion {
                    rule: "registration".into(),
                    pixel: pixel.into(),
                    event_name: "CompleteRegistration".into(),
                    event_id: transaction_id,
                    test_event_code: None,
                    event_time: now - 60,
                    payload,
                    caps: Vec::new(),
                    suppressed: None,
                    undeliverable: None,
                }],
                queued_at_ms: None,
            }
        })
        .collect()
}
