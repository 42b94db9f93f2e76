//! Which rules a lifecycle event fires, in two speeds. [`plan`] is the ingest path: for every rule
//! whose trigger and conditions hold it builds the conversion, marks it suppressed when the event is
//! outside the rule's schedule, and attaches the rule's caps for the store to enforce. [`explain`] is
//! the preview path: for every rule it says whether it fires and, when not, every reason (trigger,
//! each unmet condition with the actual value, outside the schedule; caps once the store has counted).

use serde::Serialize;
use serde_json::Value;

use super::condition::Unmet;
use super::payload::build_conversion;
use super::rule::Rule;
use super::schedule::Outside;
use crate::domain::{CapCheck, CapPeriod, Lead, LifecycleEvent, NewConversion, Trigger};

/// Why a rule does not fire, or why its conversion would be suppressed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The rule listens to another trigger.
    Trigger {
        wanted: Trigger,
        got: Trigger,
        message: String,
    },
    /// A condition of `[rules.when]` does not hold.
    Condition(Unmet),
    /// The event happened outside the rule's schedule.
    Schedule(Outside),
    /// A cap's window is full.
    Cap(CapStatus),
}

impl Reason {
    /// One line for people.
    pub fn message(&self) -> String {
        match self {
            Reason::Trigger { message, .. } => message.clone(),
            Reason::Condition(unmet) => format!("{}: {}", unmet.path, unmet.message),
            Reason::Schedule(outside) => outside.reason(),
            Reason::Cap(status) => status.message(),
        }
    }
}

/// What a rule does with the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A conversion is queued and sent.
    Fires,
    /// A conversion is stored as `suppressed` (schedule or cap) and never sent.
    Suppressed,
    /// No conversion.
    Skipped,
}

/// A cap of a rule, with its current window and (once counted) its use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapStatus {
    pub period: CapPeriod,
    pub limit: u64,
    /// Unix ms; `i64::MIN` for `total`.
    pub window_start_ms: i64,
    /// Conversions counted in the window; `None` until the store is asked.
    pub used: Option<u64>,
}

impl CapStatus {
    /// Whether the window is full.
    pub fn reached(&self) -> bool {
        self.limit == 0 || self.used.is_some_and(|u| u >= self.limit)
    }

    fn message(&self) -> String {
        match self.used {
            Some(used) => format!(
                "{} cap reached: {used} of {} already sent in this window",
                self.period, self.limit
            ),
            None => format!("{} cap of {}", self.period, self.limit),
        }
    }
}

/// The conversion a firing (or suppressed) rule would store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewedConversion {
    pub event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_event_code: Option<String>,
    pub event_time: i64,
    /// The TikTok event object exactly as it would be sent.
    pub payload: Value,
}

/// Everything a preview says about one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub rule: String,
    pub pixel: String,
    pub event: String,
    pub outcome: Outcome,
    /// Empty when the rule fires.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion: Option<PreviewedConversion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<CapStatus>,
    /// Properties left out because a transform could not compute them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Explanation {
    /// Records the store's counts for [`Explanation::caps`] (same order); a full window suppresses a
    /// rule that would otherwise fire.
    pub fn apply_cap_usage(&mut self, used: &[u64]) {
        for (cap, used) in self.caps.iter_mut().zip(used) {
            cap.used = Some(*used);
        }
        if self.outcome != Outcome::Fires {
            return;
        }
        if let Some(full) = self.caps.iter().find(|c| c.reached()) {
            self.outcome = Outcome::Suppressed;
            self.reasons.push(Reason::Cap(full.clone()));
        }
    }
}

/// The conversions `event` of `lead` produces under `rules` at `now_ms` (the gateway's clock, for
/// cap windows), in rule order: one per rule whose trigger and conditions hold.
pub fn plan(
    lead: &Lead,
    event: &LifecycleEvent,
    rules: &[Rule],
    now_ms: i64,
) -> Result<Vec<NewConversion>, serde_json::Error> {
    let mut out = Vec::new();
    for rule in rules {
        if rule.trigger != event.trigger || !rule.when.holds(lead, event) {
            continue;
        }
        let mut notes = Vec::new();
        let mut conversion = build_conversion(lead, event, rule, &mut notes)?;
        for note in &notes {
            tracing::debug!(rule = %rule.name, transaction_id = %event.transaction_id, "{note}");
        }
        match schedule_check(rule, event) {
            Err(outside) => conversion.suppressed = Some(outside.reason()),
            Ok(()) => conversion.caps = rule.caps.checks(now_ms, rule.timezone),
        }
        out.push(conversion);
    }
    Ok(out)
}

