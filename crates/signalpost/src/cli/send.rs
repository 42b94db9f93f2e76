//! `signalpost send`: builds one event from flags with the very builders ingest uses (the shared
//! identity module hashes, the destination's payload and request), then prints the body
//! (`--dry-run`, never with a token in it) or posts it and prints the destination's answer.
//! TikTok by default; `--destination meta` for Meta. Bad input is reported before anything is
//! sent, naming the flag, with exit code 2.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use signalpost_destination::Outcome;
use signalpost_destination::http::{Endpoint, EndpointConfig};
use signalpost_gateway::GatewayError;
use signalpost_gateway::destinations::{Destination, DestinationSpec, credentials, google_ads};
use signalpost_gateway::domain::NewLead;
use signalpost_gateway::gateway::lead_from;
use signalpost_gateway::rules::PlannedEvent;
use signalpost_tiktok::currency::Currency;
use signalpost_tiktok::event_name::EventName;
use signalpost_tiktok::identity::{self, Region};

use super::usage_error;

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Pixel code: TikTok's `event_source_id` (a CRM event set id with `--event-source crm`), or
    /// Meta's pixel (dataset) id.
    #[arg(long)]
    pixel: String,
    /// `tiktok` (default), `meta` or `google_ads` (`--pixel` is then only a label).
    #[arg(long, default_value = "tiktok")]
    destination: String,
    /// Google Ads: the customer account (10 digits; dashes allowed).
    #[arg(long)]
    customer_id: Option<String>,
    /// Google Ads: the conversion action's id.
    #[arg(long)]
    conversion_action: Option<String>,
    /// Google Ads: the manager account acting for the customer.
    #[arg(long)]
    login_customer_id: Option<String>,
    /// Google Ads: the OAuth token endpoint (default Google's; a sandbox's `…/token`).
    #[arg(long)]
    token_url: Option<String>,
    /// Google Ads: `granted` or `denied` (adUserData and adPersonalization).
    #[arg(long)]
    consent: Option<String>,
    /// Google Ads developer token (or SIGNALPOST_GOOGLE_DEVELOPER_TOKEN).
    #[arg(
        long,
        env = "SIGNALPOST_GOOGLE_DEVELOPER_TOKEN",
        hide_env_values = true
    )]
    developer_token: Option<String>,
    /// Google Ads OAuth client id (or SIGNALPOST_GOOGLE_CLIENT_ID).
    #[arg(long, env = "SIGNALPOST_GOOGLE_CLIENT_ID", hide_env_values = true)]
    client_id: Option<String>,
    /// Google Ads OAuth client secret (or SIGNALPOST_GOOGLE_CLIENT_SECRET).
    #[arg(long, env = "SIGNALPOST_GOOGLE_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Google Ads OAuth refresh token (or SIGNALPOST_GOOGLE_REFRESH_TOKEN).
    #[arg(long, env = "SIGNALPOST_GOOGLE_REFRESH_TOKEN", hide_env_values = true)]
    refresh_token: Option<String>,
    /// Google click id (web).
    #[arg(long)]
    gclid: Option<String>,
    /// Google click id of an iOS app-to-web click.
    #[arg(long)]
    gbraid: Option<String>,
    /// Google click id of an iOS web-to-app click.
    #[arg(long)]
    wbraid: Option<String>,
    /// TikTok: `web` (default) or `crm` (a CRM event set; needs --tiktok-lead-id).
    #[arg(long)]
    event_source: Option<String>,
    /// Meta: Graph API version (default: the current one).
    #[arg(long)]
    api_version: Option<String>,
    /// Meta: `website` (default), `system_generated` (Conversion Leads, needs --meta-lead-id), …
    #[arg(long)]
    action_source: Option<String>,
    /// Events API access token (or SIGNALPOST_ACCESS_TOKEN). Not needed with --dry-run.
    #[arg(long, env = "SIGNALPOST_ACCESS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// API base URL: the destination's production API by default, or a sandbox such as
    /// http://127.0.0.1:9400.
    #[arg(long)]
    base_url: Option<String>,
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
    /// Meta click id from the landing URL (becomes `fbc`); taken from --page-url when absent.
    #[arg(long)]
    fbclid: Option<String>,
    /// Value of the `_fbc` cookie (wins over --fbclid).
    #[arg(long)]
    fbc: Option<String>,
    /// Value of the `_fbp` cookie.
    #[arg(long)]
    fbp: Option<String>,
    /// Meta Lead Ads lead id (15-17 digits), for Conversion Leads.
    #[arg(long)]
    meta_lead_id: Option<String>,
    /// TikTok Lead Generation lead id, for CRM event sets.
    #[arg(long)]
    tiktok_lead_id: Option<String>,
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
    /// Currency (ISO 4217 from TikTok's supported list: USD, EUR, ...).
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

