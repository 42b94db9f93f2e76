//! Rules for one event of `data[]` (Events API 2.0), plus the event-name and event-time checks the
//! legacy API shares. Field order follows TikTok's parameter table, so the first error reported is
//! the one TikTok would report first. [`validate_event_payload`] is the public entry for one event
//! on its own (the gateway's ingest check).

use serde_json::Value;

use crate::event_name::{self, EventKind};
use crate::model::EventSource;

use super::properties::{Api, validate_properties};
use super::user::validate_user;
use super::{
    Invalid, Object, Path, Reason, Rules, as_integer, as_object, as_str, opt_bool, opt_number,
    opt_object, opt_str, req_object, req_str, required,
};

/// Above this an `event_time` is taken for milliseconds: 1e10 seconds is the year 2286.
pub(crate) const MILLISECONDS_THRESHOLD: i64 = 10_000_000_000;

/// What the store needs from a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary<'v> {
    pub event: &'v str,
    pub event_id: Option<&'v str>,
    pub event_time: i64,
}

/// Validates one `data[]` item of an `event_source` request.
pub(crate) fn validate_event<'v>(
    value: &'v serde_json::Value,
    path: &Path,
    source: EventSource,
    rules: &Rules,
) -> Result<Summary<'v>, Invalid> {
    let obj = as_object(value, path)?;

    let name_path = path.key("event");
    let event = as_str(required(obj, "event", path)?, &name_path)?;
    check_event_name(event, source, rules, &name_path)?;

    let time_path = path.key("event_time");
    let event_time = as_integer(required(obj, "event_time", path)?, &time_path)?;
    check_event_time(event_time, rules, &time_path)?;

    let event_id = opt_str(obj, "event_id", path)?;

    if let Some(user) = opt_object(obj, "user", path)? {
        validate_user(user, &path.key("user"), rules)?;
    }
    if let Some(props) = opt_object(obj, "properties", path)? {
        validate_properties(props, &path.key("properties"), Api::V2)?;
    }
    page(obj, path, source, rules)?;
    app(obj, path, source)?;
    lead(obj, path, source)?;
    ad(obj, path)?;
    opt_bool(obj, "limited_data_use", path)?;

    Ok(Summary {
        event,
        event_id,
        event_time,
    })
}

/// Validates ONE `data[]` event of an Events API 2.0 request from `source`, under `rules`, exactly
/// as the sandbox validates each event of a whole request. The gateway calls it on every conversion
/// it plans, so one TikTok would refuse is reported at ingest instead of going dead at delivery.
///
/// The path of the refusal is relative to the event (`page.url`, `user.email`), without the
/// `data.N.` prefix a request would add. One difference from the whole-request check: a strict web
/// event with no `page` object at all is reported as `page.url` (missing), because the object only
/// exists to carry that URL and the URL is what the caller has to supply.
pub fn validate_event_payload(
    event: &Value,
    source: EventSource,
    rules: &Rules,
) -> Result<(), Invalid> {
    validate_event(event, &Path::Root, source, rules)
        .map(|_| ())
        .map_err(|invalid| match invalid {
            Invalid {
                path,
                reason: Reason::Missing,
            } if path == "page" => Invalid {
                path: "page.url".to_owned(),
                reason: Reason::Missing,
            },
            other => other,
        })
}

/// Standard, legacy or custom per TikTok's rules, then the per-source restriction: offline takes
/// standard events only; CRM takes custom events only (TikTok's reference text), except in lenient
/// mode, because the reference's own CRM example sends `AddToCart`.
pub(crate) fn check_event_name(
    name: &str,
    source: EventSource,
    rules: &Rules,
    path: &Path,
) -> Result<(), Invalid> {
    let kind = event_name::classify(name).map_err(|err| path.other(err.to_string()))?;
    match (source, kind) {
        (EventSource::Offline, EventKind::Custom) => Err(path.other(format!(
            "custom event {name:?} is not supported for offline events; send a standard event"
        ))),
        (EventSource::Crm, EventKind::Standard | EventKind::Legacy) if rules.strict => {
            Err(path.other(format!(
                "standard event {name:?} is not supported for crm events; crm events must be custom events"
            )))
        }
        _ => Ok(()),
    }
}

/// Unix seconds, not milliseconds, inside the configured window around `rules.now`.
pub(crate) fn check_event_time(time: i64, rules: &Rules, path: &Path) -> Result<(), Invalid> {
    if time > MILLISECONDS_THRESHOLD {
        return Err(path.other(format!(
            "{time} looks like milliseconds; send Unix time in seconds"
        )));
    }
    if time < rules.now.saturating_sub(rules.max_past) {
        return Err(path.other(format!(
            "{time} is more than {} in the past",
            super::human_duration(rules.max_past)
        )));
    }
    if time > rules.now.saturating_add(rules.max_future) {
        return Err(path.other(format!(
            "{time} is more than {} in the future",
            super::human_duration(rules.max_future)
        )));
    }
    Ok(())
}

