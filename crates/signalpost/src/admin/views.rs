//! What the admin API answers: pixels with their token health (never the token: `tt_…last4`),
//! rules with their config, keys without the key (except once, at creation).

use signalpost_gateway::destinations::Destination;
use std::time::Duration;

use serde::Serialize;
use signalpost_gateway::RuleConfig;
use signalpost_gateway::delivery::{PixelSnapshot, PixelState};
use signalpost_gateway::store::settings::{StoredKey, StoredPixel, StoredRule};

use super::catalog::{CreatedKey, redacted};
use super::live::token_age;
use crate::pixel_fields::pixel_warnings;
use crate::wire::problem::FieldError;

/// RFC 3339 UTC time of a unix-ms instant.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A pixel's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Delivering.
    Ok,
    /// TikTok rejected the token; events are held until it is replaced.
    Paused,
    /// Delivering, but the token is older than the rotation age: replace it soon.
    RotateSoon,
}

/// A pixel as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PixelView {
    pub code: String,
    /// `database` (managed through the API, the console or the config file) or `demo` (the
    /// in-process sandbox pixel of demo mode, not stored).
    pub source: &'static str,
    /// Where events are sent; TikTok's production API unless overridden.
    pub base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_event_code: Option<String>,
    /// The advertiser's site: `page.url` of events whose lead has no landing URL or referrer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_url: Option<String>,
    /// The region for national phone numbers of leads without `country` (ISO alpha-2); absent: the
    /// server's `default_region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_region: Option<String>,
    /// Where its conversions go, with that destination's settings.
    pub destination: PixelDestination,
    /// What to look at although the pixel is valid, each naming its field (a missing `site_url`:
    /// leads without a landing URL or referrer would be undeliverable).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<FieldError>,
    /// The token, redacted: `tt_…` and its last four characters.
    pub token: String,
    /// When the token was set (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_set_at: Option<String>,
    /// Whole days since the token was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_age_days: Option<u64>,
    pub health: Health,
    /// Why: TikTok's answer when paused, the token's age when it should be rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A pixel's destination and its settings, defaults written out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PixelDestination {
    /// `tiktok`, `meta` or `google_ads`.
    pub name: String,
    /// TikTok: `web` or `crm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    /// Meta: the Graph API version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Meta: the pixel's `action_source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_source: Option<String>,
    /// CRM events: the system the lead stages come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_event_source: Option<String>,
    /// Google Ads: the customer account, 10 digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Google Ads: the conversion action's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion_action: Option<String>,
    /// Google Ads: the manager account acting for the customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_customer_id: Option<String>,
    /// Google Ads: the OAuth token endpoint, when not Google's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Google Ads: the consent of conversions whose lead says nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

impl From<&Destination> for PixelDestination {
    fn from(d: &Destination) -> Self {
        let spec = d.spec();
        Self {
            name: d.name().to_owned(),
            event_source: spec.event_source,
            api_version: spec.api_version,
            action_source: spec.action_source,
            lead_event_source: spec.lead_event_source,
            customer_id: spec.customer_id,
            conversion_action: spec.conversion_action,
            login_customer_id: spec.login_customer_id,
            token_url: spec.token_url,
            consent: spec.consent,
        }
    }
}

impl PixelView {
    /// A stored pixel, with the engine's current state for it when it has one.
    pub fn stored(
        p: &StoredPixel,
        state: Option<PixelState>,
        rotation: Duration,
        now_ms: i64,
    ) -> Self {
        let age = token_age(p, now_ms);
        let paused = match state {
            Some(PixelState::Paused { reason }) => Some(reason),
            Some(PixelState::Active) => None,
            None => p.paused_reason.clone(),
        };
        let (health, health_detail) = match paused {
            Some(reason) => (
                Health::Paused,
                Some(format!(
                    "TikTok rejected the access token ({reason}); its events are held. Replace the token (PUT /v1/pixels/{}/token) to resume.",
                    p.code
                )),
            ),
            None if age >= rotation => (
                Health::RotateSoon,
                Some(format!(
                    "the token is {} days old (rotation age {} days): generate a new one in TikTok Events Manager and replace it",
                    age.as_secs() / 86_400,
                    rotation.as_secs() / 86_400
                )),
            ),
            None => (Health::Ok, None),
        };
        let destination = crate::admin::live::stored_destination(p);
        Self {
            code: p.code.clone(),
            source: "database",
            base_url: p
                .base_url
                .clone()
                .unwrap_or_else(|| destination.default_base_url().to_owned()),
            destination: (&destination).into(),
            test_event_code: p.test_event_code.clone(),
            site_url: p.site_url.clone(),
            default_region: p.default_region.clone(),
            warnings: pixel_warnings(p.site_url.as_deref()),
            token: redacted(&p.token_last4),
            token_set_at: Some(rfc3339(p.token_set_at_ms)),
            token_age_days: Some(age.as_secs() / 86_400),
            health,
            health_detail,
            created_at: Some(rfc3339(p.created_at_ms)),
            updated_at: Some(rfc3339(p.updated_at_ms)),
        }
    }

