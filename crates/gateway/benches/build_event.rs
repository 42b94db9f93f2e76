//! Raw lead → the stored event object, per destination, through the one builder each destination
//! has (the code ingest, `send`, preview and test postback use): the edge's normalizing and
//! hashing (`identity`), the lead record, the rule's plan and the destination's serialized event.
//! 1,000 varied leads (mixed-case emails, phones of several countries as people type them).
//!
//! Run: `cargo bench -p signalpost-gateway --bench build_event -- --warm-up-time 1
//! --measurement-time 5`
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use signalpost_gateway::destinations::{Destination, meta};
use signalpost_gateway::gateway::lead_from;
use signalpost_gateway::rules::payload::build_conversion;
use signalpost_gateway::rules::{Rule, RuleConfig, RuleSet};
use signalpost_gateway::{Lead, LifecycleEvent, NewLead};
use signalpost_identity::{hash_email, hash_phone_forms};

#[path = "../../identity/benches/support/leads.rs"]
mod support;

const NOW: i64 = 1_750_000_000;

/// The lead record the edge would make of `raw`: identifiers normalized and hashed once.
fn lead_of(raw: &support::Lead) -> Lead {
    let phone = hash_phone_forms(&raw.phone, raw.region).ok();
    let new = NewLead {
        transaction_id: Some(raw.transaction_id.clone()),
        email: hash_email(&raw.email).ok().map(|h| h.into_string()),
        phone: phone.as_ref().map(|p| p.e164.as_str().to_owned()),
        phone_digits: phone.as_ref().map(|p| p.digits.as_str().to_owned()),
        ip: Some(raw.ip.clone()),
        user_agent: Some(raw.user_agent.to_owned()),
        ttclid: Some(raw.ttclid.clone()),
        landing_url: Some(format!(
            "https://lp.example.com/form?ttclid={}&fbclid=IwAR{}",
            raw.ttclid, raw.transaction_id
        )),
        occurred_at: Some(NOW),
        ..Default::default()
    };
    lead_from(new, NOW).unwrap()
}

/// The registration rule, bound to `destination`.
fn rule(destination: Destination) -> Rule {
    let set = RuleSet::from_configs(vec![RuleConfig::new(
        "registration",
        "form_submit",
        "PIXBENCH",
        "CompleteRegistration",
    )])
    .unwrap()
    .with_destinations(BTreeMap::from([("PIXBENCH".to_owned(), destination)]));
    set.rules()[0].clone()
}

fn payload(lead: &Lead, rule: &Rule) -> String {
    let event = LifecycleEvent::form_submit(lead);
    let mut notes = Vec::new();
    build_conversion(lead, &event, rule, &mut notes)
        .unwrap()
        .payload
}

fn bench(c: &mut Criterion) {
    let raw = support::leads();
    let leads: Vec<Lead> = raw.iter().map(lead_of).collect();
    let mut group = c.benchmark_group("build_event");
    group.throughput(Throughput::Elements(raw.len() as u64));
    for (name, destination) in [
        ("tiktok", Destination::default()),
        ("meta", Destination::Meta(meta::PixelSettings::default())),
    ] {
        let rule = rule(destination);
        group.bench_function(
            format!("{name}/1000 raw leads: hash + plan + serialize"),
            |b| {
                b.iter(|| {
                    let mut bytes = 0;
                    for lead in &raw {
                        bytes += black_box(payload(&lead_of(lead), &rule)).len();
                    }
                    bytes
                })
            },
        );
        group.bench_function(format!("{name}/1000 lead records: plan + serialize"), |b| {
            b.iter(|| {
                let mut bytes = 0;
                for lead in &leads {
                    bytes += black_box(payload(lead, &rule)).len();
                }
                bytes
            })
        });
    }
    group.bench_function("1000 phones: both hashes, one parse", |b| {
        b.iter(|| {
            for lead in &raw {
                let _ = black_box(hash_phone_forms(black_box(&lead.phone), lead.region));
            }
        })
    });
    group.bench_function("1000 emails: hash only", |b| {
        b.iter(|| {
            for lead in &raw {
                let _ = black_box(hash_email(black_box(&lead.email)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
