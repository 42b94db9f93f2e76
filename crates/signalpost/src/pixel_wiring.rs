//! The config's pixels as the gateway and the delivery engine take them: the rule set bound to each
//! pixel's `site_url`, `default_region` and destination, and each pixel as the engine delivers to
//! it. Pure functions of the config, shared by `serve`, the admin layer and the operator tools.

use signalpost_gateway::delivery::{AccessToken, PixelConfig as DeliveryPixel};
use signalpost_gateway::rules::RuleEnv;
use signalpost_gateway::{RuleConfig, RuleSet};
use signalpost_tiktok::identity::Region;

use crate::config::PixelConfig;

/// Validates rules (in the operator's time zone), checks that each names a configured pixel, and
/// binds them to the pixels' `site_url`s.
pub(crate) fn build_rules(
    configs: Vec<RuleConfig>,
    pixels: &[PixelConfig],
    env: &RuleEnv,
) -> anyhow::Result<RuleSet> {
    let rules = RuleSet::load(configs, env).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("rules: {}", lines.join("; "))
    })?;
    rules
        .check_pixels(|code| pixels.iter().any(|p| p.code == code))
        .map_err(|e| anyhow::anyhow!("rules: {e}"))?;
    Ok(rules
        .with_site_urls(site_urls(pixels))
        .with_pixel_regions(pixel_regions(pixels))
        .with_destinations(pixel_destinations(pixels)))
}

/// Pixel code → destination of the config's pixels.
pub(crate) fn pixel_destinations(
    pixels: &[PixelConfig],
) -> std::collections::BTreeMap<String, signalpost_gateway::destinations::Destination> {
    pixels
        .iter()
        .map(|p| (p.code.clone(), p.destination()))
        .collect()
}

/// Pixel code → `default_region` of the config's pixels that have one (a region that does not
/// parse was refused at load and is skipped here).
pub(crate) fn pixel_regions(pixels: &[PixelConfig]) -> std::collections::BTreeMap<String, Region> {
    pixels
        .iter()
        .filter_map(|p| {
            Some((
                p.code.clone(),
                Region::parse(p.default_region.as_deref()?).ok()?,
            ))
        })
        .collect()
}

/// Pixel code → `site_url` of the config's pixels that have one.
pub(crate) fn site_urls(pixels: &[PixelConfig]) -> std::collections::BTreeMap<String, String> {
    pixels
        .iter()
        .filter_map(|p| Some((p.code.clone(), p.site_url.clone()?)))
        .collect()
}

/// A config pixel as the delivery engine holds it; TikTok's production API unless `base_url` is set.
/// The operator wrote its destination, so it may be any address (the sandbox on loopback included).
pub(crate) fn delivery_pixel(p: &PixelConfig) -> DeliveryPixel {
    let destination = p.destination();
    DeliveryPixel {
        code: p.code.clone(),
        access_token: AccessToken::new(p.secret()),
        base_url: p
            .base_url
            .clone()
            .unwrap_or_else(|| destination.default_base_url().to_owned()),
        addresses: signalpost_gateway::delivery::AddressPolicy::Any,
        test_event_code: p.test_event_code.clone(),
        destination,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_without_base_url_go_to_tiktok() {
        let p = PixelConfig {
            code: "P".into(),
            access_token: "t".repeat(20),
            test_event_code: None,
            base_url: None,
            site_url: None,
            default_region: None,
            ..PixelConfig::default()
        };
        assert_eq!(
            delivery_pixel(&p).base_url,
            "https://business-api.tiktok.com"
        );
    }
}
