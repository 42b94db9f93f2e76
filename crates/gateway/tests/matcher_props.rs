//! Property tests of the rule matcher (`rules::condition`, `rules::matcher`): the operators agree
//! with each other (`ne` is `not eq`, `in [x]` is `eq x`, `lt` is `not gte` on numbers), numeric
//! comparisons follow f64 ordering whether the value is a number or a numeric string, empty `all`
//! holds and empty `any` does not, no operator panics on any JSON value, and a rule fires iff its
//! trigger matches and every condition holds (the fast `holds` and the preview's `unmet` agree).
//! Case counts are kept small so the file runs in well under a second.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use signalpost_gateway::rules::condition::{Condition, Lit, Op};
use signalpost_gateway::rules::field::Val;
use signalpost_gateway::rules::{Outcome, Rule, RuleConfig, WhenConfig, explain, plan};
use signalpost_gateway::{Lead, LifecycleEvent, Trigger};

/// Short strings from a small alphabet, so equal values come up often.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        "[ab1 .]{1,4}",
        Just("acme".to_owned()),
        Just("12".to_owned()),
        Just(" 12.0 ".to_owned()),
        Just("1e3".to_owned()),
        Just("NaN".to_owned()),
        Just("inf".to_owned()),
    ]
}

/// Finite numbers, with small integers over-represented so equality is exercised.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-3i32..15).prop_map(f64::from),
        -1e6f64..1e6,
        Just(1000.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
    ]
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        word().prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[ab]", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        word().prop_map(Lit::Str),
        number().prop_map(Lit::Num),
        any::<bool>().prop_map(Lit::Bool),
    ]
}

/// Every operator, with operands drawn like the values they are compared with.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        lit().prop_map(Op::Eq),
        lit().prop_map(Op::Ne),
        prop::collection::vec(lit(), 1..4).prop_map(Op::In),
        prop::collection::vec(lit(), 1..4).prop_map(Op::NotIn),
        number().prop_map(Op::Lt),
        number().prop_map(Op::Lte),
        number().prop_map(Op::Gt),
        number().prop_map(Op::Gte),
        lit().prop_map(Op::Contains),
        any::<bool>().prop_map(Op::Exists),
    ]
}

/// A lifecycle event whose matchable fields vary.
fn event() -> impl Strategy<Value = LifecycleEvent> {
    (
        prop::option::of(prop_oneof![Just("acme".to_owned()), word()]),
        prop::option::of(word()),
        prop::option::of(number().prop_map(f64::abs)),
        prop::option::of(number().prop_map(f64::abs)),
        prop_oneof![Just(Trigger::LeadSold), Just(Trigger::OfferClick)],
    )
        .prop_map(|(buyer, offer, revenue, payout, trigger)| LifecycleEvent {
            id: 1,
            transaction_id: "tx-1".into(),
            trigger,
            name: None,
            buyer,
            offer,
            revenue,
            payout,
            currency: None,
            occurred_at: 1_700_000_123,
            idempotency_key: None,
        })
}

/// A lead whose source and custom fields vary.
fn lead() -> impl Strategy<Value = Lead> {
    (
        prop::option::of(word()),
        prop::collection::btree_map(
            prop_oneof![Just("a"), Just("b"), Just("state")],
            json_value(),
            0..3,
        ),
    )
        .prop_map(|(source, fields)| Lead {
            transaction_id: "tx-1".into(),
            email: None,
            phone: None,
            phone_by_region: Default::default(),
            phone_digits: None,
            phone_digits_by_region: Default::default(),
            external_id: None,
            country: None,
            ip: None,
            user_agent: None,
            ttclid: None,
            ttp: None,
            fbclid: None,
            fbc: None,
            fbp: None,
            gclid: None,
            gbraid: None,
            wbraid: None,
            meta_lead_id: None,
            tiktok_lead_id: None,
            landing_url: None,
            referrer: None,
            source,
            fields: Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
            created_at: 1_700_000_000,
            warnings: vec![],
        })
}

