//! The click ids, Meta cookies and CRM lead ids of a lead body, validated at the edge. Three
//! treatments, by where a value comes from:
//! - URL click ids (`ttclid`, `fbclid`, `gclid`, `gbraid`, `wbraid`): given, or read from the landing
//!   URL's query (even when the URL itself is unusable as `page.url`); a given one that is too long
//!   or holds control characters is a 422, like any text field. Never case-folded.
//! - Browser cookies (`ttp`; `fbc` and `fbp`, whose shape Meta checks): a malformed one is dropped
//!   with a warning naming the field, like a malformed email, because browsers and tag managers
//!   mangle cookies and the lead must still convert (a 422 under `strict_identifiers`).
//! - CRM lead ids (`meta_lead_id`, `tiktok_lead_id`): anything but the platform's shape is a 422 at
//!   that field, always: they come from the operator's own integration, so a wrong one is a bug to
//!   fix, and silently dropping it would lose every CRM stage of the lead.

use signalpost_gateway::click_id::{self, MAX_CLICK_ID_LEN, UrlClickId, UrlClickIds};

use crate::wire::problem::FieldError;

use super::opt_text;

/// The ids as the request sent them.
#[derive(Debug, Default)]
pub struct RawClickIds {
    pub ttclid: Option<String>,
    pub ttp: Option<String>,
    pub fbclid: Option<String>,
    pub fbc: Option<String>,
    pub fbp: Option<String>,
    pub gclid: Option<String>,
    pub gbraid: Option<String>,
    pub wbraid: Option<String>,
    pub meta_lead_id: Option<String>,
    pub tiktok_lead_id: Option<String>,
}

/// The ids a lead keeps: trimmed, shapes checked, URL click ids filled from the landing URL.
#[derive(Debug, Default, PartialEq)]
pub struct ClickIds {
    pub ttclid: Option<String>,
    pub ttp: Option<String>,
    pub fbclid: Option<String>,
    pub fbc: Option<String>,
    pub fbp: Option<String>,
    pub gclid: Option<String>,
    pub gbraid: Option<String>,
    pub wbraid: Option<String>,
    pub meta_lead_id: Option<String>,
    pub tiktok_lead_id: Option<String>,
}

/// How an unusable cookie is reported: a warning, or (strict) an error; the caller decides.
pub type Soft<'a> = dyn FnMut(&str, String, &mut Vec<FieldError>) + 'a;

impl RawClickIds {
    /// Validates every id; `raw_landing` is the landing URL as sent (trimmed), read for URL click ids
    /// that were not given.
    pub fn validate(
        self,
        raw_landing: Option<&str>,
        soft: &mut Soft<'_>,
        errors: &mut Vec<FieldError>,
    ) -> ClickIds {
        // The landing URL is read once, and only when some id was not given.
        let mut url_ids: Option<UrlClickIds> = None;
        let mut url_id = |given: Option<String>, id: UrlClickId, errors: &mut Vec<FieldError>| {
            opt_text(given, id.param(), MAX_CLICK_ID_LEN, errors).or_else(|| {
                url_ids
                    .get_or_insert_with(|| UrlClickIds::read(raw_landing))
                    .take(id)
            })
        };
        let ttclid = url_id(self.ttclid, UrlClickId::Ttclid, errors);
        let fbclid = url_id(self.fbclid, UrlClickId::Fbclid, errors);
        let gclid = url_id(self.gclid, UrlClickId::Gclid, errors);
        let gbraid = url_id(self.gbraid, UrlClickId::Gbraid, errors);
        let wbraid = url_id(self.wbraid, UrlClickId::Wbraid, errors);
        let ttp = opt_text(self.ttp, "ttp", MAX_CLICK_ID_LEN, errors);
        let fbc = cookie(self.fbc, "fbc", click_id::check_fbc, soft, errors);
        let fbp = cookie(self.fbp, "fbp", click_id::check_fbp, soft, errors);
        let meta_lead_id = lead_id(
            self.meta_lead_id,
            "meta_lead_id",
            click_id::check_meta_lead_id,
            errors,
        );
        let tiktok_lead_id = lead_id(
            self.tiktok_lead_id,
            "tiktok_lead_id",
            click_id::check_tiktok_lead_id,
            errors,
        );
        ClickIds {
            ttclid,
            ttp,
            fbclid,
            fbc,
            fbp,
            gclid,
            gbraid,
            wbraid,
            meta_lead_id,
            tiktok_lead_id,
        }
    }
}

