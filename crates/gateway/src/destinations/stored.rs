//! A pixel's destination as operators write it (`[[pixels]]` keys, the admin API's JSON) and as the
//! settings store keeps it: [`DestinationSpec`], every key optional, checked by
//! [`DestinationSpec::resolve`] into a [`Destination`].

use serde::{Deserialize, Serialize};
use signalpost_meta::ActionSource;
use signalpost_tiktok::model::EventSource;

use super::{Destination, NAMES, google_ads, meta, tiktok};

/// Longest `lead_event_source` (a CRM's name).
const MAX_LEAD_EVENT_SOURCE_CHARS: usize = 100;

/// The destination keys of a pixel. Absent keys take their defaults: a TikTok web pixel; a Meta
/// pixel on the current API version with `action_source = "website"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationSpec {
    /// `tiktok` (default) or `meta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// TikTok: `web` (a pixel, default) or `crm` (a CRM event set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    /// Meta: the Graph API version, e.g. `v25.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Meta: where conversions happen unless a rule says otherwise (default `website`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_source: Option<String>,
    /// CRM events (TikTok `crm`, Meta `system_generated`): the system the stages come from
    /// (default `signalpost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_event_source: Option<String>,
    /// Google Ads: the advertiser's account, 10 digits (dashes allowed, dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Google Ads: the conversion action's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_action: Option<String>,
    /// Google Ads: the manager account acting for the customer, when access goes through one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_customer_id: Option<String>,
    /// Google Ads: the OAuth token endpoint (default Google's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Google Ads: `granted` or `denied`, the consent of conversions whose lead says nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

