//! Helpers shared by the integration tests: rule sets from TOML, leads with hashed identifiers.
#![allow(clippy::unwrap_used, dead_code)]

pub mod backend;
pub mod harness;
pub mod refusals;
pub mod settle;

use signalpost_gateway::rules::{RuleConfig, RuleSet};
use signalpost_gateway::{NewLead, NewLifecycleEvent, Trigger};
use signalpost_sandbox::SandboxConfig;

/// Parses `[[rules]]` tables.
pub fn rules(toml_src: &str) -> RuleSet {
    #[derive(serde::Deserialize)]
    struct File {
        rules: Vec<RuleConfig>,
    }
    let file: File = toml::from_str(toml_src).unwrap();
    RuleSet::from_configs(file.rules).unwrap()
}

/// The demo rules: form_submit → CompleteRegistration, lead_sold → Purchase with value = revenue.
pub fn demo_rules(pixel: &str) -> RuleSet {
    rules(&format!(
        r#"
        [[rules]]
        name = "registration"
        trigger = "form_submit"
        pixel = "{pixel}"
        event = "CompleteRegistration"

        [[rules]]
        name = "sale"
        trigger = "lead_sold"
        pixel = "{pixel}"
        event = "Purchase"
        value = "revenue"
        "#
    ))
}

/// [`demo_rules`] for a Google Ads conversion target: one conversion action takes both, and
/// Google deduplicates by order id per action, so each rule has its own event id.
pub fn google_rules(pixel: &str) -> RuleSet {
    rules(&format!(
        r#"
        [[rules]]
        name = "registration"
        trigger = "form_submit"
        pixel = "{pixel}"
        event = "CompleteRegistration"
        event_id = "{{transaction_id}}-registration"

        [[rules]]
        name = "sale"
        trigger = "lead_sold"
        pixel = "{pixel}"
        event = "Purchase"
        value = "revenue"
        event_id = "{{transaction_id}}-sale"
        "#
    ))
}

/// A default sandbox that holds every answer like a remote TikTok would (`latency` is
/// `"P50[:P99]"` in milliseconds), for tests whose behaviour depends on time (leases, batching,
/// bisection, drains). The other tests keep the sandbox's default of no latency, so they stay fast.
pub fn slow_sandbox(latency: &str) -> SandboxConfig {
    SandboxConfig {
        latency: latency.parse().unwrap(),
        ..SandboxConfig::default()
    }
}

/// A stand-in SHA-256 hex (the HTTP layer does the real hashing).
pub fn hex64(seed: char) -> String {
    std::iter::repeat_n(seed, 64).collect()
}

/// A lead with every signal set.
pub fn lead(transaction_id: &str) -> NewLead {
    NewLead {
        transaction_id: Some(transaction_id.to_owned()),
        email: Some(hex64('a')),
        phone: Some(hex64('b')),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (test)".into()),
        landing_url: Some(format!(
            "https://lp.example.com/form?ttclid=clk-{transaction_id}"
        )),
        referrer: Some("https://www.tiktok.com/".into()),
        occurred_at: Some(now_secs() - 60),
        ..Default::default()
    }
}

/// A `lead_sold` with revenue.
pub fn sold(revenue: f64) -> NewLifecycleEvent {
    NewLifecycleEvent {
        revenue: Some(revenue),
        occurred_at: Some(now_secs() - 30),
        ..NewLifecycleEvent::new(Trigger::LeadSold)
    }
}

pub fn now_secs() -> i64 {
    signalpost_gateway::time::now_secs()
}
