//! The shapes of Meta's browser cookies and of the CRM lead ids, checked where a lead enters. A value
//! that fails is never "repaired": a cookie is dropped by the edge with a warning (browsers and tag
//! managers mangle cookies; the lead must still convert), a lead id is refused (it comes from the
//! operator's own integration, so a wrong one is a bug to fix, not noise to tolerate).
//!
//! Each check returns the problem as text for a warning or a 422, naming what was expected.

/// Meta's `_fbc` cookie: `fb.<subdomain index>.<creation time, ms>.<fbclid>`, where the fbclid part
/// may itself hold dots (Meta's parameter builder appends a suffix). Meta refuses an event whose
/// `fbc` is malformed (code 100, subcode 2804001), so a bad one must not reach it.
pub fn check_fbc(value: &str) -> Result<(), String> {
    check_fb_cookie(value, "fb.<subdomain index>.<creation time in ms>.<fbclid>")
}

/// Meta's `_fbp` cookie: `fb.<subdomain index>.<creation time, ms>.<random number>`.
pub fn check_fbp(value: &str) -> Result<(), String> {
    check_fb_cookie(
        value,
        "fb.<subdomain index>.<creation time in ms>.<random number>",
    )
}

fn check_fb_cookie(value: &str, expected: &str) -> Result<(), String> {
    let bad = || Err(format!("not a Meta cookie value: expected {expected}"));
    let mut parts = value.splitn(4, '.');
    let (Some(prefix), Some(index), Some(ms), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad();
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // The subdomain index is 0 (`com`), 1 (`example.com`) or 2 (`www.example.com`); the creation time
    // is Unix milliseconds, 13 digits from 2001 to 2286 (10 digits would be seconds, a known bug).
    let index_ok = index.len() == 1 && digits(index);
    let ms_ok = ms.len() == 13 && digits(ms);
    let rest_ok = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_graphic() && b != b';');
    if prefix == "fb" && index_ok && ms_ok && rest_ok {
        Ok(())
    } else {
        bad()
    }
}

/// Meta's lead id (Conversion Leads, `user_data.lead_id`): 15 to 17 digits, nothing else.
pub fn check_meta_lead_id(value: &str) -> Result<(), String> {
    if (15..=17).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a Meta lead id: expected the 15 to 17 digits of Meta's leadgen id",
            quote(value)
        ))
    }
}

/// Longest TikTok Lead Generation lead id accepted. TikTok's ids are 19 digits today; the bound
/// leaves room without letting arbitrary text through.
pub const MAX_TIKTOK_LEAD_ID_LEN: usize = 32;

/// TikTok's Lead Generation lead id (`lead.lead_id` of a CRM event): 1 to
/// [`MAX_TIKTOK_LEAD_ID_LEN`] digits.
pub fn check_tiktok_lead_id(value: &str) -> Result<(), String> {
    if (1..=MAX_TIKTOK_LEAD_ID_LEN).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "{} is not a TikTok lead id: expected 1 to {MAX_TIKTOK_LEAD_ID_LEN} digits",
            quote(value)
        ))
    }
}

/// A value quoted for a message, cut to 40 characters.
fn quote(s: &str) -> String {
    let cut: String = s.chars().take(40).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fbc_and_fbp_shapes() {
        let good_fbc = [
            "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk",
            "fb.0.1700000000000.AbC",
            "fb.2.1700000000000.IwAR1xYz.AQ",
        ];
        for v in good_fbc {
            assert_eq!(check_fbc(v), Ok(()), "{v}");
        }
        let bad = [
            "",
            "fb",
            "fb.1.1554763741205",
            "fb.1.1554763741205.",
            "fb.1.1554763741.IwAR",
            "fb.x.1554763741205.IwAR",
            "fb.12.1554763741205.IwAR",
            "FB.1.1554763741205.IwAR",
            "ga.1.1554763741205.IwAR",
            "fb.1.1554763741205.Iw AR",
            "fb.1.15547637412o5.IwAR",
            "IwAR2F4-dbP0l7Mn1IawQQ",
        ];
        for v in bad {
            assert!(check_fbc(v).is_err(), "{v}");
            assert!(check_fbp(v).is_err(), "{v}");
        }
        assert_eq!(check_fbp("fb.1.1596403881668.1116446470"), Ok(()));
        assert!(check_fbc("fb.1.2.3").unwrap_err().contains("fbclid"));
    }

    #[test]
    fn meta_lead_ids_are_15_to_17_digits() {
        for ok in ["123456789012345", "1234567890123456", "12345678901234567"] {
            assert_eq!(check_meta_lead_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "12345678901234",
            "123456789012345678",
            "12345678901234a",
            " 123456789012345",
            "-12345678901234",
            "",
        ] {
            let problem = check_meta_lead_id(bad).unwrap_err();
            assert!(problem.contains("15 to 17 digits"), "{bad}: {problem}");
        }
    }

    #[test]
    fn tiktok_lead_ids_are_digits_and_bounded() {
        assert_eq!(check_tiktok_lead_id("7301234567890123456"), Ok(()));
        assert_eq!(check_tiktok_lead_id(&"9".repeat(32)), Ok(()));
        for bad in ["", "73012x", &"9".repeat(33), "12 3"] {
            assert!(check_tiktok_lead_id(bad).is_err(), "{bad}");
        }
    }
}