/// For every rule, what it does with `event` and why; caps are listed with their windows at
/// `now_ms` but not counted (see [`Explanation::apply_cap_usage`]).
pub fn explain(
    lead: &Lead,
    event: &LifecycleEvent,
    rules: &[Rule],
    now_ms: i64,
) -> Result<Vec<Explanation>, serde_json::Error> {
    rules
        .iter()
        .map(|rule| explain_one(lead, event, rule, now_ms))
        .collect()
}

fn explain_one(
    lead: &Lead,
    event: &LifecycleEvent,
    rule: &Rule,
    now_ms: i64,
) -> Result<Explanation, serde_json::Error> {
    let mut explanation = Explanation {
        rule: rule.name.clone(),
        pixel: rule.pixel.clone(),
        event: rule.event.as_str().to_owned(),
        outcome: Outcome::Skipped,
        reasons: Vec::new(),
        conversion: None,
        caps: Vec::new(),
        notes: Vec::new(),
    };
    if rule.trigger != event.trigger {
        explanation.reasons.push(Reason::Trigger {
            wanted: rule.trigger,
            got: event.trigger,
            message: format!(
                "the event is {}, the rule fires on {}",
                event.trigger, rule.trigger
            ),
        });
        return Ok(explanation);
    }
    let unmet = rule.when.unmet(lead, event);
    let conditions_hold = unmet.is_empty();
    explanation
        .reasons
        .extend(unmet.into_iter().map(Reason::Condition));
    let in_schedule = match schedule_check(rule, event) {
        Ok(()) => true,
        Err(outside) => {
            explanation.reasons.push(Reason::Schedule(outside));
            false
        }
    };
    if !conditions_hold {
        return Ok(explanation);
    }
    let conversion = build_conversion(lead, event, rule, &mut explanation.notes)?;
    explanation.conversion = Some(PreviewedConversion {
        payload: serde_json::from_str(&conversion.payload)?,
        event_id: conversion.event_id,
        test_event_code: conversion.test_event_code,
        event_time: conversion.event_time,
    });
    explanation.caps = rule
        .caps
        .checks(now_ms, rule.timezone)
        .into_iter()
        .map(|c: CapCheck| CapStatus {
            period: c.period,
            limit: c.limit,
            window_start_ms: c.window_start_ms,
            used: None,
        })
        .collect();
    explanation.outcome = if in_schedule {
        Outcome::Fires
    } else {
        Outcome::Suppressed
    };
    Ok(explanation)
}

