//! Finds a click id (`ttclid`, `fbclid`, `gclid`, `gbraid`, `wbraid`) in a landing URL's query, so a
//! lead whose form did not send it explicitly still attributes. Works on any string: absolute URLs,
//! URLs without a scheme, bare paths, percent-encoded values, and SPA fragments (`#/page?fbclid=...`).
//! The parameter's name is matched in any case; its value is returned exactly as sent (decoded and
//! trimmed, never case-folded: Meta's fbclid is case-sensitive). Never panics.

use url::form_urlencoded;

use super::{MAX_CLICK_ID_LEN, UrlClickId};

/// The first usable `id` parameter of `landing_url`, decoded and trimmed: not empty, at most
/// [`MAX_CLICK_ID_LEN`] characters, no control characters.
///
/// The query proper is searched first; a query inside the fragment is the fallback, because some
/// single-page apps route with `#/path?params`.
pub fn from_landing_url(landing_url: &str, id: UrlClickId) -> Option<String> {
    let name = id.param();
    let (before_fragment, fragment) = match landing_url.split_once('#') {
        Some((head, frag)) => (head, Some(frag)),
        None => (landing_url, None),
    };
    let query = before_fragment.split_once('?').map(|(_, q)| q);
    query.and_then(|q| find_in_query(q, name)).or_else(|| {
        fragment
            .and_then(|f| f.split_once('?'))
            .and_then(|(_, q)| find_in_query(q, name))
    })
}

/// Every click id of one landing URL, read in one pass over its query (and one over the fragment's
/// query for the ids the query lacks): what [`from_landing_url`] finds for each id, without
/// decoding the query once per id. Ingest reads a lead's URL with it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UrlClickIds([Option<String>; 5]);

impl UrlClickIds {
    /// The ids of `landing_url` (none when there is no URL).
    pub fn read(landing_url: Option<&str>) -> UrlClickIds {
        let mut found = UrlClickIds::default();
        let Some(url) = landing_url else {
            return found;
        };
        let (before_fragment, fragment) = match url.split_once('#') {
            Some((head, frag)) => (head, Some(frag)),
            None => (url, None),
        };
        if let Some((_, query)) = before_fragment.split_once('?') {
            found.fill_from(query);
        }
        if found.0.iter().any(Option::is_none)
            && let Some((_, query)) = fragment.and_then(|f| f.split_once('?'))
        {
            found.fill_from(query);
        }
        found
    }

    /// Takes the id out (each id is handed over once).
    pub fn take(&mut self, id: UrlClickId) -> Option<String> {
        self.0[id.index()].take()
    }

    /// Fills each id still missing with the first usable value `query` has for it.
    fn fill_from(&mut self, query: &str) {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            for id in UrlClickId::ALL {
                let slot = &mut self.0[id.index()];
                if slot.is_none() && key.eq_ignore_ascii_case(id.param()) {
                    let value = value.trim();
                    if usable(value) {
                        *slot = Some(value.to_owned());
                    }
                }
            }
        }
    }
}

fn find_in_query(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim().to_owned())
        .find(|value| usable(value))
}

/// A value a lead may keep: not empty, at most [`MAX_CLICK_ID_LEN`] characters, no control
/// characters (the bounds the lead API puts on an id sent explicitly).
fn usable(value: &str) -> bool {
    !value.is_empty()
        && value.chars().count() <= MAX_CLICK_ID_LEN
        && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_pass_finds_what_each_single_lookup_finds() {
        for url in [
            "https://lp.example.com/?ttclid=a&FBCLID=IwAR1&gclid=&gclid=g2&x=1",
            "https://lp.example.com/?ttclid=a#/spa?fbclid=frag&ttclid=ignored",
            "https://lp.example.com/#/spa?wbraid=w&gbraid=%20b%20",
            "/path?fbclid=a%01b&fbclid=ok",
            "no query at all",
        ] {
            let mut all = UrlClickIds::read(Some(url));
            for id in UrlClickId::ALL {
                assert_eq!(all.take(id), from_landing_url(url, id), "{url} {id:?}");
            }
        }
        assert_eq!(UrlClickIds::read(None), UrlClickIds::default());
    }

    #[test]
    fn extracts_ttclid_from_url_shapes_seen_in_funnels() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "https://lp.example.com/a?ttclid=E.C.P.abc123",
                Some("E.C.P.abc123"),
            ),
            (
                "https://lp.example.com/a?utm_source=tt&ttclid=xyz&x=1",
                Some("xyz"),
            ),
            ("lp.example.com/a?ttclid=noscheme", Some("noscheme")),
            (
                "//lp.example.com/?ttclid=protocolrelative",
                Some("protocolrelative"),
            ),
            ("/landing?ttclid=pathonly", Some("pathonly")),
            ("https://lp.example.com/?ttclid=abc#section", Some("abc")),
            ("https://lp.example.com/#/offer?ttclid=inspa", Some("inspa")),
            ("https://lp.example.com/?ttclid=a%2Bb%3D", Some("a+b=")),
            (
                "https://lp.example.com/?ttclid=&ttclid=second",
                Some("second"),
            ),
            (
                "https://lp.example.com/?ttclid=first&ttclid=second",
                Some("first"),
            ),
            ("https://lp.example.com/?TTCLID=upper", Some("upper")),
            (
                "https://lp.example.com/?ttclid=%20padded%20",
                Some("padded"),
            ),
            ("https://lp.example.com/?xttclid=no", None),
            ("https://lp.example.com/?ttclid=a%01b&ttclid=ok", Some("ok")),
            ("https://lp.example.com/#ttclid=fragmentnotquery", None),
            ("https://lp.example.com/", None),
            ("", None),
            ("?", None),
            ("ttclid=noquestionmark", None),
        ];
        for (url, want) in cases {
            assert_eq!(
                from_landing_url(url, UrlClickId::Ttclid).as_deref(),
                *want,
                "{url}"
            );
        }
    }

    #[test]
    fn each_id_is_read_from_its_own_parameter_with_case_kept() {
        let url = "https://lp.example.com/?ttclid=E.C.P.AbC&FBCLID=IwAR1xYz_Q&gclid=Cj0KCQ&gbraid=0AAAAx&wbraid=CjkKEQ";
        let got: Vec<Option<String>> = UrlClickId::ALL
            .iter()
            .map(|id| from_landing_url(url, *id))
            .collect();
        let want = ["E.C.P.AbC", "IwAR1xYz_Q", "Cj0KCQ", "0AAAAx", "CjkKEQ"];
        assert_eq!(got, want.map(|w| Some(w.to_owned())));
        assert_eq!(
            from_landing_url("https://lp.example.com/?ttclid=x", UrlClickId::Fbclid),
            None
        );
        let long = "x".repeat(MAX_CLICK_ID_LEN + 1);
        let url = format!("https://lp.example.com/?fbclid={long}");
        assert_eq!(from_landing_url(&url, UrlClickId::Fbclid), None, "too long");
    }

    proptest! {
        #[test]
        fn never_panics_and_never_returns_an_empty_value(s in ".*") {
            for id in UrlClickId::ALL {
                if let Some(v) = from_landing_url(&s, id) {
                    prop_assert!(!v.is_empty());
                }
            }
        }

        #[test]
        fn finds_any_value_it_was_given(v in "[A-Za-z0-9._-]{1,40}") {
            for id in UrlClickId::ALL {
                let url = format!("https://lp.example.com/p?a=1&{}={v}", id.param());
                prop_assert_eq!(from_landing_url(&url, id), Some(v.clone()));
            }
        }
    }
}
