//! Which network addresses a request carrying an access token may connect to. A destination named
//! by the operator (the config file, the command line) may be anywhere, the sandbox on loopback
//! included; any other destination (set through the admin API or the console) may only reach
//! public addresses, so a stolen admin key cannot lead a token to, or probe, the internal network.
//!
//! The check is made on the address actually connected to: names go through [`PublicOnlyResolver`],
//! which drops every non-public address a lookup returns (a public name resolving to 127.0.0.1 is
//! refused, and there is no second lookup to rebind), and a URL whose host is an IP literal — which
//! never reaches a resolver — is checked by [`literal_refusal`]. This module never logs and never
//! sees a token.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Where a client may connect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AddressPolicy {
    /// Public addresses only: loopback, private, link-local, CGNAT, documentation, multicast and
    /// the other special-purpose ranges are refused. For destinations set through the API.
    #[default]
    PublicOnly,
    /// Any address: for destinations the operator named in the config file or on the command line.
    Any,
}

/// A connection refused because the destination's address is not public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRefused {
    /// The host of the URL, as written.
    pub host: String,
    /// The refused addresses it stands for (empty when the lookup found none at all).
    pub addresses: Vec<IpAddr>,
}

impl fmt::Display for DestinationRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.addresses.iter().map(ToString::to_string).collect();
        write!(
            f,
            "the destination address is not allowed: {} {} ({}), and only hosts named in the \
             config file may use loopback, private, link-local or other non-public addresses",
            self.host,
            if shown.len() == 1 && shown[0] == self.host {
                "is not a public address".to_owned()
            } else {
                format!("resolves to {}", shown.join(", "))
            },
            describe_ranges(&self.addresses),
        )
    }
}

impl std::error::Error for DestinationRefused {}

/// "loopback", "private", … for the refusal message.
fn describe_ranges(addresses: &[IpAddr]) -> String {
    let mut kinds: Vec<&str> = addresses.iter().map(|ip| range_kind(*ip)).collect();
    kinds.dedup();
    if kinds.is_empty() {
        "no address".to_owned()
    } else {
        kinds.join(", ")
    }
}

fn range_kind(ip: IpAddr) -> &'static str {
    match canonical(ip) {
        IpAddr::V4(v4) if v4.is_loopback() => "loopback",
        IpAddr::V6(v6) if v6.is_loopback() => "loopback",
        IpAddr::V4(v4) if v4.is_private() => "private",
        IpAddr::V6(v6) if (v6.segments()[0] & 0xfe00) == 0xfc00 => "private",
        IpAddr::V4(v4) if v4.is_link_local() => "link-local",
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => "link-local",
        IpAddr::V4(v4) if v4.is_unspecified() => "unspecified",
        IpAddr::V6(v6) if v6.is_unspecified() => "unspecified",
        IpAddr::V4(v4) if in_v4(v4, [100, 64, 0, 0], 10) => "shared (CGNAT)",
        _ => "reserved",
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, bits: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

/// Whether `ip` is a public unicast address that a destination set through the API may use.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4 special-purpose ranges (IANA registry) that must not be reached.
const V4_NON_PUBLIC: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),       // "this network", unspecified
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local (cloud metadata services live here)
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, broadcast
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !V4_NON_PUBLIC
        .iter()
        .any(|&(net, bits)| in_v4(ip, net, bits))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let v6 = |s: [u16; 8]| Ipv6Addr::from(s);
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
    if in_v6(ip, v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]), 96) {
        let o = ip.octets();
        return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if in_v6(ip, v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16) {
        let o = ip.octets();
        return is_public_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    let non_public: [(Ipv6Addr, u32); 11] = [
        (Ipv6Addr::UNSPECIFIED, 96), // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
        (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]), 48), // local-use NAT64
        (v6([0x100, 0, 0, 0, 0, 0, 0, 0]), 64), // discard-only
        (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 32), // Teredo
        (v6([0x2001, 2, 0, 0, 0, 0, 0, 0]), 48), // benchmarking
        (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32), // documentation
        (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0]), 20), // documentation
        (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]), 7), // unique local (private)
        (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]), 10), // link-local
        (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0]), 10), // site-local (deprecated)
        (v6([0xff00, 0, 0, 0, 0, 0, 0, 0]), 8), // multicast
    ];
    !non_public.iter().any(|&(net, bits)| in_v6(ip, net, bits))
}

