//! `signalpost send`: builds one TikTok event from flags, validates and hashes it exactly as the
//! gateway does, then prints the body (`--dry-run`) or posts it and prints TikTok's answer.
//! Bad input is reported before anything is sent, naming the flag, with exit code 2.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use signalpost_tiktok::classify::Outcome;
use signalpost_tiktok::client::{Client, ClientConfig};
use signalpost_tiktok::currency::Currency;
use signalpost_tiktok::event_name::EventName;
use signalpost_tiktok::identity::{self, Region};
use signalpost_tiktok::model::{
    DEFAULT_BASE_URL, Event, EventSource, Page, Properties, TrackRequest, User,
};

use super::usage_error;

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Pixel code (`event_source_id`).
    #[arg(long)]
    pixel: String,
    /// Events API access token (or SIGNALPOST_ACCESS_TOKEN). Not needed with --dry-run.
    #[arg(long, env = "SIGNALPOST_ACCESS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// API base URL: TikTok by default, or a sandbox such as http://127.0.0.1:9400.
    #[arg(long, default_value = DEFAULT_BASE_URL)]
    base_url: String,
    /// Standard event (Purchase, Lead, CompleteRegistration, ...) or a custom name.
    #[arg(long)]
    event: String,
    /// Dedup key; a fresh UUID when absent.
    #[arg(long)]
    event_id: Option<String>,
    /// When the event happened, Unix seconds (UTC); now when absent.
    #[arg(long)]
    event_time: Option<i64>,
    /// Raw email (trimmed, lower-cased, SHA-256 hashed) or an existing SHA-256 hex.
    #[arg(long)]
    email: Option<String>,
    /// Raw phone (normalized to E.164, SHA-256 hashed) or an existing SHA-256 hex.
    #[arg(long)]
    phone: Option<String>,
    /// Region for phone numbers without a country code (ISO 3166 alpha-2). `--country` says the same
    /// thing the way the lead API does (the lead's country reads its phone).
    #[arg(long, visible_alias = "country", default_value = "US")]
    region: String,
    /// External id (trimmed, SHA-256 hashed, case kept).
    #[arg(long)]
    external_id: Option<String>,
    /// Client IP address, sent raw.
    #[arg(long)]
    ip: Option<String>,
    /// Client user agent, sent raw.
    #[arg(long)]
    user_agent: Option<String>,
    /// TikTok click id from the landing URL.
    #[arg(long)]
    ttclid: Option<String>,
    /// Value of the `_ttp` cookie.
    #[arg(long)]
    ttp: Option<String>,
    /// Page URL (`page.url`, required by TikTok for web events): the lead's landing URL.
    #[arg(long)]
    page_url: Option<String>,
    /// The page the visitor came from (`page.referrer`); also `page.url` without --page-url.
    #[arg(long)]
    referrer: Option<String>,
    /// The advertiser's site (a pixel's `site_url`): `page.url` without --page-url or --referrer,
    /// the same fallback ingest uses.
    #[arg(long)]
    site_url: Option<String>,
    /// Event value (a number; 0 is a value).
    #[arg(long)]
    value: Option<f64>,
    /// Currency from TikTok's supported list (USD, EUR, ...).
    #[arg(long)]
    currency: Option<String>,
    /// `product` or `product_group`; only sent when given.
    #[arg(long)]
    content_type: Option<String>,
    /// Events Manager test code (top-level `test_event_code`).
    #[arg(long)]
    test_event_code: Option<String>,
    /// Print the exact JSON body and exit without sending.
    #[arg(long)]
    dry_run: bool,
    /// Request timeout in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// Runs the command: exit 0 when delivered (or on --dry-run), 1 when TikTok refused, 2 on bad input.