/// A key of [`DestinationSpec`] at fault, and why.
pub type SpecProblem = (&'static str, String);

impl DestinationSpec {
    /// Whether no key is set (a TikTok web pixel).
    pub fn is_empty(&self) -> bool {
        *self == DestinationSpec::default()
    }

    /// The destination these keys describe, or every key at fault.
    pub fn resolve(&self) -> Result<Destination, Vec<SpecProblem>> {
        let mut problems = Vec::new();
        let lead_event_source = match self.lead_event_source.as_deref().map(str::trim) {
            None => None,
            Some(s) if s.is_empty() || s.chars().count() > MAX_LEAD_EVENT_SOURCE_CHARS => {
                problems.push((
                    "lead_event_source",
                    format!("must be 1 to {MAX_LEAD_EVENT_SOURCE_CHARS} characters"),
                ));
                None
            }
            Some(s) => Some(s.to_owned()),
        };
        let only = |key: &'static str, set: bool, kind: &str, problems: &mut Vec<SpecProblem>| {
            if set {
                problems.push((key, format!("applies to {kind} pixels only")));
            }
        };
        let google_ads = self.destination.as_deref().map(str::trim) == Some("google_ads");
        for (key, set) in [
            ("customer_id", self.customer_id.is_some()),
            ("conversion_action", self.conversion_action.is_some()),
            ("login_customer_id", self.login_customer_id.is_some()),
            ("token_url", self.token_url.is_some()),
            ("consent", self.consent.is_some()),
        ] {
            if set && !google_ads {
                problems.push((key, "applies to google_ads pixels only".to_owned()));
            }
        }
        let destination = match self.destination.as_deref().map(str::trim) {
            Some("google_ads") => {
                for (key, set) in [
                    ("event_source", self.event_source.is_some()),
                    ("action_source", self.action_source.is_some()),
                    ("lead_event_source", self.lead_event_source.is_some()),
                ] {
                    if set {
                        problems.push((key, "does not apply to google_ads pixels".to_owned()));
                    }
                }
                Destination::GoogleAds(self.google_ads_settings(&mut problems))
            }
            None | Some("tiktok") => {
                only(
                    "api_version",
                    self.api_version.is_some(),
                    "meta",
                    &mut problems,
                );
                only(
                    "action_source",
                    self.action_source.is_some(),
                    "meta",
                    &mut problems,
                );
                let event_source = match self.event_source.as_deref().map(str::trim) {
                    None | Some("web") => EventSource::Web,
                    Some("crm") => EventSource::Crm,
                    Some(other) => {
                        problems.push((
                            "event_source",
                            format!("expected \"web\" or \"crm\", got {other:?}"),
                        ));
                        EventSource::Web
                    }
                };
                let mut settings = tiktok::PixelSettings {
                    event_source,
                    ..Default::default()
                };
                if let Some(source) = lead_event_source {
                    settings.lead_event_source = source;
                }
                Destination::TikTok(settings)
            }
            Some("meta") => {
                only(
                    "event_source",
                    self.event_source.is_some(),
                    "tiktok",
                    &mut problems,
                );
                let mut settings = meta::PixelSettings::default();
                if let Some(version) = self.api_version.as_deref().map(str::trim) {
                    if meta::is_api_version(version) {
                        settings.api_version = version.to_owned();
                    } else {
                        problems.push((
                            "api_version",
                            format!("expected a Graph API version like \"v25.0\", got {version:?}"),
                        ));
                    }
                }
                if let Some(text) = self.action_source.as_deref().map(str::trim) {
                    match ActionSource::parse(text) {
                        Some(source) => settings.action_source = source,
                        None => {
                            let names: Vec<&str> =
                                ActionSource::ALL.iter().map(|s| s.as_str()).collect();
                            problems.push((
                                "action_source",
                                format!("expected one of {}, got {text:?}", names.join(", ")),
                            ));
                        }
                    }
                }
                if let Some(source) = lead_event_source {
                    settings.lead_event_source = source;
                }
                Destination::Meta(settings)
            }
            Some(other) => {
                problems.push((
                    "destination",
                    format!("expected one of {}, got {other:?}", NAMES.join(", ")),
                ));
                Destination::default()
            }
        };
        if problems.is_empty() {
            Ok(destination)
        } else {
            Err(problems)
        }
    }

    /// A Google Ads pixel's settings from these keys, with every problem noted.
    fn google_ads_settings(&self, problems: &mut Vec<SpecProblem>) -> google_ads::PixelSettings {
        let account = |key: &'static str, value: Option<&str>, problems: &mut Vec<SpecProblem>| {
            let digits: String = value?.trim().chars().filter(|c| *c != '-').collect();
            if signalpost_google_ads::is_customer_id(&digits) {
                Some(digits)
            } else {
                problems.push((key, "expected a 10-digit Google Ads account id".to_owned()));
                None
            }
        };
        let customer_id = account("customer_id", self.customer_id.as_deref(), problems);
        if self.customer_id.is_none() {
            problems.push(("customer_id", "required for google_ads pixels".to_owned()));
        }
        let login_customer_id = account(
            "login_customer_id",
            self.login_customer_id.as_deref(),
            problems,
        );
        let conversion_action = match self.conversion_action.as_deref().map(str::trim) {
            Some(id) if google_ads::is_conversion_action(id) => id.to_owned(),
            Some(_) => {
                problems.push((
                    "conversion_action",
                    "expected the conversion action's numeric id".to_owned(),
                ));
                String::new()
            }
            None => {
                problems.push((
                    "conversion_action",
                    "required for google_ads pixels".to_owned(),
                ));
                String::new()
            }
        };
        let api_version = match self.api_version.as_deref().map(str::trim) {
            None => signalpost_google_ads::DEFAULT_API_VERSION.to_owned(),
            Some(v) if google_ads::is_api_version(v) => v.to_owned(),
            Some(v) => {
                problems.push((
                    "api_version",
                    format!("expected a Google Ads API version like \"v26\", got {v:?}"),
                ));
                String::new()
            }
        };
        let token_url = self.token_url.as_deref().map(str::trim).and_then(|url| {
            match signalpost_destination::http::base_url(url) {
                Ok(_) => Some(url.to_owned()),
                Err(e) => {
                    problems.push(("token_url", e.to_string()));
                    None
                }
            }
        });
        let consent = match self.consent.as_deref().map(str::trim) {
            None => None,
            Some(c) if c.eq_ignore_ascii_case("granted") => {
                Some(signalpost_google_ads::ConsentStatus::Granted)
            }
            Some(c) if c.eq_ignore_ascii_case("denied") => {
                Some(signalpost_google_ads::ConsentStatus::Denied)
            }
            Some(other) => {
                problems.push((
                    "consent",
                    format!("expected \"granted\" or \"denied\", got {other:?}"),
                ));
                None
            }
        };
        google_ads::PixelSettings {
            customer_id: customer_id.unwrap_or_default(),
            conversion_action,
            login_customer_id,
            api_version,
            token_url,
            consent,
        }
    }
}

/// Changes to a stored pixel's destination keys (the admin API's `PATCH`): absent = unchanged,
/// `Some(None)` = back to the default. The destination itself and TikTok's `event_source` name what
/// the pixel code *is* (a TikTok pixel, a CRM event set, a Meta dataset), and its queued
/// conversions are shaped for it: they may be repeated but never changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPatch {
    pub destination: Option<String>,
    pub event_source: Option<String>,
    pub api_version: Option<Option<String>>,
    pub action_source: Option<Option<String>>,
    pub lead_event_source: Option<Option<String>>,
    /// Google Ads: the account and conversion action name what the pixel *is* (its queued
    /// conversions carry the action's resource name): accepted only unchanged.
    pub customer_id: Option<String>,
    pub conversion_action: Option<String>,
    pub login_customer_id: Option<Option<String>>,
    pub token_url: Option<Option<String>>,
    pub consent: Option<Option<String>>,
}