/// Runs the command: exit 0 when delivered (or on --dry-run), 1 when refused, 2 on bad input.
pub async fn run(args: SendArgs) -> ExitCode {
    let built = match build(&args) {
        Ok(built) => built,
        Err((flag, message)) => return usage_error(flag, message),
    };
    let payloads = || std::iter::once(built.payload.as_str());
    if args.dry_run {
        let body = built.destination.request_body(
            &built.pixel,
            None,
            built.test_event_code.as_deref(),
            payloads(),
        );
        println!("{}", String::from_utf8_lossy(&body));
        return ExitCode::SUCCESS;
    }
    let token = match google_ads_secret(&args, &built.destination) {
        Some(Ok(bundle)) => bundle,
        Some(Err((flag, message))) => return usage_error(flag, message),
        None => match args.token.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(token) => token.to_owned(),
            None => {
                return usage_error(
                    "--token",
                    "an access token is required to send (or use --dry-run)",
                );
            }
        },
    };
    let token = token.as_str();
    let destination = &built.destination;
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(|| destination.default_base_url().to_owned());
    let endpoint = destination
        .endpoint_url(&base_url, &built.pixel)
        .and_then(|url| {
            Endpoint::new(EndpointConfig {
                url,
                timeout: Duration::from_secs(args.timeout.max(1)),
                connect_timeout: Duration::from_secs(5),
                // The operator typed the destination on their own command line: trusted like the
                // config file.
                addresses: signalpost_destination::AddressPolicy::Any,
            })
        });
    let endpoint = match endpoint {
        Ok(endpoint) => endpoint,
        Err(err) => return usage_error("--base-url", err),
    };
    let body = destination.request_body(
        &built.pixel,
        Some(token),
        built.test_event_code.as_deref(),
        payloads(),
    );
    let answer = credentials::post(
        &endpoint,
        destination,
        token,
        signalpost_destination::AddressPolicy::Any,
        body,
    )
    .await;
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

/// The event to send: its destination, pixel, event JSON and test code.
struct Built {
    destination: Destination,
    pixel: String,
    payload: String,
    test_event_code: Option<String>,
}

