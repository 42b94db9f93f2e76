//! Rules: which lifecycle events become which TikTok events. `rule` parses and validates config,
//! `matcher` decides which rules fire, `template` renders `event_id`, `payload` builds the TikTok event.
//! [`plan`] ties them together for one lifecycle event.

pub mod matcher;
pub mod payload;
pub mod rule;
pub mod template;

pub use matcher::{MatchReport, Skip, SkipReason, match_rules};
pub use payload::{build_conversion, build_event};
pub use rule::{
    Conditions, Rule, RuleConfig, RuleError, RuleSet, ValueConfig, ValueSource, WhenConfig,
};
pub use template::{Placeholder, Template, TemplateError};

use crate::domain::{Lead, LifecycleEvent, NewConversion};

/// A rule that did not fire, by name (owned, for answers and previews).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Skipped {
    pub rule: String,
    pub reason: SkipReason,
}

/// What one lifecycle event produces under a rule set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// One per firing rule, payload ready.
    pub conversions: Vec<NewConversion>,
    pub skipped: Vec<Skipped>,
}

/// Matches `event` against `rules` and builds a conversion for each rule that fires.
pub fn plan(
    lead: &Lead,
    event: &LifecycleEvent,
    rules: &[Rule],
) -> Result<Plan, serde_json::Error> {
    let report = match_rules(lead, event, rules);
    let conversions = report
        .matched
        .iter()
        .map(|rule| build_conversion(lead, event, rule))
        .collect::<Result<Vec<_>, _>>()?;
    let skipped = report
        .skipped
        .into_iter()
        .map(|s| Skipped {
            rule: s.rule.name.clone(),
            reason: s.reason,
        })
        .collect();
    Ok(Plan {
        conversions,
        skipped,
    })
}
