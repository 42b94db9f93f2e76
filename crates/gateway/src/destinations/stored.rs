//! A pixel's destination as operators write it (`[[pixels]]` keys, the admin API's JSON) and as the
//! settings store keeps it: [`DestinationSpec`], every key optional, checked by
//! [`DestinationSpec::resolve`] into a [`Destination`].

use serde::{Deserialize, Serialize};
use signalpost_meta::ActionSource;
use signalpost_tiktok::model::EventSource;

use super::{Destination, NAMES, meta, tiktok};

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
        let destination = match self.destination.as_deref().map(str::trim) {
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
}