/// `page`: required with `url` for web events in strict mode. TikTok's table marks it required, but
/// its own web example leaves it out, so lenient mode only type-checks it.
fn page(obj: &Object, path: &Path, source: EventSource, rules: &Rules) -> Result<(), Invalid> {
    let must = source == EventSource::Web && rules.strict;
    let page = if must {
        Some(req_object(obj, "page", path)?)
    } else {
        opt_object(obj, "page", path)?
    };
    let Some(page) = page else {
        return Ok(());
    };
    let here = path.key("page");
    if must {
        req_str(page, "url", &here)?;
    } else {
        opt_str(page, "url", &here)?;
    }
    opt_str(page, "referrer", &here)?;
    Ok(())
}

/// `app`: required with `app_id` for app events.
fn app(obj: &Object, path: &Path, source: EventSource) -> Result<(), Invalid> {
    let app = if source == EventSource::App {
        Some(req_object(obj, "app", path)?)
    } else {
        opt_object(obj, "app", path)?
    };
    let Some(app) = app else {
        return Ok(());
    };
    let here = path.key("app");
    if source == EventSource::App {
        req_str(app, "app_id", &here)?;
    } else {
        opt_str(app, "app_id", &here)?;
    }
    opt_str(app, "app_name", &here)?;
    opt_str(app, "app_version", &here)?;
    Ok(())
}

/// `lead`: required with `lead_id` for CRM events.
fn lead(obj: &Object, path: &Path, source: EventSource) -> Result<(), Invalid> {
    let lead = if source == EventSource::Crm {
        Some(req_object(obj, "lead", path)?)
    } else {
        opt_object(obj, "lead", path)?
    };
    let Some(lead) = lead else {
        return Ok(());
    };
    let here = path.key("lead");
    if source == EventSource::Crm {
        req_str(lead, "lead_id", &here)?;
    } else {
        opt_str(lead, "lead_id", &here)?;
    }
    opt_str(lead, "lead_event_source", &here)?;
    Ok(())
}

