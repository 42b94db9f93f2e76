//! Phone normalization to E.164: the fast path against the full `phonenumber` parser, over the
//! benchmark's 1,000 mixed-format phones. Run: `cargo bench -p signalpost-tiktok --bench phone --
//! --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use signalpost_tiktok::identity::{normalize_phone, normalize_phone_fast, normalize_phone_full};

#[path = "support/leads.rs"]
mod support;

fn bench(c: &mut Criterion) {
    let leads = support::leads();
    let mut group = c.benchmark_group("phone");
    group.throughput(Throughput::Elements(leads.len() as u64));
    group.bench_function("fast path (1000 phones)", |b| {
        b.iter(|| {
            for lead in &leads {
                black_box(normalize_phone_fast(black_box(&lead.phone), lead.region));
            }
        })
    });
    group.bench_function("normalize_phone: fast path + fallback (1000 phones)", |b| {
        b.iter(|| {
            for lead in &leads {
                let _ = black_box(normalize_phone(black_box(&lead.phone), lead.region));
            }
        })
    });
    group.bench_function("full parser (1000 phones)", |b| {
        b.iter(|| {
            for lead in &leads {
                let _ = black_box(normalize_phone_full(black_box(&lead.phone), lead.region));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
