//! Raw lead → normalized, hashed, serialized TikTok event, per event. Target (issue): ≤ 1 µs on the
//! 2-core machine. Run: `cargo bench -p signalpost-tiktok --bench build_event -- --warm-up-time 1
//! --measurement-time 5`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use signalpost_tiktok::event_builder::{RawEvent, RawIdentity, build_event};
use signalpost_tiktok::identity::{hash_email, hash_phone, normalize_phone};

#[path = "support/leads.rs"]
mod support;

fn bench(c: &mut Criterion) {
    let leads = support::leads();
    let valid = leads
        .iter()
        .filter(|l| normalize_phone(&l.phone, l.region).is_ok())
        .count();
    eprintln!("{} leads: {valid} valid phones", leads.len());

    let mut group = c.benchmark_group("build_event");
    group.throughput(Throughput::Elements(leads.len() as u64));
    group.bench_function("1000 leads: normalize + hash + serialize", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for lead in &leads {
                let built = build_event(
                    &RawEvent {
                        event: "Lead",
                        event_time: 1_750_000_000,
                        event_id: Some(&lead.transaction_id),
                        value: Some(lead.value),
                        currency: Some("USD"),
                        identity: RawIdentity {
                            email: Some(&lead.email),
                            phone: Some(&lead.phone),
                            ip: Some(&lead.ip),
                            user_agent: Some(lead.user_agent),
                            ttclid: Some(&lead.ttclid),
                            ..RawIdentity::default()
                        },
                        ..RawEvent::default()
                    },
                    lead.region,
                );
                let json = built.event.to_json_vec().unwrap_or_default();
                bytes += black_box(json).len();
            }
            bytes
        })
    });
    let built: Vec<_> = leads
        .iter()
        .map(|lead| {
            build_event(
                &RawEvent {
                    event: "Lead",
                    event_time: 1_750_000_000,
                    event_id: Some(&lead.transaction_id),
                    value: Some(lead.value),
                    currency: Some("USD"),
                    identity: RawIdentity {
                        email: Some(&lead.email),
                        phone: Some(&lead.phone),
                        ip: Some(&lead.ip),
                        user_agent: Some(lead.user_agent),
                        ttclid: Some(&lead.ttclid),
                        ..RawIdentity::default()
                    },
                    ..RawEvent::default()
                },
                lead.region,
            )
            .event
        })
        .collect();
    group.bench_function("1000 built events: serialize only", |b| {
        b.iter(|| {
            for event in &built {
                black_box(event.to_json_vec().unwrap_or_default());
            }
        })
    });
    group.bench_function("1000 phones: hash_phone only", |b| {
        b.iter(|| {
            for lead in &leads {
                let _ = black_box(hash_phone(black_box(&lead.phone), lead.region));
            }
        })
    });
    group.bench_function("1000 emails: hash only", |b| {
        b.iter(|| {
            for lead in &leads {
                let _ = black_box(hash_email(black_box(&lead.email)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
