//! Applying the config file's `[[pixels]]` and `[[rules]]` to the database: at every start, on SIGHUP
//! and with `signalpost apply`. Idempotent, and a bootstrap rather than a master: each stored entry
//! remembers a digest of the file entry it was last applied from, so an entry is written only when it
//! is new or when its text in the file changed since the last apply. An edit made through the API
//! (a rotated token, a disabled rule) therefore survives restarts with an unchanged file. Nothing is
//! ever deleted by applying: entries in the database but not in the file are reported as kept.

use serde::Serialize;
use sha2::{Digest, Sha256};
use signalpost_gateway::RuleConfig;
use signalpost_gateway::store::settings::{StoredPixel, StoredRule};
use signalpost_gateway::time::now_ms;

use super::catalog::{AdminError, Catalog, last4};
use crate::config::{Config, PixelConfig};

/// What applying a file changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// One line per entry: `pixel P: added`, `rule R: updated`, `pixel P: unchanged`, ….
    pub changes: Vec<Change>,
}

/// One entry's fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `pixel` or `rule`.
    pub kind: &'static str,
    pub name: String,
    /// `added`, `updated`, `token replaced`, `unchanged`, or `kept (not in the file)`.
    pub what: &'static str,
}

impl ApplyReport {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c.what, "added" | "updated" | "token replaced"))
    }

    fn push(&mut self, kind: &'static str, name: &str, what: &'static str) {
        self.changes.push(Change {
            kind,
            name: name.to_owned(),
            what,
        });
    }
}

impl std::fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in &self.changes {
            writeln!(f, "{} {}: {}", c.kind, c.name, c.what)?;
        }
        Ok(())
    }
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn pixel_digest(p: &PixelConfig) -> String {
    let secret = p.secret();
    let mut parts = vec![
        p.code.as_str(),
        secret.as_str(),
        p.base_url.as_deref().unwrap_or("\u{0}"),
        p.test_event_code.as_deref().unwrap_or("\u{0}"),
    ];
    // Only when set, so an entry without one keeps the digest it had before site_url existed (a
    // changed digest would reapply the file over edits made through the API).
    if let Some(site_url) = &p.site_url {
        parts.push(site_url);
    }
    // Likewise default_region, behind a marker so it never reads as a site_url.
    if let Some(region) = &p.default_region {
        parts.push("default_region");
        parts.push(region);
    }
    // Likewise the destination keys, each behind its name.
    let spec = p.destination_spec();
    for (name, value) in [
        ("destination", &spec.destination),
        ("event_source", &spec.event_source),
        ("api_version", &spec.api_version),
        ("action_source", &spec.action_source),
        ("lead_event_source", &spec.lead_event_source),
        ("customer_id", &spec.customer_id),
        ("conversion_action", &spec.conversion_action),
        ("login_customer_id", &spec.login_customer_id),
        ("token_url", &spec.token_url),
        ("consent", &spec.consent),
    ] {
        if let Some(value) = value {
            parts.push(name);
            parts.push(value);
        }
    }
    digest(&parts)
}

/// Applies `config`'s pixels and rules (already validated by [`Config::load`]).
pub async fn apply(catalog: &Catalog, config: &Config) -> Result<ApplyReport, AdminError> {
    let mut report = ApplyReport::default();
    let stored_pixels = catalog.pixels().await?;
    let now = now_ms();
    for p in &config.pixels {
        let digest = pixel_digest(p);
        let existing = stored_pixels.iter().find(|s| s.code == p.code);
        match existing {
            Some(s) if s.config_digest.as_deref() == Some(digest.as_str()) => {
                report.push("pixel", &p.code, "unchanged");
            }
            _ => {
                let secret = p.secret();
                let same_token = existing
                    .is_some_and(|s| catalog.open_token(s).is_ok_and(|t| t.expose() == secret));
                let pixel = StoredPixel {
                    code: p.code.clone(),
                    sealed_token: catalog.seal(&p.code, &secret),
                    token_last4: last4(&secret),
                    token_set_at_ms: match existing {
                        Some(s) if same_token => s.token_set_at_ms,
                        Some(s) => now.max(s.token_set_at_ms + 1),
                        None => now,
                    },
                    base_url: p.base_url.clone(),
                    test_event_code: p.test_event_code.clone(),
                    site_url: p.site_url.clone(),
                    // Validated at load; the stored form is upper-case.
                    default_region: crate::pixel_fields::pixel_region(p.default_region.as_deref())
                        .ok()
                        .flatten(),
                    destination: p.destination().to_stored(),
                    paused_reason: existing
                        .filter(|_| same_token)
                        .and_then(|s| s.paused_reason.clone()),
                    paused_at_ms: existing.filter(|_| same_token).and_then(|s| s.paused_at_ms),
                    config_digest: Some(digest),
                    created_at_ms: existing.map_or(now, |s| s.created_at_ms),
                    updated_at_ms: now,
                };
                catalog.put_pixel(pixel).await?;
                let what = match existing {
                    None => "added",
                    Some(_) if !same_token => "token replaced",
                    Some(_) => "updated",
                };
                report.push("pixel", &p.code, what);
            }
        }
    }
    for s in &stored_pixels {
        if !config.pixels.iter().any(|p| p.code == s.code) {
            report.push("pixel", &s.code, "kept (not in the file)");
        }
    }

    let stored_rules = catalog.rules().await?;
    let configs = config.rule_configs().map_err(|e| {
        AdminError::Invalid(vec![crate::wire::problem::FieldError::new(
            "rules",
            e.to_string(),
        )])
    })?;
    for cfg in &configs {
        let json = serde_json::to_string(cfg).map_err(|e| {
            AdminError::Store(signalpost_gateway::StoreError::Io(format!(
                "cannot encode rule {}: {e}",
                cfg.name
            )))
        })?;
        let digest = digest(&[&json]);
        let existing = stored_rules.iter().find(|r| r.name == cfg.name);
        match existing {
            Some(r) if r.config_digest.as_deref() == Some(digest.as_str()) => {
                report.push("rule", &cfg.name, "unchanged");
            }
            _ => {
                let rule = StoredRule {
                    name: cfg.name.clone(),
                    config: json,
                    enabled: existing.is_none_or(|r| r.enabled),
                    config_digest: Some(digest),
                    created_at_ms: existing.map_or(now, |r| r.created_at_ms),
                    updated_at_ms: now,
                };
                catalog.put_rule(rule).await?;
                report.push(
                    "rule",
                    &cfg.name,
                    if existing.is_some() {
                        "updated"
                    } else {
                        "added"
                    },
                );
            }
        }
    }
    for r in &stored_rules {
        if !configs.iter().any(|c: &RuleConfig| c.name == r.name) {
            report.push("rule", &r.name, "kept (not in the file)");
        }
    }
    Ok(report)
}