fn schedule_check(rule: &Rule, event: &LifecycleEvent) -> Result<(), Outside> {
    match &rule.schedule {
        Some(schedule) => schedule.check(event.occurred_at, rule.timezone),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::rule::{RuleConfig, RuleEnv, RuleSet, parse_timezone};
    use crate::rules::testing::{event, lead};

    fn rules(toml_src: &str, tz: &str) -> RuleSet {
        #[derive(serde::Deserialize)]
        struct File {
            rules: Vec<RuleConfig>,
        }
        let file: File = toml::from_str(toml_src).unwrap();
        let env = RuleEnv {
            timezone: parse_timezone(tz).unwrap(),
        };
        RuleSet::load(file.rules, &env).unwrap()
    }

    const TWO_PIXELS: &str = r#"
        [[rules]]
        name = "sale_a"
        trigger = "lead_sold"
        pixel = "PIXA"
        event = "Purchase"
        value = "revenue"

        [[rules]]
        name = "sale_b"
        trigger = "lead_sold"
        pixel = "PIXB"
        event = "SubmitApplication"
        event_id = "{transaction_id}:{buyer}"

        [[rules]]
        name = "registration"
        trigger = "form_submit"
        pixel = "PIXA"
        event = "CompleteRegistration"

        [[rules]]
        name = "big_sale"
        trigger = "lead_sold"
        pixel = "PIXA"
        event = "Subscribe"
        [rules.when]
        revenue = { gte = 100 }
    "#;

    #[test]
    fn one_event_fires_one_conversion_per_matching_rule_each_with_its_own_key() {
        let set = rules(TWO_PIXELS, "UTC");
        let planned = plan(&lead(), &event(), set.rules(), 0).unwrap();
        let keys: Vec<_> = planned
            .iter()
            .map(|c| {
                (
                    c.rule.as_str(),
                    c.pixel.as_str(),
                    c.event_name.as_str(),
                    c.event_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("sale_a", "PIXA", "Purchase", "tx-1"),
                ("sale_b", "PIXB", "SubmitApplication", "tx-1:acme"),
            ]
        );
        assert!(
            planned
                .iter()
                .all(|c| c.caps.is_empty() && c.suppressed.is_none())
        );
    }

    #[test]
    fn explain_says_why_each_rule_does_or_does_not_fire() {
        let set = rules(TWO_PIXELS, "UTC");
        let explained = explain(&lead(), &event(), set.rules(), 0).unwrap();
        let outcomes: Vec<_> = explained
            .iter()
            .map(|x| (x.rule.as_str(), x.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("sale_a", Outcome::Fires),
                ("sale_b", Outcome::Fires),
                ("registration", Outcome::Skipped),
                ("big_sale", Outcome::Skipped),
            ]
        );
        assert_eq!(
            explained[2].reasons[0].message(),
            "the event is lead_sold, the rule fires on form_submit"
        );
        assert_eq!(
            explained[3].reasons[0].message(),
            "when.revenue.gte: revenue is 12.5, wanted ≥ 100"
        );
        let payload = &explained[0].conversion.as_ref().unwrap().payload;
        assert_eq!(payload["properties"]["value"], serde_json::json!(12.5));
        let json = serde_json::to_value(&explained[3]).unwrap();
        assert_eq!(json["outcome"], "skipped");
        assert_eq!(json["reasons"][0]["reason"], "condition");
        assert_eq!(json["reasons"][0]["actual"], 12.5);
    }

    const CAPPED_AND_SCHEDULED: &str = r#"
        [[rules]]
        name = "office_hours"
        trigger = "lead_sold"
        pixel = "P"
        event = "Purchase"
        [rules.schedule]
        days = ["mon-fri"]
        hours = "09:00-18:00"
        [rules.cap]
        daily = 2
        hourly = 1
    "#;

    #[test]
    fn outside_the_schedule_the_conversion_is_planned_suppressed_without_caps() {
        let set = rules(CAPPED_AND_SCHEDULED, "America/New_York");
        let mut ev = event();
        // Mon 2024-06-03 20:00 UTC = 16:00 EDT: inside.
        ev.occurred_at = 1_717_444_800;
        let now = 1_717_444_800_000;
        let inside = plan(&lead(), &ev, set.rules(), now).unwrap();
        assert_eq!(inside[0].suppressed, None);
        let caps: Vec<_> = inside[0].caps.iter().map(|c| (c.period, c.limit)).collect();
        assert_eq!(caps, [(CapPeriod::Hourly, 1), (CapPeriod::Daily, 2)]);
        // Day window: 2024-06-03 00:00 EDT = 04:00 UTC.
        assert_eq!(inside[0].caps[1].window_start_ms, 1_717_387_200_000);

        // Mon 23:00 UTC = 19:00 EDT: outside, suppressed with the reason, no cap counted.
        ev.occurred_at = 1_717_455_600;
        let outside = plan(&lead(), &ev, set.rules(), now).unwrap();
        assert_eq!(
            outside[0].suppressed.as_deref(),
            Some(
                "schedule: event at Mon 2024-06-03 19:00 America/New_York is outside mon,tue,wed,thu,fri 09:00-18:00"
            )
        );
        assert!(outside[0].caps.is_empty());
        let explained = explain(&lead(), &ev, set.rules(), now).unwrap();
        assert_eq!(explained[0].outcome, Outcome::Suppressed);
        assert!(matches!(explained[0].reasons[0], Reason::Schedule(_)));
        assert!(
            explained[0].conversion.is_some(),
            "suppressed conversions are still shown"
        );
    }

    #[test]
    fn counted_caps_suppress_a_firing_rule_in_the_explanation() {
        let set = rules(CAPPED_AND_SCHEDULED, "UTC");
        let mut ev = event();
        ev.occurred_at = 1_717_426_800; // Mon 2024-06-03 15:00 UTC
        let mut x = explain(&lead(), &ev, set.rules(), 1_717_426_800_000)
            .unwrap()
            .remove(0);
        assert_eq!(x.outcome, Outcome::Fires);
        x.apply_cap_usage(&[0, 2]);
        assert_eq!(x.outcome, Outcome::Suppressed);
        assert_eq!(
            x.reasons[0].message(),
            "daily cap reached: 2 of 2 already sent in this window"
        );
        assert_eq!(x.caps[0].used, Some(0));
    }
}