/// A Meta cookie: trimmed, blank is absent; too long, control characters or the wrong shape drops it
/// through `soft`.
fn cookie(
    value: Option<String>,
    field: &str,
    check: fn(&str) -> Result<(), String>,
    soft: &mut Soft<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = value?;
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let verdict = if v.chars().count() > MAX_CLICK_ID_LEN {
        Err(format!(
            "{field} is longer than {MAX_CLICK_ID_LEN} characters"
        ))
    } else {
        check(v)
    };
    match verdict {
        Ok(()) => Some(v.to_owned()),
        Err(problem) => {
            soft(field, problem, errors);
            None
        }
    }
}

/// A CRM lead id: trimmed, blank is absent, any other shape a 422 at `field`.
fn lead_id(
    value: Option<String>,
    field: &str,
    check: fn(&str) -> Result<(), String>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = value?;
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    match check(v) {
        Ok(()) => Some(v.to_owned()),
        Err(problem) => {
            errors.push(FieldError::new(field, problem));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: RawClickIds, landing: Option<&str>) -> (ClickIds, Vec<String>, Vec<FieldError>) {
        let mut warned = Vec::new();
        let mut errors = Vec::new();
        let ids = raw.validate(
            landing,
            &mut |field, problem, _| warned.push(format!("{field}: {problem}")),
            &mut errors,
        );
        (ids, warned, errors)
    }

    #[test]
    fn url_click_ids_come_from_the_landing_url_unless_given_and_keep_their_case() {
        let landing =
            "https://lp.example.com/?ttclid=E.C.P.AbC&fbclid=IwAR1xYz&gclid=Cj0-Q&wbraid=W";
        let (ids, warned, errors) = run(
            RawClickIds {
                gclid: Some(" given ".into()),
                ..RawClickIds::default()
            },
            Some(landing),
        );
        assert!(warned.is_empty() && errors.is_empty());
        assert_eq!(ids.ttclid.as_deref(), Some("E.C.P.AbC"));
        assert_eq!(ids.fbclid.as_deref(), Some("IwAR1xYz"));
        assert_eq!(
            ids.gclid.as_deref(),
            Some("given"),
            "explicit wins, trimmed"
        );
        assert_eq!(ids.gbraid, None);
        assert_eq!(ids.wbraid.as_deref(), Some("W"));
    }

    #[test]
    fn malformed_meta_cookies_are_dropped_with_a_warning_naming_them() {
        let (ids, warned, errors) = run(
            RawClickIds {
                fbc: Some("IwAR1xYz".into()),
                fbp: Some("fb.1.17000.42".into()),
                ttp: Some("ttp-ok".into()),
                ..RawClickIds::default()
            },
            None,
        );
        assert!(errors.is_empty());
        assert_eq!((ids.fbc, ids.fbp), (None, None));
        assert_eq!(ids.ttp.as_deref(), Some("ttp-ok"));
        assert_eq!(warned.len(), 2, "{warned:?}");
        assert!(
            warned[0].starts_with("fbc: not a Meta cookie value"),
            "{warned:?}"
        );
        assert!(warned[1].starts_with("fbp: "), "{warned:?}");

        let (ids, warned, _) = run(
            RawClickIds {
                fbc: Some(" fb.1.1700000000000.IwAR1xYz ".into()),
                fbp: Some("fb.1.1700000000000.1116446470".into()),
                ..RawClickIds::default()
            },
            None,
        );
        assert!(warned.is_empty());
        assert_eq!(ids.fbc.as_deref(), Some("fb.1.1700000000000.IwAR1xYz"));
        assert_eq!(ids.fbp.as_deref(), Some("fb.1.1700000000000.1116446470"));
    }

    #[test]
    fn a_malformed_lead_id_is_an_error_at_its_field_never_a_warning() {
        let (ids, warned, errors) = run(
            RawClickIds {
                meta_lead_id: Some("12345".into()),
                tiktok_lead_id: Some("abc".into()),
                ..RawClickIds::default()
            },
            None,
        );
        assert!(warned.is_empty());
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["meta_lead_id", "tiktok_lead_id"]);
        assert_eq!((ids.meta_lead_id, ids.tiktok_lead_id), (None, None));
        let (ids, _, errors) = run(
            RawClickIds {
                meta_lead_id: Some(" 123456789012345 ".into()),
                tiktok_lead_id: Some("".into()),
                ..RawClickIds::default()
            },
            None,
        );
        assert!(errors.is_empty());
        assert_eq!(ids.meta_lead_id.as_deref(), Some("123456789012345"));
        assert_eq!(ids.tiktok_lead_id, None, "blank is absent");
    }
}