    /// A pixel that exists only in the running server (the demo pixel), with its `site_url`.
    pub fn demo(s: &PixelSnapshot, site_url: Option<&str>) -> Self {
        let (health, health_detail) = match &s.state {
            PixelState::Paused { reason } => (Health::Paused, Some(reason.clone())),
            PixelState::Active => (Health::Ok, None),
        };
        Self {
            code: s.config.code.clone(),
            source: "demo",
            base_url: s.config.base_url.clone(),
            destination: (&s.config.destination).into(),
            test_event_code: s.config.test_event_code.clone(),
            site_url: site_url.map(str::to_owned),
            default_region: None,
            warnings: pixel_warnings(site_url),
            token: s.config.access_token.redacted(),
            token_set_at: None,
            token_age_days: None,
            health,
            health_detail,
            created_at: None,
            updated_at: None,
        }
    }
}

/// The answer to a token rotation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TokenRotated {
    /// Whether the pixel had been paused and now resumes (its held events are sent).
    pub resumed: bool,
    pub pixel: PixelView,
}

/// A rule as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RuleView {
    pub name: String,
    /// Disabled rules are kept but never fire.
    pub enabled: bool,
    /// Whether the config file last wrote this rule (`signalpost apply`, start, SIGHUP).
    pub from_config_file: bool,
    /// The rule's config: the same document `POST /v1/rules` takes.
    #[schema(value_type = Object)]
    pub config: RuleConfig,
    pub created_at: String,
    pub updated_at: String,
}

impl RuleView {
    /// A stored rule with its parsed config.
    pub fn new(stored: &StoredRule, config: RuleConfig) -> Self {
        Self {
            name: stored.name.clone(),
            enabled: stored.enabled,
            from_config_file: stored.config_digest.is_some(),
            config,
            created_at: rfc3339(stored.created_at_ms),
            updated_at: rfc3339(stored.updated_at_ms),
        }
    }
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// Names the key in a revocation (`DELETE /v1/keys/{id}`).
    pub id: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// `postback`, `ingest` or `admin`.
    #[schema(value_type = String, example = "ingest")]
    pub scope: signalpost_gateway::store::settings::KeyScope,
    pub label: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl KeyView {
    /// The listing of a stored key.
    pub fn new(k: &StoredKey) -> Self {
        Self {
            id: k.id.clone(),
            prefix: k.prefix.clone(),
            scope: k.scope,
            label: k.label.clone(),
            created_at: rfc3339(k.created_at_ms),
            revoked_at: k.revoked_at_ms.map(rfc3339),
        }
    }
}

/// A key just created: the only answer that ever carries the key.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NewKeyView {
    /// The key. Store it now: it is kept only as a digest and cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub listing: KeyView,
}

impl NewKeyView {
    /// The answer for a created key.
    pub fn new(created: &CreatedKey) -> Self {
        Self {
            key: created.key.clone(),
            listing: KeyView::new(&created.stored),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(set_at_ms: i64, paused: Option<&str>) -> StoredPixel {
        StoredPixel {
            code: "P1".into(),
            sealed_token: vec![0; 40],
            token_last4: "wxyz".into(),
            token_set_at_ms: set_at_ms,
            base_url: None,
            test_event_code: None,
            site_url: None,
            default_region: None,
            destination: None,
            paused_reason: paused.map(str::to_owned),
            paused_at_ms: None,
            config_digest: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    const DAY_MS: i64 = 86_400_000;

    #[test]
    fn a_pixel_without_site_url_carries_a_warning_naming_the_field() {
        let rotation = Duration::from_secs(90 * 86_400);
        let bare = PixelView::stored(&stored(0, None), None, rotation, 0);
        assert_eq!(bare.warnings.len(), 1);
        assert_eq!(bare.warnings[0].field, "site_url");
        let json = serde_json::to_value(&bare).unwrap();
        assert!(json.get("site_url").is_none());
        assert_eq!(json["warnings"][0]["field"], "site_url");
        let mut with_site = stored(0, None);
        with_site.site_url = Some("https://shop.example/".into());
        let view = PixelView::stored(&with_site, None, rotation, 0);
        assert!(view.warnings.is_empty());
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["site_url"], "https://shop.example/");
        assert!(json.get("warnings").is_none());
    }

    #[test]
    fn health_is_ok_then_rotate_soon_past_the_rotation_age_and_paused_wins() {
        let rotation = Duration::from_secs(90 * 86_400);
        let now = 1_000 * DAY_MS;
        let fresh = PixelView::stored(&stored(now - 89 * DAY_MS, None), None, rotation, now);
        assert_eq!((fresh.health, fresh.token_age_days), (Health::Ok, Some(89)));
        assert_eq!(fresh.token, "tt_…wxyz");
        assert_eq!(
            fresh.base_url, "https://business-api.tiktok.com",
            "TikTok unless overridden"
        );
        let old = PixelView::stored(&stored(now - 91 * DAY_MS, None), None, rotation, now);
        assert_eq!(old.health, Health::RotateSoon);
        assert!(
            old.health_detail
                .as_deref()
                .unwrap()
                .contains("91 days old")
        );
        // The engine's live state wins over the stored one, and a pause over the age.
        let paused = PixelView::stored(
            &stored(now - 91 * DAY_MS, None),
            Some(PixelState::Paused {
                reason: "40105".into(),
            }),
            rotation,
            now,
        );
        assert_eq!(paused.health, Health::Paused);
        let recovered = PixelView::stored(
            &stored(now, Some("40105")),
            Some(PixelState::Active),
            rotation,
            now,
        );
        assert_eq!(recovered.health, Health::Ok);
        let stored_pause = PixelView::stored(&stored(now, Some("40105")), None, rotation, now);
        assert_eq!(stored_pause.health, Health::Paused);
        let json = serde_json::to_value(&old).unwrap();
        assert_eq!(json["health"], "rotate_soon");
    }
}
