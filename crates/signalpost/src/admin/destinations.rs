//! Where an access token may be sent. The config file is the operator's root of trust: a host it
//! names in a `[[pixels]]` `base_url` (or the built-in demo sandbox) is trusted as written — any
//! scheme, any address, loopback included. A destination set through the admin API or the console
//! must be an `https://` URL whose host is listed in `[server] allowed_destination_hosts` (plain
//! http only for a host the config file names), and it may only reach public addresses: that is
//! checked on every connection by the HTTP client (`signalpost_destination::address`).
//!
//! This module owns the policy and nothing else: it never sees a token and never logs.

use std::collections::BTreeSet;

use signalpost_tiktok::client::AddressPolicy;
use signalpost_tiktok::model::DEFAULT_BASE_URL;

use crate::config::Config;
use crate::destination_hosts::{GOOGLE_ADS_HOST, META_HOST, TIKTOK_HOST, normalize_host};
use crate::wire::problem::FieldError;

/// The destination policy of one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations {
    /// `[server] allowed_destination_hosts`, lower-cased.
    allowed: BTreeSet<String>,
    /// Hosts the config file names in a pixel's `base_url` (and the demo sandbox's).
    from_config: BTreeSet<String>,
}

impl Default for Destinations {
    fn default() -> Self {
        Self {
            allowed: BTreeSet::from([TIKTOK_HOST.to_owned(), META_HOST.to_owned()]),
            from_config: BTreeSet::new(),
        }
    }
}

/// The host of a URL as compared here: lower-case, IPv6 in brackets (as URLs write it).
fn host_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    parsed.host_str().map(str::to_ascii_lowercase)
}

impl Destinations {
    /// The policy of `config`: its allowed hosts, and the hosts its pixels name.
    pub fn from_config(config: &Config) -> Self {
        let mut destinations = Destinations {
            allowed: config
                .server
                .allowed_destination_hosts
                .iter()
                .map(|h| normalize_host(h))
                .filter(|h| !h.is_empty())
                .collect(),
            from_config: BTreeSet::new(),
        };
        for pixel in &config.pixels {
            if let Some(base_url) = &pixel.base_url {
                destinations.trust(base_url);
            }
            if let Some(token_url) = &pixel.token_url {
                destinations.trust(token_url);
            }
        }
        destinations
    }

    /// Trusts the host of `base_url` as if the config file named it (the demo sandbox).
    pub fn trust(&mut self, base_url: &str) {
        if let Some(host) = host_of(base_url) {
            self.from_config.insert(host);
        }
    }

    fn named_by_config(&self, base_url: &str) -> bool {
        host_of(base_url).is_some_and(|h| self.from_config.contains(&h))
    }

    /// Which addresses a pixel sending to `base_url` (`None`: TikTok's API) may connect to: any
    /// when the config file names its host, public ones otherwise.
    pub fn addresses_for(&self, base_url: Option<&str>) -> AddressPolicy {
        if self.named_by_config(base_url.unwrap_or(DEFAULT_BASE_URL)) {
            AddressPolicy::Any
        } else {
            AddressPolicy::PublicOnly
        }
    }

    /// Whether an answer from `base_url` may be shown in full (Test Postback's message): only
    /// when it came from TikTok's or Meta's host or one the config file names. Any other host's
    /// text could be an internal service's page, so only its status and code are shown.
    pub fn shows_answer_text(&self, base_url: &str) -> bool {
        host_of(base_url).is_some_and(|h| {
            h == TIKTOK_HOST
                || h == META_HOST
                || h == GOOGLE_ADS_HOST
                || self.from_config.contains(&h)
        })
    }

    /// The rule for a `base_url` set through the admin API or the console (already a valid
    /// absolute URL): a host the config file names, or an `https://` URL of an allowed host.
    pub fn check(&self, base_url: &str) -> Result<(), FieldError> {
        let bad = |detail: String| FieldError::new("base_url", detail);
        let url = url::Url::parse(base_url.trim()).map_err(|_| {
            bad("must be an absolute URL such as https://business-api.tiktok.com".into())
        })?;
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return Err(bad("must be an https:// URL with a host".into()));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain a user name or password".into()));
        }
        if self.from_config.contains(&host) {
            return Ok(());
        }
        if !self.allowed.contains(&host) {
            let allowed: Vec<&str> = self.allowed.iter().map(String::as_str).collect();
            return Err(bad(format!(
                "host {host} is not an allowed destination: through the API or the console a pixel \
                 may only send to a host listed in [server] allowed_destination_hosts ({}) or named \
                 by a pixel in the config file; the operator adds hosts there",
                if allowed.is_empty() {
                    "empty".to_owned()
                } else {
                    allowed.join(", ")
                }
            )));
        }
        if url.scheme() != "https" {
            return Err(bad(format!(
                "must use https:// (plain {}:// is allowed only for a host the config file names \
                 for a pixel)",
                url.scheme()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], config_urls: &[&str]) -> Destinations {
        let mut d = Destinations {
            allowed: allowed.iter().map(|h| normalize_host(h)).collect(),
            from_config: BTreeSet::new(),
        };
        for url in config_urls {
            d.trust(url);
        }
        d
    }

    #[test]
    fn api_destinations_must_be_https_on_an_allowed_host() {
        let d = policy(&[TIKTOK_HOST, "Proxy.Example"], &["http://127.0.0.1:9000"]);
        for ok in [
            "https://business-api.tiktok.com",
            "https://BUSINESS-API.tiktok.com/",
            "https://proxy.example:8443/tiktok",
            // Named by the config file: as written, plain http and loopback included.
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9001/other",
        ] {
            assert_eq!(d.check(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("https://evil.example", "not an allowed destination"),
            ("http://business-api.tiktok.com", "must use https://"),
            ("https://127.0.0.2:9000", "not an allowed destination"),
            ("https://169.254.169.254/", "not an allowed destination"),
            ("https://user:pw@business-api.tiktok.com", "user name"),
            ("not a url", "absolute URL"),
        ] {
            let err = d.check(bad).unwrap_err();
            assert_eq!(err.field, "base_url");
            assert!(err.detail.contains(says), "{bad}: {}", err.detail);
        }
    }

    #[test]
    fn only_hosts_the_config_names_may_reach_any_address() {
        let d = policy(&[TIKTOK_HOST, "localhost"], &["http://127.0.0.1:9000"]);
        assert_eq!(
            d.addresses_for(Some("http://127.0.0.1:1/")),
            AddressPolicy::Any
        );
        assert_eq!(
            d.addresses_for(Some("https://localhost:9000")),
            AddressPolicy::PublicOnly
        );
        assert_eq!(d.addresses_for(None), AddressPolicy::PublicOnly);
        assert!(d.shows_answer_text("https://business-api.tiktok.com"));
        assert!(d.shows_answer_text("http://127.0.0.1:5"));
        assert!(!d.shows_answer_text("https://localhost:9000"));
    }
}
