//! Which rules a lifecycle event fires, and for every rule that does not fire, why. Kept apart from
//! rule parsing and payload building so richer conditions (operators, caps, schedules, transforms) slot
//! in here alone. The "why not" list feeds `POST /v1/preview` and the test postback.

use std::fmt;

use serde::Serialize;

use super::rule::Rule;
use crate::domain::{Lead, LifecycleEvent, Trigger};

/// Why a rule did not fire.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// The rule listens to another trigger.
    Trigger {
        wanted: Trigger,
        got: Trigger,
    },
    Buyer {
        wanted: String,
        got: Option<String>,
    },
    Source {
        wanted: String,
        got: Option<String>,
    },
    Offer {
        wanted: String,
        got: Option<String>,
    },
    MinRevenue {
        min: f64,
        got: Option<f64>,
    },
    /// The custom event's name differs.
    Name {
        wanted: String,
        got: Option<String>,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn shown(v: &Option<String>) -> String {
            v.as_deref()
                .map_or_else(|| "none".to_owned(), |s| format!("{s:?}"))
        }
        match self {
            SkipReason::Trigger { wanted, got } => {
                write!(f, "trigger is {got}, the rule fires on {wanted}")
            }
            SkipReason::Buyer { wanted, got } => {
                write!(f, "buyer is {}, the rule wants {wanted:?}", shown(got))
            }
            SkipReason::Source { wanted, got } => {
                write!(
                    f,
                    "lead source is {}, the rule wants {wanted:?}",
                    shown(got)
                )
            }
            SkipReason::Offer { wanted, got } => {
                write!(f, "offer is {}, the rule wants {wanted:?}", shown(got))
            }
            SkipReason::MinRevenue { min, got } => match got {
                Some(r) => write!(f, "revenue {r} is below the rule's min_revenue {min}"),
                None => write!(f, "no revenue, the rule wants at least {min}"),
            },
            SkipReason::Name { wanted, got } => {
                write!(
                    f,
                    "custom event name is {}, the rule wants {wanted:?}",
                    shown(got)
                )
            }
        }
    }
}

/// A rule that did not fire.
#[derive(Debug, Clone, PartialEq)]
pub struct Skip<'r> {
    pub rule: &'r Rule,
    pub reason: SkipReason,
}

/// The outcome of matching one lifecycle event against the rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchReport<'r> {
    /// Rules that fire, in config order.
    pub matched: Vec<&'r Rule>,
    /// Rules that do not, each with the first condition that failed.
    pub skipped: Vec<Skip<'r>>,
}

/// Matches `event` (of `lead`) against `rules`.
pub fn match_rules<'r>(lead: &Lead, event: &LifecycleEvent, rules: &'r [Rule]) -> MatchReport<'r> {
    let mut report = MatchReport::default();
    for rule in rules {
        match first_failure(rule, lead, event) {
            None => report.matched.push(rule),
            Some(reason) => report.skipped.push(Skip { rule, reason }),
        }
    }
    report
}