impl DestinationPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == DestinationPatch::default()
    }

    /// `current` with the patch applied, or every key at fault.
    pub fn apply(&self, current: &Destination) -> Result<Destination, Vec<SpecProblem>> {
        let mut problems = Vec::new();
        let mut spec = current.spec();
        if let Some(name) = self.destination.as_deref().map(str::trim)
            && name != current.name()
        {
            problems.push((
                "destination",
                format!(
                    "a {} pixel cannot become {name:?}: its queued conversions are shaped for {}; add a new pixel instead",
                    current.name(),
                    current.label()
                ),
            ));
        }
        if let Some(source) = self.event_source.as_deref().map(str::trim)
            && spec
                .event_source
                .as_deref()
                .is_some_and(|now| now != source)
        {
            problems.push((
                "event_source",
                "cannot change: a web pixel and a CRM event set are different TikTok ids; add a new pixel instead".to_owned(),
            ));
        }
        for (key, asked, now) in [
            ("customer_id", &self.customer_id, &spec.customer_id),
            (
                "conversion_action",
                &self.conversion_action,
                &spec.conversion_action,
            ),
        ] {
            if let Some(asked) = asked.as_deref().map(str::trim) {
                let digits: String = asked.chars().filter(|c| *c != '-').collect();
                if now.as_deref() != Some(digits.as_str()) {
                    problems.push((
                        key,
                        "cannot change: the pixel's queued conversions name it; add a new pixel instead".to_owned(),
                    ));
                }
            }
        }
        if let Some(v) = &self.login_customer_id {
            spec.login_customer_id = v.clone();
        }
        if let Some(v) = &self.token_url {
            spec.token_url = v.clone();
        }
        if let Some(v) = &self.consent {
            spec.consent = v.clone();
        }
        if let Some(v) = &self.api_version {
            spec.api_version = v.clone();
        }
        if let Some(v) = &self.action_source {
            spec.action_source = v.clone();
        }
        if let Some(v) = &self.lead_event_source {
            spec.lead_event_source = v.clone();
        }
        match spec.resolve() {
            Ok(destination) if problems.is_empty() => Ok(destination),
            Ok(_) => Err(problems),
            Err(more) => {
                problems.extend(more);
                Err(problems)
            }
        }
    }
}

impl Destination {
    /// Every key of the destination, defaults written out (what the API shows).
    pub fn spec(&self) -> DestinationSpec {
        match self {
            Destination::TikTok(s) => DestinationSpec {
                destination: Some("tiktok".into()),
                event_source: Some(s.event_source.as_str().into()),
                lead_event_source: (s.event_source == EventSource::Crm)
                    .then(|| s.lead_event_source.clone()),
                ..Default::default()
            },
            Destination::Meta(s) => DestinationSpec {
                destination: Some("meta".into()),
                api_version: Some(s.api_version.clone()),
                action_source: Some(s.action_source.as_str().into()),
                lead_event_source: Some(s.lead_event_source.clone()),
                ..Default::default()
            },
            Destination::GoogleAds(s) => DestinationSpec {
                destination: Some("google_ads".into()),
                api_version: Some(s.api_version.clone()),
                customer_id: Some(s.customer_id.clone()),
                conversion_action: Some(s.conversion_action.clone()),
                login_customer_id: s.login_customer_id.clone(),
                token_url: s.token_url.clone(),
                consent: s.consent.map(|c| match c {
                    signalpost_google_ads::ConsentStatus::Granted => "granted".to_owned(),
                    signalpost_google_ads::ConsentStatus::Denied => "denied".to_owned(),
                }),
                ..Default::default()
            },
        }
    }

    /// The settings store's JSON; `None` for a TikTok web pixel with default settings.
    pub fn to_stored(&self) -> Option<String> {
        if *self == Destination::default() {
            return None;
        }
        serde_json::to_string(&self.spec()).ok()
    }