/// One `{ field = ..., <op> = ... }` entry of a `when.all` / `when.any` list, as written in a config.
fn condition_entry() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        Just("buyer"),
        Just("offer"),
        Just("revenue"),
        Just("payout"),
        Just("source"),
        Just("state"),
        Just("fields.a"),
        Just("fields.b.a"),
    ];
    let operand = prop_oneof![
        word().prop_map(Value::String),
        number().prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
        prop::collection::vec(word().prop_map(Value::String), 1..3).prop_map(Value::Array),
        prop::collection::vec(number().prop_map(|n| json!(n)), 1..3).prop_map(Value::Array),
    ];
    let name = prop_oneof![
        Just("eq"),
        Just("ne"),
        Just("in"),
        Just("not_in"),
        Just("lt"),
        Just("lte"),
        Just("gt"),
        Just("gte"),
        Just("contains"),
        Just("exists"),
    ];
    (field, name, operand).prop_map(|(field, name, operand)| {
        let mut entry = Map::new();
        entry.insert("field".into(), json!(field));
        entry.insert(name.into(), operand);
        Value::Object(entry)
    })
}

/// A `lead_sold` rule with `when.<word> = entries`, or `None` when the config is refused (an operand
/// of the wrong type for its operator or field).
fn rule_with(word: &str, entries: &[Value]) -> Option<Rule> {
    let mut when = WhenConfig::default();
    let list = Some(Value::Array(entries.to_vec()));
    match word {
        "any" => when.any = list,
        _ => when.all = list,
    }
    let config = RuleConfig {
        when,
        ..RuleConfig::new("r", "lead_sold", "PIX", "Purchase")
    };
    Rule::from_config(config).ok()
}

fn fires(rule: &Rule, lead: &Lead, event: &LifecycleEvent) -> bool {
    let planned = plan(lead, event, std::slice::from_ref(rule), 0).unwrap();
    assert!(planned.len() <= 1);
    !planned.is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_operator_panics_and_negations_are_complements(
        op in op(), value in json_value(), l in lit(), lits in prop::collection::vec(lit(), 1..4),
    ) {
        let actual = Val::from_json(&value);
        let _ = op.holds(actual);
        prop_assert_eq!(Op::Ne(l.clone()).holds(actual), !Op::Eq(l.clone()).holds(actual));
        prop_assert_eq!(Op::NotIn(lits.clone()).holds(actual), !Op::In(lits.clone()).holds(actual));
        prop_assert_eq!(Op::In(vec![l.clone()]).holds(actual), Op::Eq(l).holds(actual));
        let any_eq = lits.iter().any(|l| Op::Eq(l.clone()).holds(actual));
        prop_assert_eq!(Op::In(lits).holds(actual), any_eq);
        prop_assert_eq!(Op::Exists(false).holds(actual), !Op::Exists(true).holds(actual));
    }

    #[test]
    fn missing_values_fail_positive_tests_and_pass_negative_ones(l in lit(), n in number()) {
        for op in [Op::Eq(l.clone()), Op::In(vec![l.clone()]), Op::Contains(l.clone()),
                   Op::Lt(n), Op::Lte(n), Op::Gt(n), Op::Gte(n), Op::Exists(true)] {
            prop_assert!(!op.holds(None), "{:?} held on a missing value", op);
            prop_assert!(!op.holds(Val::from_json(&Value::Null)), "{:?} held on null", op);
        }
        for op in [Op::Ne(l.clone()), Op::NotIn(vec![l]), Op::Exists(false)] {
            prop_assert!(op.holds(None), "{:?} failed on a missing value", op);
        }
    }

    #[test]
    fn numeric_comparisons_follow_f64_ordering(a in number(), n in number(), as_text in any::<bool>()) {
        // A number, or the same number written as a string (which compares numerically).
        let text = format!(" {a} ");
        let actual = if as_text { Val::Str(&text) } else { Val::Num(a) };
        let holds = |op: Op| op.holds(Some(actual));
        prop_assert_eq!(holds(Op::Lt(n)), a < n);
        prop_assert_eq!(holds(Op::Lte(n)), a <= n);
        prop_assert_eq!(holds(Op::Gt(n)), a > n);
        prop_assert_eq!(holds(Op::Gte(n)), a >= n);
        prop_assert_eq!(holds(Op::Eq(Lit::Num(n))), a == n);
        prop_assert_eq!(holds(Op::Ne(Lit::Num(n))), a != n);
        // On numbers, exactly one of lt / eq / gt holds; lt is the complement of gte.
        let ordered = [holds(Op::Lt(n)), holds(Op::Eq(Lit::Num(n))), holds(Op::Gt(n))];
        prop_assert_eq!(ordered.iter().filter(|h| **h).count(), 1);
        prop_assert_eq!(holds(Op::Lt(n)), !holds(Op::Gte(n)));
        // A numeric string literal equals the number it reads as.
        prop_assert_eq!(Op::Eq(Lit::Str(format!("{n}"))).holds(Some(Val::Num(a))), a == n);
    }

    #[test]
    fn text_that_is_not_a_number_never_passes_an_ordering(s in "[a-zA-Z$, ]{1,8}", n in number()) {
        prop_assume!(s.trim().parse::<f64>().is_err());
        for op in [Op::Lt(n), Op::Lte(n), Op::Gt(n), Op::Gte(n)] {
            prop_assert!(!op.holds(Some(Val::Str(&s))), "{:?} held on {:?}", op, s);
        }
        prop_assert!(!Op::Eq(Lit::Num(n)).holds(Some(Val::Str(&s))));
    }

    #[test]
    fn combinators_of_nothing_and_of_one_item(lead in lead(), event in event(), op in op()) {
        let empty_all = Condition::All { path: "when".into(), items: vec![] };
        let empty_any = Condition::Any { path: "when.any".into(), items: vec![] };
        prop_assert!(empty_all.holds(&lead, &event));
        prop_assert!(empty_all.unmet(&lead, &event).is_empty());
        prop_assert!(!empty_any.holds(&lead, &event));
        prop_assert_eq!(empty_any.unmet(&lead, &event).len(), 1);

        let field = signalpost_gateway::rules::field::FieldPath::parse("fields.a").unwrap();
        let test = Condition::Test { path: "when.fields.a".into(), field, op };
        let single = test.holds(&lead, &event);
        for wrapped in [
            Condition::All { path: "when".into(), items: vec![test.clone()] },
            Condition::Any { path: "when.any".into(), items: vec![test.clone()] },
        ] {
            prop_assert_eq!(wrapped.holds(&lead, &event), single);
            prop_assert_eq!(wrapped.unmet(&lead, &event).is_empty(), single);
        }
    }
}

