//! Rules: which lifecycle events become which TikTok events, on which pixels, with what in them, and
//! when they are held back.
//!
//! - [`config`] is the `[[rules]]` table as written; [`rule`] validates it into a [`Rule`] (every
//!   problem reported with its path) and holds the [`RuleSet`].
//! - [`field`] names the values of a lead and its lifecycle event; [`condition`] tests them
//!   (`[rules.when]`); [`template`] and [`transform`] compute values from them; [`settings`] sets
//!   TikTok properties, page and top-level fields with those values.
//! - [`cap`] and [`schedule`] decide the cap windows and the sending hours, in the rule's time zone.
//! - [`payload`] builds the TikTok event; [`matcher`] plans conversions for ingest and explains every
//!   rule for previews.

pub mod cap;
pub mod condition;
pub mod config;
pub mod field;
mod issues;
pub mod matcher;
pub mod payload;
pub mod rule;
pub mod schedule;
pub mod settings;
pub mod template;
#[cfg(test)]
pub(crate) mod testing;
pub mod transform;

/// IANA time zones (rules run in the operator's zone).
pub use chrono_tz::Tz;
pub use config::{RuleConfig, ValueConfig, WhenConfig};
pub use matcher::{CapStatus, Explanation, Outcome, PreviewedConversion, Reason, explain, plan};
pub use payload::{PlannedEvent, build_conversion, plan_event};
pub use rule::{Rule, RuleEnv, RuleError, RuleSet, parse_timezone};
pub use template::{Template, TemplateError};