/// The refusal for a URL whose host is an IP literal that is not public (resolvers are not
/// consulted for those); `None` for names and public literals.
pub fn literal_refusal(url: &reqwest::Url) -> Option<DestinationRefused> {
    // The URL parser has already normalized every spelling (`2130706433`, `0x7f.1`) to dotted
    // quads, and writes IPv6 literals in brackets.
    let host = url.host_str()?;
    let ip: IpAddr = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()?;
    (!is_public(ip)).then(|| DestinationRefused {
        host: ip.to_string(),
        addresses: vec![ip],
    })
}

/// A resolver that answers only with public addresses, and with [`DestinationRefused`] when a
/// name has none. `exempt` names (the outbound proxy the operator set in the environment, which
/// the client connects to instead of the destination) are resolved as they are.
#[derive(Debug, Clone, Default)]
pub struct PublicOnlyResolver {
    exempt: Vec<String>,
}

impl PublicOnlyResolver {
    /// A resolver exempting the hosts of the proxy variables the HTTP client reads
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, upper or lower case).
    pub fn exempting_env_proxies() -> Self {
        let exempt = [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .filter_map(|value| {
            let value = value.trim();
            let with_scheme = if value.contains("://") {
                value.to_owned()
            } else {
                format!("http://{value}")
            };
            reqwest::Url::parse(&with_scheme)
                .ok()?
                .host_str()
                .map(str::to_ascii_lowercase)
        })
        .collect();
        Self { exempt }
    }
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let exempt = self.exempt.contains(&host.to_ascii_lowercase());
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if exempt {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let (public, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                found.into_iter().partition(|a| is_public(a.ip()));
            if public.is_empty() {
                let mut addresses: Vec<IpAddr> = refused.iter().map(SocketAddr::ip).collect();
                addresses.dedup();
                return Err(Box::new(DestinationRefused { host, addresses })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The [`DestinationRefused`] somewhere in `e`'s chain of causes.
pub fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<DestinationRefused> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(refused) = err.downcast_ref::<DestinationRefused>() {
            return Some(refused.clone());
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.0.0.2",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::",
            "2002:a00:1::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert!(!is_public(addr), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert!(is_public(addr), "{ip} must be allowed");
        }
    }

    #[test]
    fn ip_literals_in_urls_are_checked_in_every_spelling() {
        for url in [
            "http://127.0.0.1:9/",
            "https://127.0.0.2/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::1]:8080/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://0/",
        ] {
            let parsed = reqwest::Url::parse(url).unwrap();
            let refused = literal_refusal(&parsed).unwrap_or_else(|| panic!("{url}"));
            assert!(
                refused.to_string().contains("not allowed"),
                "{url}: {refused}"
            );
        }
        for url in ["https://business-api.tiktok.com", "https://8.8.8.8/"] {
            assert!(literal_refusal(&reqwest::Url::parse(url).unwrap()).is_none());
        }
    }

    #[tokio::test]
    async fn the_operators_proxy_is_resolved_as_it_is() {
        let resolver = PublicOnlyResolver {
            exempt: vec!["localhost".to_owned()],
        };
        let found: Vec<SocketAddr> = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(found.iter().all(|a| a.ip().is_loopback()) && !found.is_empty());
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_loopback_is_refused() {
        let name: Name = "localhost".parse().unwrap();
        let Err(err) = PublicOnlyResolver::default().resolve(name).await else {
            panic!("localhost must not resolve to a usable address");
        };
        let refused = refusal_in(err.as_ref()).unwrap();
        assert_eq!(refused.host, "localhost");
        assert!(refused.addresses.iter().all(|ip| ip.is_loopback()));
        assert!(refused.to_string().contains("loopback"), "{refused}");
    }
}
