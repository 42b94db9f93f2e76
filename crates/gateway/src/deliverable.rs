//! The ingest check: DESIGN.md's promise that the gateway "never accepts (202) a conversion it knows
//! the destination will refuse without saying so". Every conversion the rules plan is checked before
//! it is stored, with the very rules the strict sandbox applies (each destination's `check.rs` in
//! `crate::destinations`), and its `event_id` must carry something of the lead.
//!
//! What fails becomes a [`RefusedConversion`] the caller sees in the 202 answer at once:
//! - TikTok would refuse the event (most often: no `page.url`, because the lead had no landing URL
//!   or referrer and the pixel has no `site_url`) → stored as `undeliverable` with the reason, never
//!   claimed, replayable once fixed;
//! - the `event_id` template rendered nothing lead-specific → NOT stored: kept, its key would make
//!   the next unrelated lead's conversion a "duplicate" of this one, which is the harm to avoid.
//!
//! Under `strict_delivery` the whole request is refused instead (422). This module decides; it never
//! stores anything and never sees a raw identifier (payloads are already hashed).

use signalpost_tiktok::model::EventSource;
use signalpost_tiktok::validate::{Invalid, Reason};

use crate::destinations::Destination;
use crate::domain::{Lead, LifecycleEvent, NewConversion, RefusedConversion};
use crate::rules::Rule;

/// The check's hint when `page.url` is missing: what the caller or the operator can do about it.
pub const PAGE_URL_HINT: &str = "set the pixel's site_url or send landing_url";

/// Checks `conversions` (planned by the rules for `event` of `lead` at `now_secs`): marks those
/// TikTok would refuse as undeliverable, removes those whose `event_id` is not lead-specific, and
/// returns every refusal in plan order. Suppressed conversions are left alone: they are never sent.
pub fn check_planned(
    conversions: &mut Vec<NewConversion>,
    rules: &[Rule],
    lead: &Lead,
    event: &LifecycleEvent,
    now_secs: i64,
) -> Vec<RefusedConversion> {
    let mut refused = Vec::new();
    conversions.retain_mut(|c| {
        if c.suppressed.is_some() {
            return true;
        }
        let rule = rules.iter().find(|r| r.name == c.rule);
        match problem_of(rule, lead, event, &c.event_id, &c.payload, now_secs) {
            None => true,
            Some(Problem { field, text, keep }) => {
                refused.push(refusal(c, &field, text.clone(), keep));
                if keep {
                    c.undeliverable = Some(text);
                    c.caps.clear();
                }
                keep
            }
        }
    });
    refused
}

/// Why TikTok would refuse a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The TikTok field at fault (`page.url`, `event_id`).
    pub field: String,
    /// One line, field first, with what to do.
    pub text: String,
    /// Whether the conversion is kept (as undeliverable) or must not be stored at all.
    pub keep: bool,
}

/// What is wrong with the conversion `rule` built for `event` of `lead` (its `event_id` and event
/// JSON `payload`), if anything: the check of [`check_planned`], shared with previews.
pub fn problem_of(
    rule: Option<&Rule>,
    lead: &Lead,
    event: &LifecycleEvent,
    event_id: &str,
    payload: &str,
    now_secs: i64,
) -> Option<Problem> {
    if let Some(rule) = rule
        && rule.event_id.render_lead_specific(lead, event).is_none()
    {
        return Some(Problem {
            field: "event_id".to_owned(),
            text: format!(
                "event_id template {:?} of rule {:?} rendered {event_id:?}: nothing of this lead is \
                 in it, so it would dedup unrelated leads' conversions; not queued (use a template \
                 with a value every lead has, such as {{transaction_id}})",
                rule.event_id.source(),
                rule.name,
            ),
            keep: false,
        });
    }
    let checked = match rule {
        Some(rule) => rule.destination.check_event(payload, now_secs),
        None => Destination::default().check_event(payload, now_secs),
    };
    checked.err().map(|refused| Problem {
        field: refused.field,
        text: refused.text,
        keep: true,
    })
}

/// Validates one stored event object as a strict TikTok web event (see
/// [`crate::destinations::tiktok::check`]).
pub fn check_payload(payload: &str, now_secs: i64) -> Result<(), Invalid> {
    crate::destinations::tiktok::check::validate(payload, EventSource::Web, now_secs)
}

/// One line, field first (the stored `last_error` and the warning's `problem`).
pub fn describe(invalid: &Invalid) -> String {
    match (invalid.path.as_str(), &invalid.reason) {
        ("page.url", Reason::Missing) => format!("page.url missing: {PAGE_URL_HINT}"),
        ("lead" | "lead.lead_id", Reason::Missing) => {
            format!(
                "{} missing: send the lead's tiktok_lead_id (a CRM event set reports TikTok leads)",
                invalid.path
            )
        }
        ("", reason) => format!("event: {reason}"),
        (path, reason) => format!("{path}: {reason}"),
    }
}

