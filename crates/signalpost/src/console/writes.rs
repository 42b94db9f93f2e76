//! The console's writes to pixels and rules, in one place so they can move to the admin API (pixels
//! and rules kept in the database) by changing this file only. Until then they act on what the
//! running process holds: a pixel is added to the [`PixelRegistry`] (the engine delivers to it at
//! once), a token is replaced there (which resumes a paused pixel and its held conversions), and
//! rules written here are kept beside the config file's and swapped into the gateway whole.
//! What this interim version cannot do: keep them across a restart or a config reload (SIGHUP
//! reinstates exactly the config file's pixels and rules), and edit rules of the config file
//! (they are shown read-only).
//!
//! A token passes through here and into the registry; it is never logged or rendered.

use std::sync::{Arc, Mutex};

use signalpost_gateway::RuleSet;
use signalpost_gateway::delivery::{AccessToken, PixelConfig, Upsert};
use signalpost_gateway::rules::{Rule, RuleConfig, RuleEnv, RuleError};
use signalpost_tiktok::model::DEFAULT_BASE_URL;

use crate::http::AppState;

/// A rule written in the console.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleRule {
    pub config: RuleConfig,
    pub enabled: bool,
}

/// A pixel to add.
#[derive(Debug, Clone, Default)]
pub struct NewPixel {
    pub code: String,
    pub token: String,
    pub base_url: String,
    pub test_event_code: String,
}

/// A problem with one form field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

impl FieldProblem {
    fn new(field: &str, problem: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// What the console wrote (rules), shared by every request.
#[derive(Clone, Default)]
pub struct Writes {
    rules: Arc<Mutex<Vec<ConsoleRule>>>,
}

impl Writes {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<ConsoleRule>) -> T) -> T {
        match self.rules.lock() {
            Ok(mut rules) => f(&mut rules),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Adds a pixel; refuses a code that exists (rotate its token instead).
    pub fn add_pixel(&self, app: &AppState, pixel: NewPixel) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let code = pixel.code.trim().to_owned();
        if code.is_empty() {
            problems.push(FieldProblem::new(
                "code",
                "enter the pixel code from TikTok Events Manager",
            ));
        } else if code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
            problems.push(FieldProblem::new(
                "code",
                "a pixel code is letters and digits only (like C4ABCDEF0123)",
            ));
        } else if app.pixels.contains(&code) {
            problems.push(FieldProblem::new(
                "code",
                format!("pixel {code} exists; rotate its token instead"),
            ));
        }
        if let Err(problem) = check_token(&pixel.token) {
            problems.push(FieldProblem::new("token", problem));
        }
        let base_url = match pixel.base_url.trim() {
            "" => DEFAULT_BASE_URL.to_owned(),
            raw => match url::Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                    raw.trim_end_matches('/').to_owned()
                }
                _ => {
                    problems.push(FieldProblem::new(
                        "base_url",
                        "an http:// or https:// URL (leave empty for TikTok)",
                    ));
                    String::new()
                }
            },
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let test_event_code =
            Some(pixel.test_event_code.trim().to_owned()).filter(|t| !t.is_empty());
        app.pixels.upsert(PixelConfig {
            code: code.clone(),
            access_token: AccessToken::new(pixel.token.trim()),
            base_url,
            test_event_code,
        });
        tracing::info!(pixel = %code, "console: pixel added");
        Ok(())
    }

    /// Replaces a pixel's token; `Ok(true)` when that resumed a paused pixel.
    pub fn set_token(&self, app: &AppState, code: &str, token: &str) -> Result<bool, FieldProblem> {
        check_token(token).map_err(|p| FieldProblem::new("token", p))?;
        let Some(mut config) = app.pixels.get(code).map(|p| p.config) else {
            return Err(FieldProblem::new(
                "code",
                format!("no pixel with code {code:?}"),
            ));
        };
        config.access_token = AccessToken::new(token.trim());
        let resumed = matches!(
            app.pixels.upsert(config),
            Upsert::TokenReplaced { resumed: true }
        );
        app.gateway.wake_pixel(code);
        tracing::info!(pixel = %code, resumed, "console: pixel token replaced");
        Ok(resumed)
    }

    /// The rules written here, in the order written.
    pub fn rules(&self) -> Vec<ConsoleRule> {
        self.with(|rules| rules.clone())
    }

    /// One rule written here.
    pub fn rule(&self, name: &str) -> Option<ConsoleRule> {
        self.with(|rules| rules.iter().find(|r| r.config.name == name).cloned())
    }

    /// Creates a rule, or replaces the one named `replacing`; enabled. Every problem of the rule is
    /// returned (field paths as in the config file), and nothing changes then.
    pub fn put_rule(
        &self,
        app: &AppState,
        config: RuleConfig,
        replacing: Option<&str>,
    ) -> Result<(), Vec<RuleError>> {
        self.with(|rules| {
            let mut next = rules.clone();
            let enabled = match replacing {
                Some(old) => {
                    let Some(pos) = next.iter().position(|r| r.config.name == old) else {
                        return Err(vec![rule_error(
                            &config.name,
                            "name",
                            format!("no console rule named {old:?}"),
                        )]);
                    };
                    next.remove(pos).enabled
                }
                None => true,
            };
            next.push(ConsoleRule { config, enabled });
            apply(app, rules, next)
        })
    }

    /// Enables or disables a rule written here.
    pub fn set_enabled(
        &self,
        app: &AppState,
        name: &str,
        enabled: bool,
    ) -> Result<(), Vec<RuleError>> {
        self.with(|rules| {
            let mut next = rules.clone();
            let Some(rule) = next.iter_mut().find(|r| r.config.name == name) else {
                return Err(vec![rule_error(name, "name", "only rules made in the console can be disabled here; rules of the config file change with the file")]);
            };
            rule.enabled = enabled;
            apply(app, rules, next)
        })
    }
}