proptest! {
    // Each case validates and plans up to seven rules: fewer cases keep the file fast.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_rule_fires_iff_its_trigger_matches_and_all_conditions_hold(
        lead in lead(), event in event(),
        entries in prop::collection::vec(condition_entry(), 1..5),
    ) {
        // Entries the config accepts on their own; each gives a one-condition rule.
        let singles: Vec<(Value, Rule)> = entries
            .into_iter()
            .filter_map(|e| rule_with("all", std::slice::from_ref(&e)).map(|r| (e, r)))
            .collect();
        prop_assume!(!singles.is_empty());
        let entries: Vec<Value> = singles.iter().map(|(e, _)| e.clone()).collect();
        let each: Vec<bool> = singles.iter().map(|(_, r)| fires(r, &lead, &event)).collect();
        let triggered = event.trigger == Trigger::LeadSold;

        let all = rule_with("all", &entries).unwrap();
        let any = rule_with("any", &entries).unwrap();
        prop_assert_eq!(fires(&all, &lead, &event), triggered && each.iter().all(|f| *f));
        prop_assert_eq!(fires(&any, &lead, &event), triggered && each.iter().any(|f| *f));
        for (_, single) in &singles {
            prop_assert_eq!(single.when.holds(&lead, &event), single.when.unmet(&lead, &event).is_empty());
        }

        // The preview agrees with the ingest path, and lists one reason per unmet condition.
        let explained = explain(&lead, &event, &[all.clone(), any], 0).unwrap();
        for x in &explained {
            prop_assert_eq!(x.outcome == Outcome::Fires, x.reasons.is_empty());
        }
        prop_assert_eq!(explained[0].outcome == Outcome::Fires, fires(&all, &lead, &event));
        if triggered {
            let failing = each.iter().filter(|f| !**f).count();
            prop_assert_eq!(explained[0].reasons.len(), failing);
        }
    }
}
