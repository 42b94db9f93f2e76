//! The ingest check of a Google Ads conversion: the stored `ClickConversion` against the sandbox's
//! own row rules (`signalpost_google_ads::validate_conversion`), so a conversion Google would
//! refuse is answered as undeliverable at once instead of being accepted and dying later.

use super::PixelSettings;
use crate::destinations::Refused;

/// Whether Google would take the stored conversion `payload` for `settings`' customer.
pub fn check(payload: &str, settings: &PixelSettings) -> Result<(), Refused> {
    let value: serde_json::Value = serde_json::from_str(payload).map_err(|e| Refused {
        field: "conversion".into(),
        text: format!("the stored conversion is not JSON: {e}"),
    })?;
    signalpost_google_ads::validate_conversion(&settings.customer_id, &value, 0)
        .map(|_| ())
        .map_err(|e| {
            let path = e.path.to_string();
            let field = path
                .strip_prefix("conversions[0].")
                .unwrap_or(&path)
                .to_owned();
            Refused {
                text: format!("{field}: {}", e.message),
                field,
            }
        })
}