/// `ad`: attribution details (strings, two booleans, a share between 0 and 1).
fn ad(obj: &Object, path: &Path) -> Result<(), Invalid> {
    let Some(ad) = opt_object(obj, "ad", path)? else {
        return Ok(());
    };
    let here = path.key("ad");
    for key in [
        "callback",
        "campaign_id",
        "ad_id",
        "creative_id",
        "attribution_type",
        "attribution_provider",
    ] {
        opt_str(ad, key, &here)?;
    }
    opt_bool(ad, "is_retargeting", &here)?;
    opt_bool(ad, "attributed", &here)?;
    if let Some(share) = opt_number(ad, "attribution_share", &here)?
        && !(0.0..=1.0).contains(&share)
    {
        return Err(here
            .key("attribution_share")
            .other("must be between 0 and 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const NOW: i64 = 1_700_000_000;

    fn rules(strict: bool) -> Rules {
        Rules {
            strict,
            now: NOW,
            max_past: 7 * 86_400,
            max_future: 300,
        }
    }

    fn web_event() -> Value {
        json!({"event":"Purchase","event_time":NOW - 60,"event_id":"12345",
               "page":{"url":"https://shop.example/checkout"}})
    }

    fn check(event: &Value, source: EventSource, strict: bool) -> Result<(), Invalid> {
        let root = Path::Root;
        let data = root.key("data");
        validate_event(event, &data.index(0), source, &rules(strict)).map(|_| ())
    }

    fn with(mut event: Value, key: &str, value: Value) -> Value {
        event[key] = value;
        event
    }

    fn payload_rules() -> Rules {
        Rules {
            strict: true,
            now: 1_700_000_000,
            max_past: 7 * 86_400,
            max_future: 300,
        }
    }

    #[test]
    fn one_event_payload_is_refused_with_a_path_relative_to_the_event() {
        let ok = json!({"event":"Lead","event_time":1_700_000_000,"event_id":"t1",
                        "page":{"url":"https://a.example/"}});
        assert_eq!(
            validate_event_payload(&ok, EventSource::Web, &payload_rules()),
            Ok(())
        );
        let no_page = json!({"event":"Lead","event_time":1_700_000_000,"event_id":"t1"});
        let err = validate_event_payload(&no_page, EventSource::Web, &payload_rules()).unwrap_err();
        assert_eq!(err.path, "page.url");
        assert_eq!(err.reason.to_string(), "missing data for required field");
        let no_url = json!({"event":"Lead","event_time":1_700_000_000,
                            "page":{"referrer":"https://r.example/"}});
        let err = validate_event_payload(&no_url, EventSource::Web, &payload_rules()).unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.reason),
            ("page.url", Reason::Missing)
        );
        let raw_email = json!({"event":"Lead","event_time":1_700_000_000,
                               "user":{"email":"a@b.example"},"page":{"url":"https://a.example/"}});
        let err =
            validate_event_payload(&raw_email, EventSource::Web, &payload_rules()).unwrap_err();
        assert_eq!(err.path, "user.email");
    }

    #[test]
    fn lenient_rules_accept_a_web_event_without_a_page() {
        let no_page = json!({"event":"Lead","event_time":1_700_000_000});
        let lenient = Rules {
            strict: false,
            ..payload_rules()
        };
        assert_eq!(
            validate_event_payload(&no_page, EventSource::Web, &lenient),
            Ok(())
        );
    }

    #[test]
    fn accepts_a_minimal_web_event_and_summarizes_it() {
        let event = web_event();
        let root = Path::Root;
        let summary = validate_event(&event, &root, EventSource::Web, &rules(true)).unwrap();
        assert_eq!(
            summary,
            Summary {
                event: "Purchase",
                event_id: Some("12345"),
                event_time: NOW - 60
            }
        );
    }

    #[test]
    fn event_time_must_be_integer_seconds_inside_the_window() {
        let cases = [
            (json!("1699999940"), "not a valid integer"),
            (json!(1_699_999_940.5), "not a valid integer"),
            (json!(1_699_999_940_000_i64), "looks like milliseconds"),
            (json!(NOW - 8 * 86_400), "more than 7 days in the past"),
            (json!(NOW + 3_600), "more than 5 minutes in the future"),
        ];
        for (time, needle) in cases {
            let err = check(
                &with(web_event(), "event_time", time.clone()),
                EventSource::Web,
                true,
            )
            .unwrap_err();
            assert_eq!(err.path, "data.0.event_time");
            assert!(
                err.v2_message().contains(needle),
                "{time}: {}",
                err.v2_message()
            );
        }
        check(
            &with(web_event(), "event_time", json!(NOW + 300)),
            EventSource::Web,
            true,
        )
        .unwrap();
    }

    #[test]
    fn event_id_must_be_a_string() {
        let err = check(
            &with(web_event(), "event_id", json!(12345)),
            EventSource::Web,
            true,
        )
        .unwrap_err();
        assert_eq!(
            err.v2_message(),
            "Invalid value for data.0.event_id: not a valid string."
        );
    }

    #[test]
    fn event_name_rules_depend_on_the_source() {
        let custom = with(web_event(), "event", json!("lead_sold"));
        check(&custom, EventSource::Web, true).unwrap();
        let err = check(&custom, EventSource::Offline, true).unwrap_err();
        assert!(err.v2_message().contains("offline"), "{}", err.v2_message());

        let crm_standard = json!({"event":"AddToCart","event_time":NOW,"lead":{"lead_id":"7"}});
        let err = check(&crm_standard, EventSource::Crm, true).unwrap_err();
        assert!(err.v2_message().contains("custom"), "{}", err.v2_message());
        check(&crm_standard, EventSource::Crm, false).unwrap();

        for bad in ["Registration", "1st", "lead sold", ""] {
            let err = check(
                &with(web_event(), "event", json!(bad)),
                EventSource::Web,
                true,
            )
            .unwrap_err();
            assert_eq!(err.path, "data.0.event", "{bad}");
        }
    }

    #[test]
    fn web_page_url_is_required_only_in_strict_mode() {
        let mut event = web_event();
        event.as_object_mut().unwrap().remove("page");
        let err = check(&event, EventSource::Web, true).unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.reason),
            ("data.0.page", Reason::Missing)
        );
        check(&event, EventSource::Web, false).unwrap();

        let no_url = with(web_event(), "page", json!({"referrer":"https://a.example"}));
        let err = check(&no_url, EventSource::Web, true).unwrap_err();
        assert_eq!(err.path, "data.0.page.url");
        let bad_url = with(web_event(), "page", json!({"url": 5}));
        assert!(check(&bad_url, EventSource::Web, false).is_err());
    }

    #[test]
    fn crm_needs_lead_id_and_app_needs_app_id() {
        let crm = json!({"event":"lead_qualified","event_time":NOW});
        let err = check(&crm, EventSource::Crm, true).unwrap_err();
        assert_eq!(err.path, "data.0.lead");
        let crm = with(crm, "lead", json!({"lead_id": 7}));
        assert_eq!(
            check(&crm, EventSource::Crm, true).unwrap_err().path,
            "data.0.lead.lead_id"
        );

        let app = json!({"event":"Purchase","event_time":NOW,"app":{}});
        let err = check(&app, EventSource::App, true).unwrap_err();
        assert_eq!(err.path, "data.0.app.app_id");
        check(
            &with(app, "app", json!({"app_id":"123"})),
            EventSource::App,
            true,
        )
        .unwrap();
    }

    #[test]
    fn limited_data_use_and_ad_fields_are_typed() {
        let err = check(
            &with(web_event(), "limited_data_use", json!("false")),
            EventSource::Web,
            true,
        )
        .unwrap_err();
        assert_eq!(err.reason, Reason::NotBoolean);
        let err = check(
            &with(web_event(), "ad", json!({"attribution_share": 2})),
            EventSource::Web,
            true,
        )
        .unwrap_err();
        assert_eq!(err.path, "data.0.ad.attribution_share");
    }

    #[test]
    fn unknown_event_keys_are_ignored() {
        check(
            &with(web_event(), "device", json!({"platform":"x"})),
            EventSource::Web,
            true,
        )
        .unwrap();
        check(
            &with(web_event(), "whatever", json!([1])),
            EventSource::Web,
            true,
        )
        .unwrap();
    }
}
