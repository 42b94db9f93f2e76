//! `signalpost check --config FILE`: validates a configuration without starting anything and prints
//! every problem (not just the first), each naming its key or its rule, e.g.
//! `rules[2] "sold_auto": when.all[1].gt: expected a number`. Exit 0 with a summary of pixels and
//! rules when it is valid, 2 otherwise. Like `serve`, it reads `${VAR}` and `SIGNALPOST_*` from the
//! environment; access tokens are never printed.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use signalpost_gateway::rules::{Rule, RuleSet};

use crate::config::Config;

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
    for warning in dedup_warnings(rules.rules()) {
        let _ = writeln!(out, "warning: {warning}");
    }
    Ok(out)
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
