//! Sign-in throttling: each client address (an IPv6 client by its /64, which one host usually owns
//! whole) may fail to sign in [`MAX_FAILURES`] times per [`WINDOW`]; after that its attempts are
//! refused with 429 and `Retry-After` until the window ends, whatever key they carry. A successful
//! sign-in does not count. Behind a reverse proxy every client shares the proxy's address, so the
//! limit is then shared too (documented in docs/security.md).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failed sign-ins allowed per address and window.
pub const MAX_FAILURES: u32 = 10;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most; beyond this, expired entries are swept and, if still full, the
/// oldest window is dropped (an attacker with that many addresses is not stopped by this anyway).
const MAX_ADDRESSES: usize = 100_000;

/// Where an address stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It may try.
    Allowed,
    /// It failed too often; it may try again after this long.
    Blocked(Duration),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Failed sign-ins by client address.
#[derive(Clone, Default)]
pub struct SignInThrottle {
    map: Arc<Mutex<HashMap<IpAddr, Window>>>,
}

impl SignInThrottle {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<IpAddr, Window>) -> T) -> T {
        match self.map.lock() {
            Ok(mut map) => f(&mut map),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Whether `client` may try to sign in now.
    pub fn check(&self, client: IpAddr, now: Instant) -> Verdict {
        let client = bucket(client);
        self.with(|map| match map.get(&client) {
            Some(w) if now.duration_since(w.started) >= WINDOW => {
                map.remove(&client);
                Verdict::Allowed
            }
            Some(w) if w.failures >= MAX_FAILURES => {
                Verdict::Blocked(WINDOW.saturating_sub(now.duration_since(w.started)))
            }
            _ => Verdict::Allowed,
        })
    }

    /// Counts a failed sign-in from `client`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let client = bucket(client);
        self.with(|map| {
            if map.len() >= MAX_ADDRESSES && !map.contains_key(&client) {
                map.retain(|_, w| now.duration_since(w.started) < WINDOW);
                if map.len() >= MAX_ADDRESSES
                    && let Some(oldest) = map.iter().min_by_key(|(_, w)| w.started).map(|(a, _)| *a)
                {
                    map.remove(&oldest);
                }
            }
            let window = map.entry(client).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(window.started) >= WINDOW {
                *window = Window {
                    started: now,
                    failures: 0,
                };
            }
            window.failures = window.failures.saturating_add(1);
        });
    }
}

/// The address a limit applies to: IPv4 as is, IPv6 by its /64 (an IPv4-mapped IPv6 as the IPv4).
fn bucket(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_allowed_failures_until_the_window_ends() {
        let throttle = SignInThrottle::default();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(throttle.check(client, start), Verdict::Allowed);
            throttle.failed(client, start);
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(
            throttle.check(client, later),
            Verdict::Blocked(WINDOW - Duration::from_secs(60))
        );
        assert_eq!(throttle.check(other, later), Verdict::Allowed);
        assert_eq!(throttle.check(client, start + WINDOW), Verdict::Allowed);
    }

    #[test]
    fn an_ipv6_client_is_limited_by_its_64() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES {
            throttle.failed(format!("2001:db8:1:2::{i:x}").parse().unwrap(), now);
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let next_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(matches!(throttle.check(same_64, now), Verdict::Blocked(_)));
        assert_eq!(throttle.check(next_64, now), Verdict::Allowed);
        let mapped: IpAddr = "::ffff:198.51.100.1".parse().unwrap();
        throttle.failed(mapped, now);
        assert_eq!(bucket(mapped), "198.51.100.1".parse::<IpAddr>().unwrap());
    }
}
