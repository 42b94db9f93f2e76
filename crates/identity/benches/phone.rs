//! Phone normalization and hashing over the benchmark's 1,000 mixed-format phones (70 % US, the rest
//! FR, GB, DE, AU, CA, in the shapes forms receive), per phone. Target (issue 14): normalize + hash of
//! a typical phone ≤ 2 µs on one core. Run: `cargo bench -p signalpost-identity --bench phone --
//! --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use signalpost_identity::{Region, hash_phone, normalize_phone, warm_up_phone_metadata};

#[path = "support/leads.rs"]
mod support;

fn bench(c: &mut Criterion) {
    let leads = support::leads();
    warm_up_phone_metadata(leads.iter().map(|l| l.region));
    let valid = leads
        .iter()
        .filter(|l| normalize_phone(&l.phone, l.region).is_ok())
        .count();
    eprintln!("{} phones, {valid} valid", leads.len());
    let us: Vec<&support::Lead> = leads.iter().filter(|l| l.region == Region::US).collect();

    let mut group = c.benchmark_group("phone");
    group.throughput(Throughput::Elements(1));
    group.bench_function("normalize_phone (per phone)", |b| {
        let mut i = 0;
        b.iter(|| {
            let lead = &leads[i % leads.len()];
            i += 1;
            black_box(normalize_phone(black_box(&lead.phone), lead.region)).is_ok()
        })
    });
    group.bench_function("hash_phone: normalize + SHA-256 (per phone)", |b| {
        let mut i = 0;
        b.iter(|| {
            let lead = &leads[i % leads.len()];
            i += 1;
            black_box(hash_phone(black_box(&lead.phone), lead.region)).is_ok()
        })
    });
    group.bench_function("hash_phone, US leads only (per phone)", |b| {
        let mut i = 0;
        b.iter(|| {
            let lead = us[i % us.len()];
            i += 1;
            black_box(hash_phone(black_box(&lead.phone), lead.region)).is_ok()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