    /// Reads the settings store's JSON back.
    pub fn from_stored(text: Option<&str>) -> Result<Destination, String> {
        let Some(text) = text else {
            return Ok(Destination::default());
        };
        let spec: DestinationSpec =
            serde_json::from_str(text).map_err(|e| format!("stored destination: {e}"))?;
        spec.resolve().map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(|(k, p)| format!("{k}: {p}")).collect();
            format!("stored destination: {}", lines.join("; "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> DestinationSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn no_keys_is_a_tiktok_web_pixel_and_stores_as_nothing() {
        let d = DestinationSpec::default().resolve().unwrap();
        assert_eq!(d, Destination::default());
        assert_eq!(d.to_stored(), None);
        assert_eq!(Destination::from_stored(None).unwrap(), d);
    }

    #[test]
    fn meta_and_crm_pixels_round_trip_through_the_store() {
        for json in [
            r#"{"destination":"meta"}"#,
            r#"{"destination":"meta","api_version":"v26.0","action_source":"system_generated","lead_event_source":"Acme CRM"}"#,
            r#"{"event_source":"crm","lead_event_source":"HubSpot"}"#,
        ] {
            let d = spec(json).resolve().unwrap();
            let stored = d.to_stored().expect("stored");
            assert_eq!(
                Destination::from_stored(Some(&stored)).unwrap(),
                d,
                "{json}"
            );
        }
        let Destination::Meta(m) = spec(r#"{"destination":"meta"}"#).resolve().unwrap() else {
            panic!("meta")
        };
        assert_eq!(m.api_version, signalpost_meta::DEFAULT_API_VERSION);
        assert_eq!(m.action_source, ActionSource::Website);
    }

    #[test]
    fn a_google_ads_target_round_trips_through_the_store_and_names_each_wrong_key() {
        let d = spec(r#"{"destination":"google_ads","customer_id":"123-456-7890","conversion_action":"555","login_customer_id":"9876543210","consent":"denied"}"#)
            .resolve()
            .unwrap();
        let Destination::GoogleAds(g) = &d else {
            panic!("google ads")
        };
        assert_eq!(g.customer_id, "1234567890");
        assert_eq!(g.api_version, signalpost_google_ads::DEFAULT_API_VERSION);
        let stored = d.to_stored().unwrap();
        assert_eq!(Destination::from_stored(Some(&stored)).unwrap(), d);
        for (json, key) in [
            (
                r#"{"destination":"google_ads","conversion_action":"5"}"#,
                "customer_id",
            ),
            (
                r#"{"destination":"google_ads","customer_id":"1234567890"}"#,
                "conversion_action",
            ),
            (
                r#"{"destination":"google_ads","customer_id":"1234567890","conversion_action":"x"}"#,
                "conversion_action",
            ),
            (
                r#"{"destination":"google_ads","customer_id":"1234567890","conversion_action":"5","api_version":"v26.0"}"#,
                "api_version",
            ),
            (
                r#"{"destination":"google_ads","customer_id":"1234567890","conversion_action":"5","consent":"yes"}"#,
                "consent",
            ),
            (r#"{"customer_id":"1234567890"}"#, "customer_id"),
        ] {
            let problems = spec(json).resolve().unwrap_err();
            assert_eq!(problems[0].0, key, "{json}: {problems:?}");
        }
    }

    #[test]
    fn each_wrong_key_is_named() {
        for (json, key) in [
            (r#"{"destination":"snap"}"#, "destination"),
            (r#"{"api_version":"v25.0"}"#, "api_version"),
            (
                r#"{"destination":"meta","api_version":"25"}"#,
                "api_version",
            ),
            (
                r#"{"destination":"meta","action_source":"web"}"#,
                "action_source",
            ),
            (
                r#"{"destination":"meta","event_source":"crm"}"#,
                "event_source",
            ),
            (r#"{"event_source":"app"}"#, "event_source"),
            (
                r#"{"event_source":"crm","lead_event_source":" "}"#,
                "lead_event_source",
            ),
        ] {
            let problems = spec(json).resolve().unwrap_err();
            assert_eq!(problems[0].0, key, "{json}: {problems:?}");
        }
    }

    #[test]
    fn a_patch_changes_settings_but_never_what_the_pixel_is() {
        let meta = spec(r#"{"destination":"meta","action_source":"system_generated"}"#)
            .resolve()
            .unwrap();
        let upgraded = DestinationPatch {
            api_version: Some(Some("v26.0".into())),
            action_source: Some(None),
            destination: Some("meta".into()),
            ..Default::default()
        }
        .apply(&meta)
        .unwrap();
        let Destination::Meta(m) = &upgraded else {
            panic!("still meta")
        };
        assert_eq!(m.api_version, "v26.0");
        assert_eq!(
            m.action_source,
            ActionSource::Website,
            "null is the default"
        );

        let to_tiktok = DestinationPatch {
            destination: Some("tiktok".into()),
            ..Default::default()
        };
        assert_eq!(to_tiktok.apply(&meta).unwrap_err()[0].0, "destination");
        let web = Destination::default();
        let to_crm = DestinationPatch {
            event_source: Some("crm".into()),
            ..Default::default()
        };
        assert_eq!(to_crm.apply(&web).unwrap_err()[0].0, "event_source");
        let meta_key_on_tiktok = DestinationPatch {
            api_version: Some(Some("v26.0".into())),
            ..Default::default()
        };
        assert_eq!(
            meta_key_on_tiktok.apply(&web).unwrap_err()[0].0,
            "api_version"
        );
        assert_eq!(DestinationPatch::default().apply(&meta).unwrap(), meta);
    }
}
