//! What the ingest check (`deliverable::check_planned`: the strict validator on every planned
//! conversion) adds to planning one lead's conversions: `plan` alone against `plan` + check, for a
//! lead that passes (the common case) and one that is refused (no page URL anywhere).
//!
//! Run: `cargo bench -p signalpost-gateway --bench ingest_check`
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use signalpost_gateway::deliverable::check_planned;
use signalpost_gateway::gateway::lead_from;
use signalpost_gateway::rules::{RuleConfig, RuleSet, plan};
use signalpost_gateway::{Lead, LifecycleEvent, NewLead};

fn rules() -> RuleSet {
    RuleSet::from_configs(vec![RuleConfig::new(
        "registration",
        "form_submit",
        "PIXBENCH",
        "CompleteRegistration",
    )])
    .unwrap()
}

fn lead(landing: bool) -> Lead {
    let new = NewLead {
        transaction_id: Some("bench-1".into()),
        email: Some(format!("{:064x}", 1)),
        phone: Some(format!("{:064x}", 2)),
        ip: Some("203.0.113.7".into()),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36".into(),
        ),
        landing_url: landing
            .then(|| "https://lp.example.com/form?utm_source=tiktok&ttclid=E.C.P.1".to_owned()),
        occurred_at: Some(1_750_000_000),
        ..Default::default()
    };
    lead_from(new, 1_750_000_000).unwrap()
}

fn ingest_check(c: &mut Criterion) {
    let set = rules();
    let mut group = c.benchmark_group("plan_one_lead");
    group.measurement_time(Duration::from_secs(3));
    for (name, landing) in [("deliverable", true), ("refused", false)] {
        let lead = lead(landing);
        let event = LifecycleEvent::form_submit(&lead);
        group.bench_function(format!("{name}/plan"), |b| {
            b.iter(|| plan(&lead, &event, set.rules(), 1_750_000_000_000).unwrap())
        });
        group.bench_function(format!("{name}/plan_and_check"), |b| {
            b.iter(|| {
                let mut planned = plan(&lead, &event, set.rules(), 1_750_000_000_000).unwrap();
                let refused =
                    check_planned(&mut planned, set.rules(), &lead, &event, 1_750_000_000);
                (planned, refused)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest_check);
criterion_main!(benches);
