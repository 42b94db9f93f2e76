//! TikTok event names: the standard list (current, renamed and soft-deprecated names) and the rule a
//! custom event name must follow. Source: shared/tiktok-events-api.md §2.

use std::fmt;

/// Current standard events (TikTok help center, 2025).
pub const STANDARD_EVENTS: &[&str] = &[
    "AddPaymentInfo",
    "AddToCart",
    "AddToWishlist",
    "ApplicationApproval",
    "CompleteRegistration",
    "Contact",
    "CustomizeProduct",
    "Download",
    "FindLocation",
    "InitiateCheckout",
    "Lead",
    "Purchase",
    "Schedule",
    "Search",
    "StartTrial",
    "SubmitApplication",
    "Subscribe",
    "ViewContent",
];

/// Legacy names TikTok still accepts: renamed (`SubmitForm` → `Lead`, `CompletePayment` → `Purchase`),
/// soft-deprecated until 2027 (`ClickButton`, `PlaceAnOrder`), and the page-view names integrations send.
pub const LEGACY_EVENTS: &[(&str, &str)] = &[
    ("SubmitForm", "Lead"),
    ("CompletePayment", "Purchase"),
    ("ClickButton", "ClickButton"),
    ("PlaceAnOrder", "PlaceAnOrder"),
    ("PageView", "PageView"),
    ("Pageview", "PageView"),
];

/// Reserved names TikTok maps automatically to a standard event; a custom event must avoid them.
pub const RESERVED_EVENTS: &[(&str, &str)] = &[
    ("AddBilling", "AddPaymentInfo"),
    ("Browse", "PageView"),
    ("Checkout", "PlaceAnOrder"),
    ("ClickForm", "SubmitForm"),
    ("ClickInDownloadPage", "ClickButton"),
    ("ClickToDownload", "Download"),
    ("Consult", "Contact"),
    ("ConsultByPhone", "Contact"),
    ("CompletePayment", "Purchase"),
    ("Registration", "CompleteRegistration"),
    ("StartCheckout", "InitiateCheckout"),
    ("ViewConsultationPage", "ViewContent"),
    ("ViewDownloadPage", "ViewContent"),
    ("ViewForm", "ViewContent"),
];

/// Longest custom event name TikTok accepts.
pub const MAX_CUSTOM_EVENT_LEN: usize = 50;

/// What kind of name an event name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// One of [`STANDARD_EVENTS`].
    Standard,
    /// A legacy or renamed standard name TikTok still accepts ([`LEGACY_EVENTS`]).
    Legacy,
    /// A custom name following TikTok's custom-event rule.
    Custom,
}

/// Why a string is not an event name TikTok accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventNameError {
    #[error("event name is empty")]
    Empty,
    #[error("custom event name is longer than {MAX_CUSTOM_EVENT_LEN} characters")]
    TooLong,
    #[error("custom event name must start with a letter")]
    MustStartWithLetter,
    #[error("custom event name may contain only letters, digits, '_' and '-' (found {0:?})")]
    InvalidCharacter(char),
    #[error(
        "{name:?} is a reserved TikTok event name (mapped to {maps_to}); use {maps_to} instead"
    )]
    Reserved { name: String, maps_to: &'static str },
}

/// A validated TikTok event name: standard, legacy or custom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName {
    name: String,
    kind: EventKind,
}

impl EventName {
    /// Validates `raw` exactly as given (no trimming: TikTok compares names byte for byte).
    pub fn parse(raw: &str) -> Result<Self, EventNameError> {
        let kind = classify(raw)?;
        Ok(Self {
            name: raw.to_owned(),
            kind,
        })
    }

    /// The name as sent to TikTok.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Whether it is standard, legacy or custom.
    pub fn kind(&self) -> EventKind {
        self.kind
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl AsRef<str> for EventName {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

/// Classifies a name, or says why TikTok would refuse it.
pub fn classify(raw: &str) -> Result<EventKind, EventNameError> {
    if STANDARD_EVENTS.contains(&raw) {
        return Ok(EventKind::Standard);
    }
    if LEGACY_EVENTS.iter().any(|(legacy, _)| *legacy == raw) {
        return Ok(EventKind::Legacy);
    }
    if let Some((_, maps_to)) = RESERVED_EVENTS
        .iter()
        .find(|(reserved, _)| *reserved == raw)
    {
        return Err(EventNameError::Reserved {
            name: raw.to_owned(),
            maps_to,
        });
    }
    validate_custom(raw).map(|()| EventKind::Custom)
}

/// Checks TikTok's custom event rule: 1–50 characters, letters/digits/`_`/`-`, starting with a letter.
pub fn validate_custom(raw: &str) -> Result<(), EventNameError> {
    let mut chars = raw.chars();
    let Some(first) = chars.next() else {
        return Err(EventNameError::Empty);
    };
    if !first.is_ascii_alphabetic() {
        return Err(EventNameError::MustStartWithLetter);
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(EventNameError::InvalidCharacter(bad));
    }
    if raw.len() > MAX_CUSTOM_EVENT_LEN {
        return Err(EventNameError::TooLong);
    }
    Ok(())
}

/// Whether `raw` is a standard or legacy standard name (offline events accept only these).
pub fn is_standard(raw: &str) -> bool {
    STANDARD_EVENTS.contains(&raw) || LEGACY_EVENTS.iter().any(|(legacy, _)| *legacy == raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_standard_legacy_and_custom_names() {
        for (name, kind) in [
            ("Purchase", EventKind::Standard),
            ("CompleteRegistration", EventKind::Standard),
            ("SubmitForm", EventKind::Legacy),
            ("CompletePayment", EventKind::Legacy),
            ("ClickButton", EventKind::Legacy),
            ("lead_sold", EventKind::Custom),
            ("Offer-Conversion_2", EventKind::Custom),
        ] {
            assert_eq!(EventName::parse(name).map(|n| n.kind()), Ok(kind), "{name}");
        }
    }

    #[test]
    fn rejects_names_breaking_the_custom_rule() {
        assert_eq!(classify(""), Err(EventNameError::Empty));
        assert_eq!(
            classify("1stSale"),
            Err(EventNameError::MustStartWithLetter)
        );
        assert_eq!(
            classify("lead sold"),
            Err(EventNameError::InvalidCharacter(' '))
        );
        assert_eq!(
            classify("Sale "),
            Err(EventNameError::InvalidCharacter(' '))
        );
        assert_eq!(
            classify("vente_é"),
            Err(EventNameError::InvalidCharacter('é'))
        );
        assert_eq!(classify(&"a".repeat(51)), Err(EventNameError::TooLong));
        assert!(classify(&"a".repeat(50)).is_ok());
    }

    #[test]
    fn rejects_reserved_names_with_their_standard_replacement() {
        let err = classify("Registration").unwrap_err();
        assert!(err.to_string().contains("CompleteRegistration"), "{err}");
        assert!(matches!(
            classify("Checkout"),
            Err(EventNameError::Reserved { .. })
        ));
    }
}
