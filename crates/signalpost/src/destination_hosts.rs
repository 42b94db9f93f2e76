//! The API hosts an access token may be sent to by name: TikTok's and Meta's (the default
//! `[server] allowed_destination_hosts`), and what an entry of that list must look like: a bare
//! host name. The policy built on them is `admin::destinations`.

/// TikTok's Events API host: the default (and only default) allowed destination.
pub const TIKTOK_HOST: &str = "business-api.tiktok.com";
/// Meta's Graph API host.
pub const META_HOST: &str = "graph.facebook.com";
/// Google Ads API's host.
pub const GOOGLE_ADS_HOST: &str = "googleads.googleapis.com";
/// Google's OAuth token endpoint's host (Google Ads access tokens).
pub const GOOGLE_OAUTH_HOST: &str = "oauth2.googleapis.com";

/// An `allowed_destination_hosts` entry as compared: trimmed, lower-case, no trailing dot.
pub fn normalize_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Why an `allowed_destination_hosts` entry is not a bare host name; `None` when it is one.
pub fn host_entry_problem(entry: &str) -> Option<String> {
    let host = normalize_host(entry);
    let bare = !host.is_empty()
        && !host.contains(['/', '@', '?', '#', ' '])
        && url::Url::parse(&format!("https://{host}/"))
            .ok()
            .is_some_and(|u| u.host_str() == Some(host.as_str()) && u.port().is_none());
    (!bare).then(|| {
        format!(
            "{entry:?} is not a host name: write the host alone, such as \"{TIKTOK_HOST}\" (no scheme, port or path)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts_are_bare_host_names() {
        for ok in [TIKTOK_HOST, "127.0.0.2", "[::1]", "Proxy.Example."] {
            assert_eq!(host_entry_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "https://business-api.tiktok.com",
            "host:443",
            "host/path",
            "a b",
        ] {
            assert!(host_entry_problem(bad).is_some(), "{bad}");
        }
    }
}
