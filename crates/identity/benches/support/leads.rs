//! 1,000 varied raw leads for the benchmarks, generated deterministically: mixed-case emails with
//! stray spaces, phones of several countries in the formats people type (mostly US), IPv4/IPv6,
//! real user agents, ttclids and order values.

use signalpost_identity::Region;

// Each benchmark uses a different subset of the fields.
#[allow(dead_code)]
pub struct Lead {
    pub transaction_id: String,
    pub email: String,
    pub phone: String,
    pub region: Region,
    pub ip: String,
    pub user_agent: &'static str,
    pub ttclid: String,
    pub value: f64,
}

const FIRST: &[&str] = &[
    "Alice", "bob", "CHARLIE", "Dana", "eve", "Farid", "Grace", "Hiro", "Inès", "jane",
];
const LAST: &[&str] = &[
    "Smith", "o'neil", "Nguyen", "GARCIA", "Müller", "lee", "Brown", "Kowalski",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "Yahoo.com",
    "outlook.com",
    "icloud.com",
    "example.co.uk",
    "web.de",
];
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_34.1.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/en Region/US",
];
const US_AREAS: &[u32] = &[213, 312, 415, 646, 702, 917, 305, 206, 512, 617, 404, 720];
const TTCLID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // SplitMix64: deterministic, good enough for test data.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn region(code: &str) -> Region {
    Region::parse(code).unwrap_or_default()
}

fn phone(rng: &mut Rng) -> (String, Region) {
    let digits = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect()
    };
    match rng.below(20) {
        // 70% US, in the shapes forms receive.
        0..=13 => {
            let area = US_AREAS[rng.below(US_AREAS.len())];
            let exchange = 200 + rng.below(800) as u32;
            let line = rng.below(10_000);
            let text = match rng.below(7) {
                0 => format!("({area}) {exchange}-{line:04}"),
                1 => format!("{area}-{exchange}-{line:04}"),
                2 => format!("{area}.{exchange}.{line:04}"),
                3 => format!("+1 {area} {exchange} {line:04}"),
                4 => format!("1{area}{exchange}{line:04}"),
                5 => format!("{area}{exchange}{line:04}"),
                _ => format!("+1 ({area}) {exchange}-{line:04}"),
            };
            (text, Region::US)
        }
        14 => (
            format!(
                "06 {} {} {} {}",
                digits(rng, 2),
                digits(rng, 2),
                digits(rng, 2),
                digits(rng, 2)
            ),
            region("FR"),
        ),
        15 => (
            format!("+44 7{} {}", digits(rng, 3), digits(rng, 6)),
            region("GB"),
        ),
        16 => (
            format!("0{} {}", 20 + rng.below(2) * 10, digits(rng, 8)),
            region("GB"),
        ),
        17 => (format!("+49 151 {}", digits(rng, 8)), region("DE")),
        18 => (
            format!(
                "+61 4{} {} {}",
                digits(rng, 2),
                digits(rng, 3),
                digits(rng, 3)
            ),
            Region::US,
        ),
        _ => (
            format!("+1 604 {} {}", 200 + rng.below(800), digits(rng, 4)),
            Region::US,
        ),
    }
}

/// The benchmark's leads.
pub fn leads() -> Vec<Lead> {
    let mut rng = Rng(0x5EED);
    (0..1000)
        .map(|i| {
            let (phone, region) = phone(&mut rng);
            let pad = if rng.below(4) == 0 { " " } else { "" };
            let email = format!(
                "{pad}{}.{}{}@{}{pad}",
                FIRST[rng.below(FIRST.len())],
                LAST[rng.below(LAST.len())],
                rng.below(1000),
                DOMAINS[rng.below(DOMAINS.len())]
            );
            let ip = if rng.below(5) == 0 {
                format!("2001:db8:{:x}::{:x}", rng.below(65536), rng.below(65536))
            } else {
                format!(
                    "{}.{}.{}.{}",
                    1 + rng.below(222),
                    rng.below(256),
                    rng.below(256),
                    1 + rng.below(254)
                )
            };
            let ttclid: String = (0..40)
                .map(|_| char::from(TTCLID_CHARS[rng.below(TTCLID_CHARS.len())]))
                .collect();
            Lead {
                transaction_id: format!("lead-{i:06}-{:08x}", rng.next() as u32),
                email,
                phone,
                region,
                ip,
                user_agent: USER_AGENTS[rng.below(USER_AGENTS.len())],
                ttclid: format!("E.C.P.{ttclid}"),
                value: (rng.below(50_000) as f64) / 100.0,
            }
        })
        .collect()
}