/// Checks `next` against the running rules and swaps it in: the config file's rules (those in force
/// that are not console rules) followed by the enabled console rules.
fn apply(
    app: &AppState,
    current: &mut Vec<ConsoleRule>,
    next: Vec<ConsoleRule>,
) -> Result<(), Vec<RuleError>> {
    let env = RuleEnv::default();
    let managed: Vec<&str> = current.iter().map(|r| r.config.name.as_str()).collect();
    let mut all: Vec<Rule> = app
        .gateway
        .rules()
        .rules()
        .iter()
        .filter(|r| !managed.contains(&r.name.as_str()))
        .cloned()
        .collect();
    let file_rules = all.len();
    let mut errors = Vec::new();
    for rule in &next {
        match Rule::from_config_in(rule.config.clone(), &env) {
            Ok(valid) => {
                if all[..file_rules].iter().any(|r| r.name == valid.name) {
                    errors.push(rule_error(
                        &valid.name,
                        "name",
                        "a rule of the config file has this name",
                    ));
                }
                if !app.pixels.contains(&valid.pixel) {
                    errors.push(rule_error(
                        &valid.name,
                        "pixel",
                        format!(
                            "no pixel with code {:?}; add it on the Pixels page first",
                            valid.pixel
                        ),
                    ));
                }
                if rule.enabled {
                    all.push(valid);
                }
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        match RuleSet::new(all) {
            Ok(set) => {
                app.gateway.replace_rules(set);
                *current = next;
                tracing::info!(console_rules = current.len(), "console: rules replaced");
                return Ok(());
            }
            Err(e) => errors.push(e),
        }
    }
    Err(errors)
}

fn rule_error(rule: &str, field: &str, problem: impl Into<String>) -> RuleError {
    RuleError {
        rule: rule.to_owned(),
        field: field.to_owned(),
        problem: problem.into(),
    }
}

fn check_token(token: &str) -> Result<(), &'static str> {
    let token = token.trim();
    if token.is_empty() {
        Err("enter the access token from TikTok Events Manager")
    } else if token.len() < 8 || token.chars().any(char::is_whitespace) {
        Err("that does not look like an access token (no spaces, at least 8 characters)")
    } else {
        Ok(())
    }
}
