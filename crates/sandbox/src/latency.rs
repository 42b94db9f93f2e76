//! How long the sandbox holds a track request before answering. Real TikTok answers in 100–300 ms
//! with a long right tail; a sandbox that answers in a millisecond hides every bug that depends on
//! time (leases, bisection, drains). Owns the `P50[:P99]` syntax (shared by `--latency-ms` and the
//! `slow` fault) and the sampler. It never sleeps: the HTTP gate does, so this is tested without a
//! clock.
//!
//! The spread is log-normal, the usual shape of a remote call's latency: most answers near the median,
//! a few far above it, none below zero. It is fixed by two figures people actually quote, the median
//! (P50) and the 99th percentile (P99).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use serde::{Serialize, Serializer};

/// Largest P50 or P99 accepted: a minute is slower than any API a client should keep waiting on, and
/// a bound keeps a typo (an extra zero or two) from wedging every request.
pub const MAX_LATENCY_MS: u32 = 60_000;

/// A single draw is capped at this many times P99, so the distribution's unbounded tail can never
/// hold one request for ever (with P99 ≤ 60 s, no draw exceeds 10 minutes).
const TAIL_CAP_FACTOR: f64 = 10.0;

/// The standard normal's 99th percentile: P99 = P50 · e^(σ · Z_99).
const Z_99: f64 = 2.326_347_874_040_841;

/// A latency distribution: log-normal with median `p50_ms` and 99th percentile `p99_ms`.
/// `p50 == p99` is a constant delay; `0` (the default) is no delay at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Latency {
    p50_ms: u32,
    p99_ms: u32,
}

/// A latency that cannot be used; the messages say what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLatency {
    #[error("expected P50 or P50:P99 in whole milliseconds (e.g. 150 or 100:300), got {0:?}")]
    Syntax(String),
    #[error("latencies are at most {MAX_LATENCY_MS} ms, got {0} ms")]
    TooLarge(u64),
    #[error("P99 ({p99} ms) is below P50 ({p50} ms); P99 must be at least P50")]
    P99BelowP50 { p50: u32, p99: u32 },
    #[error(
        "P50 is 0 but P99 is {0} ms: a spread needs a median above 0 (0 alone turns latency off)"
    )]
    ZeroMedian(u32),
}

impl Latency {
    /// No delay: answers as fast as the sandbox can.
    pub const NONE: Latency = Latency {
        p50_ms: 0,
        p99_ms: 0,
    };

    /// Median `p50_ms`, 99th percentile `p99_ms`.
    pub fn new(p50_ms: u64, p99_ms: u64) -> Result<Latency, InvalidLatency> {
        let bounded = |ms: u64| {
            u32::try_from(ms)
                .ok()
                .filter(|ms| *ms <= MAX_LATENCY_MS)
                .ok_or(InvalidLatency::TooLarge(ms))
        };
        let (p50, p99) = (bounded(p50_ms)?, bounded(p99_ms)?);
        if p99 < p50 {
            return Err(InvalidLatency::P99BelowP50 { p50, p99 });
        }
        if p50 == 0 && p99 > 0 {
            return Err(InvalidLatency::ZeroMedian(p99));
        }
        Ok(Latency {
            p50_ms: p50,
            p99_ms: p99,
        })
    }

    /// The same delay every time.
    pub fn constant(ms: u64) -> Result<Latency, InvalidLatency> {
        Latency::new(ms, ms)
    }

    /// The median.
    pub fn p50(self) -> Duration {
        Duration::from_millis(u64::from(self.p50_ms))
    }

    /// The 99th percentile.
    pub fn p99(self) -> Duration {
        Duration::from_millis(u64::from(self.p99_ms))
    }

    /// Whether this is no delay at all.
    pub fn is_none(self) -> bool {
        self.p99_ms == 0
    }

    /// The longest single draw (10 × P99).
    pub fn cap(self) -> Duration {
        self.p99().mul_f64(TAIL_CAP_FACTOR)
    }

    /// One delay from the distribution. The RNG is a parameter so tests can seed it.
    pub fn sample<R: Rng + ?Sized>(self, rng: &mut R) -> Duration {
        if self.p50_ms == self.p99_ms {
            return self.p50();
        }
        let median = f64::from(self.p50_ms);
        let sigma = (f64::from(self.p99_ms) / median).ln() / Z_99;
        let cap_ms = f64::from(self.p99_ms) * TAIL_CAP_FACTOR;
        let ms = (median * (sigma * standard_normal(rng)).exp()).min(cap_ms);
        // `ms` is finite and within [0, cap] here; the fallback only guards the conversion.
        Duration::try_from_secs_f64(ms / 1000.0).unwrap_or_else(|_| self.cap())
    }
}

/// One draw of N(0, 1) by the Box–Muller transform: two uniforms give a normal through
/// √(−2 ln u₁) · cos(2π u₂). Written here rather than pulling in a distributions crate for one line.
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // `random::<f64>()` is in [0, 1); u₁ is taken from (0, 1] so that ln(u₁) is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `P50` for a constant delay, `P50:P99` otherwise: the syntax it was given in.
impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.p50_ms == self.p99_ms {
            write!(f, "{}", self.p50_ms)
        } else {
            write!(f, "{}:{}", self.p50_ms, self.p99_ms)
        }
    }
}