/// Validates every flag and builds the event; the first problem names its flag.
fn build(args: &SendArgs) -> Result<Built, FlagError> {
    let destination = DestinationSpec {
        destination: Some(args.destination.clone()),
        event_source: args.event_source.clone(),
        api_version: args.api_version.clone(),
        action_source: args.action_source.clone(),
        lead_event_source: None,
        customer_id: args.customer_id.clone(),
        conversion_action: args.conversion_action.clone(),
        login_customer_id: args.login_customer_id.clone(),
        token_url: args.token_url.clone(),
        consent: args.consent.clone(),
    }
    .resolve()
    .map_err(|problems| {
        let (key, problem) = problems.into_iter().next().unwrap_or_default();
        (flag_of(key), problem)
    })?;
    let event = EventName::parse(&args.event).map_err(|e| ("--event", e.to_string()))?;
    let pixel = args.pixel.trim().to_owned();
    if pixel.is_empty() {
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
        Some(id) => id.trim().to_owned(),
        None => uuid::Uuid::now_v7().to_string(),
    };
    let email = args
        .email
        .as_deref()
        .map(|raw| identity::hash_email(raw).map_err(|e| ("--email", e.to_string())))
        .transpose()?;
    let phone = args
        .phone
        .as_deref()
        .map(|raw| identity::hash_phone_forms(raw, region).map_err(|e| ("--phone", e.to_string())))
        .transpose()?;
    let external_id = args
        .external_id
        .as_deref()
        .map(|raw| identity::hash_external_id(raw).map_err(|e| ("--external-id", e.to_string())))
        .transpose()?;
    if let Some(ip) = &args.ip {
        ip.trim()
            .parse::<IpAddr>()
            .map_err(|_| ("--ip", format!("{ip:?} is not an IPv4 or IPv6 address")))?;
    }
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
        Some(ct @ ("product" | "product_group")) => Some(ct),
        Some(other) => {
            return Err((
                "--content-type",
                format!("{other:?} is not product or product_group"),
            ));
        }
    };
    let referrer = non_empty(&args.referrer);
    let site_url = non_empty(&args.site_url);
    for (flag, value) in [("--referrer", &referrer), ("--site-url", &site_url)] {
        if let Some(url) = value {
            crate::pixel_fields::validate_site_url(Some(url))
                .map_err(|_| (flag, format!("{url:?} is not an absolute http(s) URL")))?;
        }
    }
    let landing_url = non_empty(&args.page_url);
    // The lead as ingest would hold it (click ids from the landing URL, lead ids checked).
    let lead = lead_from(
        NewLead {
            transaction_id: Some(event_id.clone()),
            email: email.map(|h| h.into_string()),
            phone: phone.as_ref().map(|p| p.e164.as_str().to_owned()),
            phone_digits: phone.as_ref().map(|p| p.digits.as_str().to_owned()),
            external_id: external_id.map(|h| h.into_string()),
            ip: non_empty(&args.ip),
            user_agent: non_empty(&args.user_agent),
            ttclid: non_empty(&args.ttclid),
            ttp: non_empty(&args.ttp),
            fbclid: non_empty(&args.fbclid),
            fbc: non_empty(&args.fbc),
            fbp: non_empty(&args.fbp),
            gclid: non_empty(&args.gclid),
            gbraid: non_empty(&args.gbraid),
            wbraid: non_empty(&args.wbraid),
            meta_lead_id: non_empty(&args.meta_lead_id),
            tiktok_lead_id: non_empty(&args.tiktok_lead_id),
            landing_url: landing_url.clone(),
            referrer: referrer.clone(),
            occurred_at: Some(event_time),
            ..NewLead::default()
        },
        event_time,
    )
    .map_err(|e| {
        let flag = match &e {
            GatewayError::InvalidField { field, .. } => flag_of_field(field),
            _ => "--event-id",
        };
        (flag, e.to_string())
    })?;
    // DESIGN.md's fallback, as ingest applies it: landing URL, then referrer, then the site.
    let page_url = landing_url.or_else(|| referrer.clone()).or(site_url);
    if page_url.is_none() {
        tracing::warn!("no --page-url, --referrer or --site-url: web events need a page URL");
    }
    let planned = PlannedEvent {
        lead: &lead,
        event_name: event.as_str(),
        event_time,
        event_id,
        value: args.value,
        currency: currency
            .map(|c| c.as_str().to_owned())
            .or_else(|| args.value.map(|_| "USD".to_owned())),
        content_type,
        page_url: page_url.as_deref(),
        referrer: referrer.as_deref(),
        phone: lead.phone.as_deref(),
        phone_digits: lead.phone_digits.as_deref(),
        action_source: None,
        overlay: Default::default(),
        timezone: chrono_tz::UTC,
    };
    let payload = destination
        .event_json(&planned)
        .map_err(|e| ("--event", format!("cannot build the event: {e}")))?;
    Ok(Built {
        destination,
        pixel,
        payload,
        test_event_code: non_empty(&args.test_event_code),
    })
}

/// The flag of a destination key.
fn flag_of(key: &str) -> &'static str {
    match key {
        "event_source" => "--event-source",
        "api_version" => "--api-version",
        "action_source" => "--action-source",
        "customer_id" => "--customer-id",
        "conversion_action" => "--conversion-action",
        "login_customer_id" => "--login-customer-id",
        "token_url" => "--token-url",
        "consent" => "--consent",
        _ => "--destination",
    }
}

/// A Google Ads pixel's credentials from their four flags, bundled as its secret; `None` for
/// other destinations.
fn google_ads_secret(
    args: &SendArgs,
    destination: &Destination,
) -> Option<Result<String, FlagError>> {
    if !matches!(destination, Destination::GoogleAds(_)) {
        return None;
    }
    let secrets = google_ads::token::Secrets::from_parts(
        args.developer_token.as_deref(),
        args.client_id.as_deref(),
        args.client_secret.as_deref(),
        args.refresh_token.as_deref(),
    );
    Some(match secrets.check() {
        Ok(()) => Ok(secrets.to_bundle()),
        Err(key) => Err((
            match key {
                "developer_token" => "--developer-token",
                "client_id" => "--client-id",
                "client_secret" => "--client-secret",
                _ => "--refresh-token",
            },
            "required to send to Google Ads (or use --dry-run): visible ASCII without spaces"
                .to_owned(),
        )),
    })
}

/// The flag of a lead field the gateway refused.
fn flag_of_field(field: &str) -> &'static str {
    match field {
        "meta_lead_id" => "--meta-lead-id",
        "tiktok_lead_id" => "--tiktok-lead-id",
        "fbc" => "--fbc",
        "fbp" => "--fbp",
        "occurred_at" => "--event-time",
        _ => "--event-id",
    }
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
