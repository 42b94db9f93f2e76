//! The currencies TikTok accepts in `properties.currency` (shared/tiktok-events-api.md §1.5).

/// Supported ISO 4217 codes, sorted (binary-searchable).
pub const SUPPORTED_CURRENCIES: &[&str] = &[
    "AED", "ARS", "AUD", "BDT", "BHD", "BIF", "BOB", "BRL", "CAD", "CHF", "CLP", "CNY", "COP",
    "CRC", "CZK", "DKK", "DZD", "EGP", "EUR", "GBP", "GTQ", "HKD", "HNL", "HUF", "IDR", "ILS",
    "INR", "ISK", "JPY", "KES", "KHR", "KRW", "KWD", "KZT", "MAD", "MOP", "MXN", "MYR", "NGN",
    "NIO", "NOK", "NZD", "OMR", "PEN", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RUB", "SAR",
    "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "VES", "VND", "ZAR",
];

/// Whether TikTok accepts `code` (exact, upper-case ISO 4217).
pub fn is_supported(code: &str) -> bool {
    SUPPORTED_CURRENCIES.binary_search(&code).is_ok()
}

/// A currency TikTok accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(&'static str);

/// The currency is not on TikTok's list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a currency TikTok accepts (ISO 4217, e.g. USD, EUR, GBP)")]
pub struct UnsupportedCurrency(pub String);

impl Currency {
    /// Parses a code; surrounding spaces are trimmed and lower case is accepted (`" usd"` → `USD`).
    pub fn parse(raw: &str) -> Result<Self, UnsupportedCurrency> {
        let upper = raw.trim().to_ascii_uppercase();
        SUPPORTED_CURRENCIES
            .binary_search(&upper.as_str())
            .map(|i| Currency(SUPPORTED_CURRENCIES[i]))
            .map_err(|_| UnsupportedCurrency(raw.to_owned()))
    }

    /// The ISO code.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_unique_so_binary_search_is_valid() {
        assert!(SUPPORTED_CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(SUPPORTED_CURRENCIES.len(), 62);
    }

    #[test]
    fn parses_supported_and_rejects_others() {
        assert_eq!(Currency::parse(" usd").map(|c| c.as_str()), Ok("USD"));
        assert!(is_supported("ZAR"));
        assert!(!is_supported("usd"));
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("BTC").is_err());
    }
}