/// Parses `P50` or `P50:P99`, whole milliseconds (`--latency-ms`, the `slow` fault's `latency_ms`).
impl FromStr for Latency {
    type Err = InvalidLatency;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || InvalidLatency::Syntax(s.to_owned());
        let whole_ms = |part: &str| {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            // All digits: the only possible failure is overflow, which is "too large".
            Ok(part.parse::<u64>().unwrap_or(u64::MAX))
        };
        match s.split_once(':') {
            None => Latency::constant(whole_ms(s)?),
            Some((p50, p99)) => Latency::new(whole_ms(p50)?, whole_ms(p99)?),
        }
    }
}

/// Serialized in the `P50[:P99]` syntax, so a listed fault can be posted back as it is.
impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn ms(p50: u64, p99: u64) -> Latency {
        Latency::new(p50, p99).unwrap()
    }

    #[test]
    fn parses_a_median_alone_or_with_its_p99() {
        for (text, p50, p99) in [
            ("150", 150, 150),
            ("100:300", 100, 300),
            (" 100 : 300 ", 100, 300),
            ("0", 0, 0),
            ("0:0", 0, 0),
            ("60000", 60_000, 60_000),
            ("200:200", 200, 200),
        ] {
            let latency: Latency = text.parse().unwrap();
            assert_eq!(
                (latency.p50(), latency.p99()),
                (Duration::from_millis(p50), Duration::from_millis(p99)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_latencies_with_a_reason() {
        for (text, needle) in [
            ("", "expected P50 or P50:P99"),
            ("fast", "expected P50 or P50:P99"),
            ("150ms", "expected P50 or P50:P99"),
            ("1.5", "expected P50 or P50:P99"),
            ("-5", "expected P50 or P50:P99"),
            ("100:", "expected P50 or P50:P99"),
            (":300", "expected P50 or P50:P99"),
            ("1:2:3", "expected P50 or P50:P99"),
            ("300:100", "P99 (100 ms) is below P50 (300 ms)"),
            ("0:100", "a spread needs a median above 0"),
            ("60001", "at most 60000 ms"),
            ("100:99999999999999999999999", "at most 60000 ms"),
        ] {
            let err = text.parse::<Latency>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn displays_in_the_syntax_it_parses() {
        for text in ["0", "150", "100:300"] {
            assert_eq!(text.parse::<Latency>().unwrap().to_string(), text);
        }
        assert_eq!(serde_json::to_string(&ms(100, 300)).unwrap(), "\"100:300\"");
    }

    #[test]
    fn equal_percentiles_give_a_constant_delay_and_zero_gives_none() {
        let mut rng = StdRng::seed_from_u64(1);
        let constant = ms(200, 200);
        assert!((0..100).all(|_| constant.sample(&mut rng) == Duration::from_millis(200)));
        assert!(Latency::NONE.is_none() && Latency::default().is_none());
        assert_eq!(Latency::NONE.sample(&mut rng), Duration::ZERO);
        assert!(!constant.is_none());
    }

    /// The sampler's empirical median and 99th percentile land on the parameters, within a few
    /// percent: with 200,000 draws the sampling error of either is well under 1 %, and the seed makes
    /// the run reproducible anyway.
    #[test]
    fn draws_have_the_requested_median_and_p99() {
        for (p50, p99) in [(150_u32, 600_u32), (100, 300), (20, 25)] {
            let latency = ms(p50.into(), p99.into());
            let mut rng = StdRng::seed_from_u64(0x5eed_0000 + u64::from(p50));
            let mut draws: Vec<f64> = (0..200_000)
                .map(|_| latency.sample(&mut rng).as_secs_f64() * 1000.0)
                .collect();
            draws.sort_by(f64::total_cmp);
            let quantile = |q: f64| draws[(q * draws.len() as f64) as usize];
            let (median, p99th) = (quantile(0.5), quantile(0.99));
            let near = |got: f64, want: u32, tolerance: f64| {
                (got / f64::from(want) - 1.0).abs() <= tolerance
            };
            assert!(near(median, p50, 0.03), "{latency}: median {median}");
            assert!(near(p99th, p99, 0.05), "{latency}: p99 {p99th}");
            assert!(draws[0] > 0.0, "{latency}: a draw at or below 0");
        }
    }

    #[test]
    fn no_draw_exceeds_ten_times_p99() {
        // A huge spread (σ ≈ 4.7) puts about 0.25 % of the raw draws above 10 × P99: the cap must hold.
        let latency = ms(1, MAX_LATENCY_MS.into());
        let mut rng = StdRng::seed_from_u64(7);
        let draws: Vec<Duration> = (0..50_000).map(|_| latency.sample(&mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= latency.cap()));
        assert!(draws.contains(&latency.cap()), "the cap was never reached");
        assert_eq!(latency.cap(), Duration::from_secs(600));
    }
}