fn first_failure(rule: &Rule, lead: &Lead, event: &LifecycleEvent) -> Option<SkipReason> {
    if rule.trigger != event.trigger {
        return Some(SkipReason::Trigger {
            wanted: rule.trigger,
            got: event.trigger,
        });
    }
    let when = &rule.when;
    if let Some(wanted) = &when.name
        && event.name.as_ref() != Some(wanted)
    {
        return Some(SkipReason::Name {
            wanted: wanted.clone(),
            got: event.name.clone(),
        });
    }
    if let Some(wanted) = &when.buyer
        && event.buyer.as_ref() != Some(wanted)
    {
        return Some(SkipReason::Buyer {
            wanted: wanted.clone(),
            got: event.buyer.clone(),
        });
    }
    if let Some(wanted) = &when.source
        && lead.source.as_ref() != Some(wanted)
    {
        return Some(SkipReason::Source {
            wanted: wanted.clone(),
            got: lead.source.clone(),
        });
    }
    if let Some(wanted) = &when.offer
        && event.offer.as_ref() != Some(wanted)
    {
        return Some(SkipReason::Offer {
            wanted: wanted.clone(),
            got: event.offer.clone(),
        });
    }
    if let Some(min) = when.min_revenue
        && !event.revenue.is_some_and(|r| r >= min)
    {
        return Some(SkipReason::MinRevenue {
            min,
            got: event.revenue,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::rule::{Rule, RuleConfig, WhenConfig};

    fn rule(name: &str, trigger: &str, when: WhenConfig) -> Rule {
        Rule::from_config(RuleConfig {
            name: name.into(),
            trigger: trigger.into(),
            pixel: "P".into(),
            event: "Purchase".into(),
            value: None,
            currency: None,
            content_type: None,
            event_id: None,
            test_event_code: None,
            when,
        })
        .unwrap()
    }

    fn lead(source: Option<&str>) -> Lead {
        Lead {
            transaction_id: "tx".into(),
            email: None,
            phone: None,
            external_id: None,
            ip: None,
            user_agent: None,
            ttclid: None,
            ttp: None,
            landing_url: None,
            referrer: None,
            source: source.map(Into::into),
            fields: serde_json::Value::Null,
            created_at: 0,
            warnings: vec![],
        }
    }

    fn sold(buyer: Option<&str>, revenue: Option<f64>) -> LifecycleEvent {
        LifecycleEvent {
            id: 1,
            transaction_id: "tx".into(),
            trigger: Trigger::LeadSold,
            name: None,
            buyer: buyer.map(Into::into),
            offer: None,
            revenue,
            currency: None,
            occurred_at: 0,
            idempotency_key: None,
        }
    }

    #[test]
    fn a_buyer_condition_fires_only_for_that_buyer() {
        let rules = [rule(
            "acme-only",
            "lead_sold",
            WhenConfig {
                buyer: Some("acme".into()),
                ..Default::default()
            },
        )];
        let yes = match_rules(&lead(None), &sold(Some("acme"), None), &rules);
        assert_eq!(yes.matched.len(), 1);
        let no = match_rules(&lead(None), &sold(Some("globex"), None), &rules);
        assert!(no.matched.is_empty());
        assert_eq!(
            no.skipped[0].reason,
            SkipReason::Buyer {
                wanted: "acme".into(),
                got: Some("globex".into())
            }
        );
        let none = match_rules(&lead(None), &sold(None, None), &rules);
        assert!(none.skipped[0].reason.to_string().contains("buyer is none"));
    }

    #[test]
    fn trigger_mismatch_is_reported_first() {
        let rules = [rule("reg", "form_submit", WhenConfig::default())];
        let report = match_rules(&lead(None), &sold(None, None), &rules);
        assert_eq!(
            report.skipped[0].reason,
            SkipReason::Trigger {
                wanted: Trigger::FormSubmit,
                got: Trigger::LeadSold
            }
        );
    }

    #[test]
    fn min_revenue_needs_a_revenue_at_least_that_large() {
        let rules = [rule(
            "big",
            "lead_sold",
            WhenConfig {
                min_revenue: Some(10.0),
                ..Default::default()
            },
        )];
        for (revenue, fires) in [(Some(10.0), true), (Some(9.99), false), (None, false)] {
            let r = match_rules(&lead(None), &sold(None, revenue), &rules);
            assert_eq!(r.matched.len() == 1, fires, "{revenue:?}");
        }
    }

    #[test]
    fn source_offer_and_custom_name_conditions_apply() {
        let by_source = [rule(
            "s",
            "lead_sold",
            WhenConfig {
                source: Some("tiktok".into()),
                ..Default::default()
            },
        )];
        assert_eq!(
            match_rules(&lead(Some("tiktok")), &sold(None, None), &by_source)
                .matched
                .len(),
            1
        );
        assert!(
            match_rules(&lead(Some("google")), &sold(None, None), &by_source)
                .matched
                .is_empty()
        );

        let by_name = [rule(
            "c",
            "custom",
            WhenConfig {
                name: Some("deposit".into()),
                ..Default::default()
            },
        )];
        let mut custom = sold(None, None);
        custom.trigger = Trigger::Custom;
        custom.name = Some("deposit".into());
        assert_eq!(match_rules(&lead(None), &custom, &by_name).matched.len(), 1);
        custom.name = Some("withdrawal".into());
        assert!(matches!(
            match_rules(&lead(None), &custom, &by_name).skipped[0].reason,
            SkipReason::Name { .. }
        ));
    }

    #[test]
    fn every_matching_rule_fires_in_config_order() {
        let rules = [
            rule("a", "lead_sold", WhenConfig::default()),
            rule("b", "form_submit", WhenConfig::default()),
            rule("c", "lead_sold", WhenConfig::default()),
        ];
        let r = match_rules(&lead(None), &sold(None, None), &rules);
        let names: Vec<_> = r.matched.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(r.skipped.len(), 1);
    }
}
