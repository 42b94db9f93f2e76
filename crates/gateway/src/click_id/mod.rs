//! Click ids and CRM lead ids of a lead: which ones a landing URL carries ([`url`]) and what shape the
//! cookie values and lead ids must have ([`shape`]). Shared by the HTTP edge (which validates and
//! drops or refuses) and the gateway (which fills ids from the landing URL and keeps malformed lead
//! ids out of the store). Never alters a value's case: Meta's fbclid is case-sensitive.

pub mod shape;
pub mod url;

pub use shape::{check_fbc, check_fbp, check_meta_lead_id, check_tiktok_lead_id};
pub use url::{UrlClickIds, from_landing_url};

/// Longest click id or cookie value kept (`ttclid`, `fbclid`, `gclid`, `gbraid`, `wbraid`, `ttp`,
/// `fbc`, `fbp`): the limit `ttclid` and `ttp` always had. Real ones are well under 300 characters.
pub const MAX_CLICK_ID_LEN: usize = 1024;

/// A click id an ad platform appends to the landing URL's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UrlClickId {
    /// TikTok.
    Ttclid,
    /// Meta (Facebook, Instagram).
    Fbclid,
    /// Google Ads, web.
    Gclid,
    /// Google Ads, iOS app-to-web.
    Gbraid,
    /// Google Ads, iOS web-to-app.
    Wbraid,
}

impl UrlClickId {
    /// Every URL click id, in the order the lead record lists them.
    pub const ALL: [UrlClickId; 5] = [
        UrlClickId::Ttclid,
        UrlClickId::Fbclid,
        UrlClickId::Gclid,
        UrlClickId::Gbraid,
        UrlClickId::Wbraid,
    ];

    /// Its position in [`UrlClickId::ALL`] (and in [`UrlClickIds`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The query parameter, which is also the lead field's name.
    pub fn param(self) -> &'static str {
        match self {
            UrlClickId::Ttclid => "ttclid",
            UrlClickId::Fbclid => "fbclid",
            UrlClickId::Gclid => "gclid",
            UrlClickId::Gbraid => "gbraid",
            UrlClickId::Wbraid => "wbraid",
        }
    }
}