fn refusal(c: &NewConversion, field: &str, problem: String, stored: bool) -> RefusedConversion {
    RefusedConversion {
        rule: c.rule.clone(),
        pixel: c.pixel.clone(),
        event: c.event_name.clone(),
        field: field.to_owned(),
        problem,
        stored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::rule::{RuleConfig, RuleEnv};
    use crate::rules::testing::{event, lead};
    use crate::rules::{RuleSet, plan};

    fn rules(extra: &str, site_url: Option<&str>) -> RuleSet {
        let cfg: RuleConfig = toml::from_str(&format!(
            "name = 'sold'\ntrigger = 'lead_sold'\npixel = 'PIX'\nevent = 'Purchase'\n{extra}"
        ))
        .unwrap();
        let set = RuleSet::load(vec![cfg], &RuleEnv::default()).unwrap();
        let sites = site_url
            .map(|u| [("PIX".to_owned(), u.to_owned())].into_iter().collect())
            .unwrap_or_default();
        set.with_site_urls(sites)
    }

    fn checked(
        set: &RuleSet,
        lead: &Lead,
        now: i64,
    ) -> (Vec<NewConversion>, Vec<RefusedConversion>) {
        let mut planned = plan(lead, &event(), set.rules(), now * 1000).unwrap();
        let refused = check_planned(&mut planned, set.rules(), lead, &event(), now);
        (planned, refused)
    }

    const NOW: i64 = 1_700_000_200;

    #[test]
    fn a_lead_without_page_url_is_undeliverable_unless_the_pixel_has_a_site_url() {
        let mut l = lead();
        l.landing_url = None;
        let (planned, refused) = checked(&rules("", None), &l, NOW);
        assert_eq!(planned.len(), 1, "kept, as undeliverable");
        assert_eq!(
            planned[0].undeliverable.as_deref(),
            Some("page.url missing: set the pixel's site_url or send landing_url")
        );
        assert_eq!(refused.len(), 1);
        assert_eq!(
            (
                refused[0].field.as_str(),
                refused[0].rule.as_str(),
                refused[0].stored
            ),
            ("page.url", "sold", true)
        );

        let (planned, refused) = checked(&rules("", Some("https://shop.example/")), &l, NOW);
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(planned[0].undeliverable, None);
        let payload: serde_json::Value = serde_json::from_str(&planned[0].payload).unwrap();
        assert_eq!(payload["page"]["url"], "https://shop.example/");
    }

    #[test]
    fn any_field_tiktok_would_refuse_is_named_and_the_event_time_window_is_left_to_delivery() {
        let mut l = lead();
        l.ip = Some("203.0.113.999".into());
        let (planned, refused) = checked(&rules("", None), &l, NOW);
        assert_eq!(refused[0].field, "user.ip");
        assert_eq!(
            planned[0].undeliverable.as_deref(),
            Some("user.ip: not a valid IPv4 or IPv6 address")
        );
        // An hour ahead of the gateway's clock, or a month behind it: not the ingest check's call.
        for now in [1_700_000_123 - 3_600, 1_700_000_123 + 30 * 86_400] {
            let (planned, refused) = checked(&rules("", None), &lead(), now);
            assert!(refused.is_empty() && planned[0].undeliverable.is_none());
        }
    }

    #[test]
    fn an_event_id_with_nothing_of_the_lead_is_refused_and_not_kept() {
        let set = rules("event_id = 'order-{fields.order_id}'", None);
        let (planned, refused) = checked(&set, &lead(), NOW);
        assert!(
            planned.is_empty(),
            "never stored: its key would dedup other leads"
        );
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].field, "event_id");
        assert!(!refused[0].stored);
        assert!(
            refused[0].problem.contains("order-{fields.order_id}")
                && refused[0].problem.contains("\"sold\""),
            "{}",
            refused[0].problem
        );
        let fine = rules("event_id = '{transaction_id}:{fields.order_id}'", None);
        let (planned, refused) = checked(&fine, &lead(), NOW);
        assert!(refused.is_empty());
        assert_eq!(planned[0].event_id, "tx-1:");
    }

    #[test]
    fn a_crm_event_without_the_leads_tiktok_lead_id_is_undeliverable_and_says_what_to_send() {
        use crate::destinations::{Destination, tiktok};
        use signalpost_tiktok::model::EventSource;
        let crm = Destination::TikTok(tiktok::PixelSettings {
            event_source: EventSource::Crm,
            ..Default::default()
        });
        let cfg: RuleConfig = toml::from_str(
            "name = 'stage'\ntrigger = 'lead_sold'\npixel = 'CRM'\nevent = 'lead_converted'",
        )
        .unwrap();
        let set = RuleSet::load(vec![cfg], &RuleEnv::default())
            .unwrap()
            .with_destinations([("CRM".to_owned(), crm)].into());
        let (planned, refused) = checked(&set, &lead(), NOW);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].problem.contains("tiktok_lead_id"),
            "{}",
            refused[0].problem
        );
        assert!(planned[0].undeliverable.is_some());

        let mut with_id = lead();
        with_id.tiktok_lead_id = Some("7300000000000000001".into());
        let (planned, refused) = checked(&set, &with_id, NOW);
        assert!(refused.is_empty(), "{refused:?}");
        let payload: serde_json::Value = serde_json::from_str(&planned[0].payload).unwrap();
        assert_eq!(payload["lead"]["lead_id"], "7300000000000000001");
        assert!(payload.get("page").is_none());
    }

    #[test]
    fn suppressed_conversions_are_not_checked() {
        let mut l = lead();
        l.landing_url = None;
        let set = rules("[schedule]\ndays = ['sat']\n", None);
        let (planned, refused) = checked(&set, &l, NOW);
        assert!(planned[0].suppressed.is_some());
        assert!(refused.is_empty());
        assert_eq!(planned[0].undeliverable, None);
    }
}
