//! `signalpost check --config FILE`: validates a configuration without starting anything and prints
//! every problem (not just the first), each naming its key or its rule, e.g.
//! `rules[2] "sold_auto": when.all[1].gt: expected a number`. Exit 0 with a summary of pixels and
//! rules when it is valid, 2 otherwise. What is valid but likely a mistake is a `warning:` line (a
//! pixel without `site_url`, rules sharing a dedup key, an event_id the same for every lead). Like
//! `serve`, it reads `${VAR}` and `SIGNALPOST_*` from the environment; access tokens are never
//! printed.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use signalpost_gateway::rules::{Rule, RuleSet};

use crate::config::Config;
use crate::pixel_fields::pixel_warnings;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file (TOML) to validate.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    config: PathBuf,
}

/// Validates the file; prints the summary (stdout) or every problem (stderr).
pub fn run(args: CheckArgs) -> ExitCode {
    let shown = args.config.display();
    let config = match Config::read_with_env(Some(&args.config), &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{shown}: 1 problem\n  {err}");
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let problems = config.problems();
    if !problems.is_empty() {
        let mut out = format!(
            "{shown}: {} problem{}\n",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for problem in &problems {
            let _ = writeln!(out, "  {problem}");
        }
        eprint!("{out}");
        return ExitCode::from(super::EXIT_USAGE);
    }
    match summary(&config) {
        Ok(text) => {
            print!("{shown}: OK\n{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{shown}: 1 problem\n  {err}");
            ExitCode::from(super::EXIT_USAGE)
        }
    }
}

/// What a valid config sets up: zone, pixels, and one line per rule.
fn summary(config: &Config) -> Result<String, String> {
    let configs = config.rule_configs().map_err(|e| e.to_string())?;
    let rules = RuleSet::load(configs, &config.rule_env()).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let mut out = String::new();
    let _ = writeln!(out, "timezone: {}", config.rule_env().timezone.name());
    let pixels: Vec<String> = config
        .pixels
        .iter()
        .map(|p| match &p.test_event_code {
            Some(code) => format!("{} (test_event_code {code})", p.code),
            None => p.code.clone(),
        })
        .collect();
    let _ = writeln!(out, "pixels ({}): {}", pixels.len(), pixels.join(", "));
    let _ = writeln!(out, "rules ({}):", rules.rules().len());
    for rule in rules.rules() {
        let _ = writeln!(out, "  {}", describe(rule));
    }
    for warning in site_url_warnings(config)
        .into_iter()
        .chain(dedup_warnings(rules.rules()))
        .chain(literal_event_id_warnings(rules.rules()))
    {
        let _ = writeln!(out, "warning: {warning}");
    }
    Ok(out)
}

/// Pixels without `site_url`: valid (leads with a landing URL are fine), but a lead without a
/// landing URL or referrer would make their conversions undeliverable (TikTok requires `page.url`).
fn site_url_warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for (i, pixel) in config.pixels.iter().enumerate() {
        for warning in pixel_warnings(pixel.site_url.as_deref()) {
            out.push(format!(
                "pixels[{i}] {:?}: {}: {}",
                pixel.code, warning.field, warning.detail
            ));
        }
    }
    out
}

/// Rules whose event_id template has no placeholder: every lead would get the same event_id, so
/// ingest refuses each of their conversions (it would dedup unrelated leads' conversions), which is
/// certainly not what the operator meant.
fn literal_event_id_warnings(rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .filter(|r| r.event_id.is_literal())
        .map(|r| {
            format!(
                "rule {:?}: event_id {:?} has no placeholder, so every lead would get the same                  event_id; ingest refuses its conversions (they would dedup unrelated leads):                  use {{transaction_id}} in it",
                r.name,
                r.event_id.source()
            )
        })
        .collect()
}

/// Rules that share TikTok's dedup key (pixel, event name, event_id template): for one lead only the
/// first of them is ever queued, which is rarely what the operator meant.
fn dedup_warnings(rules: &[Rule]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in rules.iter().enumerate() {
        if let Some(b) = rules[i + 1..].iter().find(|b| {
            a.pixel == b.pixel
                && a.event.as_str() == b.event.as_str()
                && a.event_id.source() == b.event_id.source()
        }) {
            out.push(format!(
                "rules {:?} and {:?} both send {} to {} with event_id {}: for one lead only the first \
                 is queued (TikTok's dedup key); give one of them its own event_id template",
                a.name,
                b.name,
                a.event.as_str(),
                a.pixel,
                a.event_id.source()
            ));
        }
    }
    out
}

/// `sold_auto: lead_sold → Purchase on PIX1, 2 conditions, cap daily 100, schedule mon,… 09:00-18:00`.
fn describe(rule: &Rule) -> String {
    let mut line = format!(
        "{}: {} → {} on {}",
        rule.name,
        rule.trigger,
        rule.event.as_str(),
        rule.pixel
    );
    match rule.when.test_count() {
        0 => {}
        1 => line.push_str(", 1 condition"),
        n => {
            let _ = write!(line, ", {n} conditions");
        }
    }
    for (period, limit) in rule.caps.limits() {
        let _ = write!(line, ", cap {period} {limit}");
    }
    if let Some(schedule) = &rule.schedule {
        let _ = write!(line, ", schedule {}", schedule.summary());
    }
    if rule.timezone != signalpost_gateway::rules::Tz::UTC
        && (rule.schedule.is_some() || !rule.caps.is_empty())
    {
        let _ = write!(line, " ({})", rule.timezone.name());
    }
    if !rule.settings.is_empty() {
        line.push_str(", sets properties/page");
    }
    line
}
