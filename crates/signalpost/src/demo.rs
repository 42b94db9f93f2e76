//! Demo mode (`serve` without a config file): a demo pixel, delivered to an in-process sandbox
//! only, and its rules. Neither is ever stored.

use signalpost_gateway::RuleConfig;

/// Pixel code of the demo pixel (delivered to the in-process sandbox only).
pub const DEMO_PIXEL: &str = "SIGNALPOSTDEMOPIXEL";
/// The demo pixel's `site_url` (a documentation domain), so a demo lead without a landing URL is
/// delivered rather than kept as undeliverable.
pub const DEMO_SITE_URL: &str = "https://example.com/signalpost-demo";

/// The demo rules: form_submit → CompleteRegistration; lead_sold → Purchase with value = revenue.
pub(crate) fn demo_rules() -> Vec<RuleConfig> {
    let rule =
        |name: &str, trigger: &str, event: &str| RuleConfig::new(name, trigger, DEMO_PIXEL, event);
    let mut purchase = rule("demo_purchase", "lead_sold", "Purchase");
    purchase.value = Some(signalpost_gateway::rules::rule::ValueConfig::Word(
        "revenue".into(),
    ));
    vec![
        rule("demo_registration", "form_submit", "CompleteRegistration"),
        purchase,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use signalpost_gateway::RuleSet;

    #[test]
    fn demo_rules_validate_against_the_demo_pixel() {
        let rules = RuleSet::from_configs(demo_rules()).unwrap();
        assert!(rules.check_pixels(|code| code == DEMO_PIXEL).is_ok());
        assert_eq!(rules.rules().len(), 2);
    }
}
