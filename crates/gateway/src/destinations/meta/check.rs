//! Whether Meta would take an event object, by the strict sandbox's rules
//! (`signalpost_meta::validate_event`): the gateway's ingest check for Meta pixels.

use signalpost_meta::{MetaError, Rules, validate_event};

use crate::destinations::Refused;

/// The check of one stored event. The event-time window is left to delivery (see the TikTok check).
pub fn check(payload: &str, now_secs: i64) -> Result<(), Refused> {
    let event: serde_json::Value = serde_json::from_str(payload).map_err(|e| Refused {
        field: "event".to_owned(),
        text: format!("event: not valid JSON ({e})"),
    })?;
    let rules = Rules {
        now: now_secs,
        max_past: i64::MAX,
        max_future: i64::MAX,
    };
    validate_event(&event, 0, &rules)
        .map(|_| ())
        .map_err(|e| refused(&e))
}

/// Meta's error as a field and one line: `data[0][user_data][fbc]` becomes `user_data.fbc`.
fn refused(e: &MetaError) -> Refused {
    let field = field_of(&e.message).unwrap_or_else(|| "event".to_owned());
    let detail = e.user_msg.as_deref().unwrap_or(&e.message);
    let text = if detail.starts_with(&field) {
        detail.to_owned()
    } else {
        format!("{field}: {detail}")
    };
    Refused { field, text }
}

/// The dotted path of the first `data[0][a][b]` in `message`.
fn field_of(message: &str) -> Option<String> {
    let start = message.find("data[0]")? + "data[0]".len();
    let mut parts = Vec::new();
    let mut rest = &message[start..];
    while let Some(inner) = rest.strip_prefix('[') {
        let end = inner.find(']')?;
        parts.push(&inner[..end]);
        rest = &inner[end + 1..];
    }
    (!parts.is_empty()).then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_paths_become_dotted_fields() {
        assert_eq!(
            field_of("(#100) The parameter data[0][user_data][client_user_agent] is required")
                .as_deref(),
            Some("user_data.client_user_agent")
        );
        assert_eq!(field_of("no path here"), None);
    }

    #[test]
    fn a_web_event_without_a_user_agent_is_refused_at_that_field() {
        let event = r#"{"event_name":"Lead","event_time":1700000000,"action_source":"website",
            "event_source_url":"https://lp.example/","user_data":{"em":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}}"#;
        let refused = check(event, 1_700_000_100).unwrap_err();
        assert_eq!(refused.field, "user_data.client_user_agent", "{refused:?}");
    }
}