pub async fn run(args: SendArgs) -> ExitCode {
    let request = match build_request(&args) {
        Ok(request) => request,
        Err((flag, message)) => return usage_error(flag, message),
    };
    let body = match serde_json::to_vec(&request) {
        Ok(body) => body,
        Err(err) => {
            eprintln!("error: cannot serialize the request: {err}");
            return ExitCode::FAILURE;
        }
    };
    if args.dry_run {
        println!("{}", String::from_utf8_lossy(&body));
        return ExitCode::SUCCESS;
    }
    let Some(token) = args.token.as_deref().filter(|t| !t.trim().is_empty()) else {
        return usage_error(
            "--token",
            "an access token is required to send (or use --dry-run)",
        );
    };
    let client = match Client::new(ClientConfig {
        base_url: args.base_url.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
        // The operator typed the destination on their own command line: trusted like the config file.
        addresses: signalpost_tiktok::client::AddressPolicy::Any,
        ..ClientConfig::default()
    }) {
        Ok(client) => client,
        Err(err) => return usage_error("--base-url", err),
    };
    let answer = client.track_raw(token, body).await;
    let c = &answer.classified;
    let status = answer
        .http_status
        .map_or_else(|| "none".to_owned(), |s| s.to_string());
    println!(
        "http_status={status} code={} message={:?} request_id={} outcome={:?} latency_ms={}",
        c.code
            .map_or_else(|| "none".to_owned(), |code| code.to_string()),
        c.message,
        c.request_id.as_deref().unwrap_or("none"),
        c.outcome,
        answer.latency.as_millis()
    );
    if c.outcome == Outcome::Delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

type FlagError = (&'static str, String);

/// Validates every flag and builds the request; the first problem names its flag.
fn build_request(args: &SendArgs) -> Result<TrackRequest, FlagError> {
    let event = EventName::parse(&args.event).map_err(|e| ("--event", e.to_string()))?;
    if args.pixel.trim().is_empty() {
        return Err(("--pixel", "must not be empty".into()));
    }
    let region = Region::parse(&args.region).map_err(|e| ("--region", e.to_string()))?;
    let event_time = match args.event_time {
        Some(t) if !(0..10_000_000_000).contains(&t) => {
            return Err((
                "--event-time",
                "must be Unix seconds (this looks like milliseconds or is negative)".into(),
            ));
        }
        Some(t) => t,
        None => now_seconds(),
    };
    let event_id = match &args.event_id {
        Some(id) if id.trim().is_empty() => return Err(("--event-id", "must not be empty".into())),
        Some(id) => id.clone(),
        None => uuid::Uuid::now_v7().to_string(),
    };
    let mut user = User::default();
    if let Some(raw) = &args.email {
        user.email = Some(
            identity::hash_email(raw)
                .map_err(|e| ("--email", e.to_string()))?
                .to_string(),
        );
    }
    if let Some(raw) = &args.phone {
        user.phone = Some(
            identity::hash_phone(raw, region)
                .map_err(|e| ("--phone", e.to_string()))?
                .to_string(),
        );
    }
    if let Some(raw) = &args.external_id {
        user.external_id = Some(
            identity::hash_external_id(raw)
                .map_err(|e| ("--external-id", e.to_string()))?
                .to_string(),
        );
    }
    if let Some(ip) = &args.ip {
        ip.trim()
            .parse::<IpAddr>()
            .map_err(|_| ("--ip", format!("{ip:?} is not an IPv4 or IPv6 address")))?;
        user.ip = Some(ip.trim().to_owned());
    }
    user.user_agent = non_empty(&args.user_agent);
    user.ttclid = non_empty(&args.ttclid);
    user.ttp = non_empty(&args.ttp);

    let currency = args
        .currency
        .as_deref()
        .map(Currency::parse)
        .transpose()
        .map_err(|e| ("--currency", e.to_string()))?;
    if let Some(value) = args.value
        && !value.is_finite()
    {
        return Err(("--value", "must be a finite number".into()));
    }
    let content_type = match args.content_type.as_deref() {
        None => None,
        Some(ct @ ("product" | "product_group")) => Some(ct.to_owned()),
        Some(other) => {
            return Err((
                "--content-type",
                format!("{other:?} is not product or product_group"),
            ));
        }
    };
    let properties =
        (args.value.is_some() || currency.is_some() || content_type.is_some()).then(|| {
            Properties {
                value: args.value,
                currency: currency
                    .map(|c| c.as_str().to_owned())
                    .or_else(|| args.value.map(|_| "USD".to_owned())),
                content_type,
                ..Properties::default()
            }
        });
    let referrer = non_empty(&args.referrer);
    let site_url = non_empty(&args.site_url);
    for (flag, value) in [("--referrer", &referrer), ("--site-url", &site_url)] {
        if let Some(url) = value {
            crate::admin::catalog::validate_site_url(Some(url))
                .map_err(|_| (flag, format!("{url:?} is not an absolute http(s) URL")))?;
        }
    }
    // DESIGN.md's fallback, as ingest applies it: landing URL, then referrer, then the site.
    let page = non_empty(&args.page_url)
        .or_else(|| referrer.clone())
        .or(site_url)
        .map(|url| Page { url, referrer });
    if page.is_none() {
        tracing::warn!(
            "no --page-url, --referrer or --site-url: TikTok requires page.url for web events"
        );
    }
    let user_is_empty = user == User::default();
    Ok(TrackRequest {
        event_source: EventSource::Web,
        event_source_id: args.pixel.trim().to_owned(),
        data: vec![Event {
            event: event.as_str().to_owned(),
            event_time,
            event_id: Some(event_id),
            user: (!user_is_empty).then_some(user),
            properties,
            page,
            ..Event::default()
        }],
        test_event_code: non_empty(&args.test_event_code),
        partner_name: None,
    })
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
