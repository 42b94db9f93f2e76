//! Every operator and combinator, table-driven, against the shared fixture lead (vertical "auto",
//! state "CA", zip "02134", age "34", score 7, tags ["warm","mobile"], empty "", nothing null) and
//! event (lead_sold, buyer acme, offer o-9, revenue 12.5, payout 0, no currency).

use serde_json::Value;

use super::*;
use crate::rules::testing::{event, lead};

/// Parses `[rules.when]` from TOML text; panics on config problems.
fn when(toml_src: &str) -> Condition {
    try_when(toml_src).unwrap_or_else(|e| panic!("{toml_src}: {e:?}"))
}

fn try_when(toml_src: &str) -> Result<Condition, Vec<String>> {
    let cfg: crate::rules::config::WhenConfig = toml::from_str(toml_src).unwrap();
    let mut issues = Issues::default();
    let c = parse_when(
        cfg.min_revenue.as_ref(),
        &cfg.fields,
        cfg.all.as_ref(),
        cfg.any.as_ref(),
        &mut issues,
    );
    if issues.is_empty() {
        Ok(c)
    } else {
        Err(issues
            .into_vec()
            .into_iter()
            .map(|i| format!("{}: {}", i.path, i.problem))
            .collect())
    }
}

fn holds(toml_src: &str) -> bool {
    let (l, e) = (lead(), event());
    let c = when(toml_src);
    let fast = c.holds(&l, &e);
    assert_eq!(
        fast,
        c.unmet(&l, &e).is_empty(),
        "holds and unmet disagree on {toml_src}"
    );
    fast
}

#[test]
fn every_operator_on_every_kind_of_value() {
    let cases: &[(&str, bool)] = &[
        // eq: text exact, numbers numeric, numeric strings vs numbers numeric, strings vs strings as text
        ("buyer = { eq = 'acme' }", true),
        ("buyer = { eq = 'ACME' }", false),
        ("revenue = { eq = 12.5 }", true),
        ("revenue = { eq = '12.50' }", true),
        ("'fields.age' = { eq = 34 }", true),
        ("'fields.age' = { eq = 34.0 }", true),
        ("'fields.age' = { eq = '34.0' }", false),
        ("zip = { eq = '02134' }", true),
        ("zip = { eq = '2134' }", false),
        ("zip = { eq = 2134 }", true),
        ("'fields.score' = { eq = '7' }", true),
        ("'fields.homeowner' = { eq = true }", false),
        ("'fields.tags' = { eq = 'warm' }", false),
        ("'fields.nothing' = { eq = 'x' }", false),
        ("payout = { eq = 0 }", true),
        // ne: negation of eq; missing passes
        ("buyer = { ne = 'globex' }", true),
        ("buyer = { ne = 'acme' }", false),
        ("currency = { ne = 'USD' }", true),
        ("revenue = { ne = 12.5 }", false),
        // in / not_in
        ("'fields.vertical' = { in = ['auto', 'home'] }", true),
        ("'fields.vertical' = { in = ['home', 'life'] }", false),
        ("'fields.score' = { in = [5, 6, 7] }", true),
        ("'fields.missing' = { in = ['a'] }", false),
        ("'fields.vertical' = { not_in = ['home', 'life'] }", true),
        ("'fields.vertical' = { not_in = ['auto'] }", false),
        ("'fields.missing' = { not_in = ['a'] }", true),
        // lt / lte / gt / gte: numbers, numeric strings; anything else fails
        ("revenue = { lt = 13 }", true),
        ("revenue = { lt = 12.5 }", false),
        ("revenue = { lte = 12.5 }", true),
        ("revenue = { lte = 12 }", false),
        ("revenue = { gt = 12 }", true),
        ("revenue = { gt = 12.5 }", false),
        ("revenue = { gte = 12.5 }", true),
        ("revenue = { gte = 13 }", false),
        ("'fields.age' = { gte = 18 }", true),
        ("'fields.price' = { lt = 20 }", true),
        ("'fields.vertical' = { gt = 0 }", false),
        ("'fields.vertical' = { lt = 0 }", false),
        ("currency = { gte = 0 }", false),
        ("occurred_at = { gte = 1700000000 }", true),
        ("payout = { gte = 0 }", true),
        // contains: substring of text, element of a list
        ("landing_url = { contains = 'ttclid=' }", true),
        ("landing_url = { contains = 'gclid=' }", false),
        ("'fields.tags' = { contains = 'warm' }", true),
        ("'fields.tags' = { contains = 'cold' }", false),
        ("'fields.missing' = { contains = 'x' }", false),
        ("'fields.sku' = { contains = '234' }", false),
        // exists: present and not blank
        ("ttclid = { exists = true }", true),
        ("ttp = { exists = true }", false),
        ("ttp = { exists = false }", true),
        ("'fields.empty' = { exists = true }", false),
        ("'fields.nothing' = { exists = false }", true),
        ("'fields.tags' = { exists = true }", true),
        ("payout = { exists = true }", true),
        // several operators on one field: all must hold
        ("revenue = { gte = 10, lt = 20 }", true),
        ("revenue = { gte = 10, lt = 12 }", false),
        // shorthands keep their meaning
        ("buyer = 'acme'", true),
        ("buyer = 'globex'", false),
        ("source = 'tiktok'", true),
        ("offer = 'o-9'", true),
        ("min_revenue = 12.5", true),
        ("min_revenue = 13", false),
        ("state = 'CA'", true),
        ("state = ['NY', 'CA']", true),
        ("trigger = 'lead_sold'", true),
        ("trigger = { in = ['form_submit', 'offer_click'] }", false),
        ("name = 'deposit'", false),
        ("'fields.vertical' = 'auto'", true),
    ];
    for (src, want) in cases {
        assert_eq!(holds(src), *want, "{src}");
    }
}

#[test]
fn all_and_any_combine_and_nest() {
    let cases: &[(&str, bool)] = &[
        (
            "all = [ { field = 'revenue', gte = 10 }, { field = 'buyer', eq = 'acme' } ]",
            true,
        ),
        (
            "all = [ { field = 'revenue', gte = 10 }, { field = 'buyer', eq = 'x' } ]",
            false,
        ),
        (
            "any = [ { field = 'revenue', gte = 100 }, { field = 'buyer', eq = 'acme' } ]",
            true,
        ),
        (
            "any = [ { field = 'revenue', gte = 100 }, { field = 'buyer', eq = 'x' } ]",
            false,
        ),
        (
            "all = [ { field = 'fields.vertical', in = ['auto', 'home'] }, { any = [ { field = 'state', eq = 'NY' }, { all = [ { field = 'zip', exists = true }, { field = 'revenue', lt = 20 } ] } ] } ]",
            true,
        ),
        (
            "all = [ { field = 'fields.vertical', in = ['auto', 'home'] }, { any = [ { field = 'state', eq = 'NY' }, { all = [ { field = 'zip', exists = true }, { field = 'revenue', lt = 10 } ] } ] } ]",
            false,
        ),
        // top-level entries, all and any all hold together
        (
            "buyer = 'acme'\nall = [ { field = 'revenue', gt = 1 } ]\nany = [ { field = 'source', eq = 'tiktok' } ]",
            true,
        ),
        (
            "buyer = 'acme'\nall = [ { field = 'revenue', gt = 1 } ]\nany = [ { field = 'source', eq = 'google' } ]",
            false,
        ),
        // nothing configured: always
        ("", true),
    ];
    for (src, want) in cases {
        assert_eq!(holds(src), *want, "{src}");
    }
}

#[test]
fn unmet_conditions_name_the_path_the_field_and_the_actual_value() {
    let (l, e) = (lead(), event());
    let c = when(
        "buyer = 'globex'\nall = [ { field = 'fields.vertical', in = ['home'] }, { field = 'revenue', gte = 100 } ]",
    );
    let unmet = c.unmet(&l, &e);
    let lines: Vec<_> = unmet
        .iter()
        .map(|u| format!("{}: {}", u.path, u.message))
        .collect();
    assert_eq!(
        lines,
        [
            "when.buyer: buyer is \"acme\", wanted \"globex\"",
            "when.all[0].in: fields.vertical is \"auto\", wanted one of [\"home\"]",
            "when.all[1].gte: revenue is 12.5, wanted ≥ 100",
        ]
    );
    assert_eq!(unmet[2].actual, serde_json::json!(12.5));
    assert_eq!(unmet[2].expected, serde_json::json!(100));
    assert_eq!(unmet[2].field.as_deref(), Some("revenue"));

    assert!(try_when("any = [ { field = 'fields.age', lt = 'x' } ]").is_err());
    let any =
        when("any = [ { field = 'state', eq = 'NY' }, { field = 'fields.vertical', gt = 3 } ]");
    let unmet = any.unmet(&l, &e);
    assert_eq!(unmet.len(), 1);
    assert_eq!(unmet[0].op, "any");
    assert_eq!(unmet[0].alternatives.len(), 2);
    assert_eq!(
        unmet[0].alternatives[1].message,
        "fields.vertical is \"auto\", not a number (wanted > 3)"
    );
    let missing = when("ttp = { exists = true }").unmet(&l, &e);
    assert_eq!(missing[0].actual, Value::Null);
    assert_eq!(missing[0].message, "ttp is missing, wanted it present");
}

#[test]
fn invalid_conditions_are_reported_with_their_path() {
    let cases: &[(&str, &str)] = &[
        (
            "all = [ { field = 'revenue', gt = 'abc' } ]",
            "when.all[0].gt: expected a number",
        ),
        (
            "all = [ { field = 'revenue', greater = 1 } ]",
            "when.all[0].greater: unknown operator",
        ),
        (
            "all = [ { field = 'revenue' } ]",
            "when.all[0]: no operator",
        ),
        (
            "all = [ { gte = 1 } ]",
            "when.all[0]: a condition needs field",
        ),
        (
            "all = [ { field = 'buyr', eq = 'a' } ]",
            "when.all[0].field: unknown field \"buyr\"",
        ),
        (
            "all = [ { field = 3, eq = 'a' } ]",
            "when.all[0].field: expected a field name",
        ),
        ("all = []", "when.all: must not be empty"),
        ("all = 'x'", "when.all: expected a list of conditions"),
        ("all = [ 'x' ]", "when.all[0]: expected a condition table"),
        (
            "any = [ { any = [ { field = 'offer', in = 'x' } ] } ]",
            "when.any[0].any[0].in: expected a list",
        ),
        (
            "any = [ { all = [], field = 'x' } ]",
            "when.any[0]: a table with all",
        ),
        ("buyr = 'acme'", "when.buyr: unknown field"),
        (
            "revenue = { eq = 'ten' }",
            "when.revenue.eq: expected a number (revenue is a number)",
        ),
        (
            "revenue = { contains = '1' }",
            "when.revenue.contains: revenue is a number",
        ),
        (
            "revenue = { in = [] }",
            "when.revenue.in: expected at least one value",
        ),
        (
            "revenue = { in = [1, 'x'] }",
            "when.revenue.in[1]: expected a number",
        ),
        (
            "buyer = { eq = ['a'] }",
            "when.buyer.eq: expected a string, number or boolean",
        ),
        (
            "ttclid = { exists = 'yes' }",
            "when.ttclid.exists: expected true or false",
        ),
        ("trigger = 'sold'", "when.trigger: unknown trigger"),
        ("offer = { lt = true }", "when.offer.lt: expected a number"),
    ];
    for (src, want) in cases {
        let errs = try_when(src).unwrap_err();
        assert!(errs.iter().any(|e| e.starts_with(want)), "{src}: {errs:?}");
    }
    let many =
        try_when("all = [ { field = 'revenue', gt = 'a' }, { field = 'nope', eq = 1 } ]\nbuyr = 1")
            .unwrap_err();
    assert_eq!(many.len(), 3, "every problem is reported: {many:?}");
}

#[test]
fn a_country_literal_matches_whatever_its_case() {
    let mut l = lead();
    l.country = Some("GB".into());
    let e = event();
    for src in [
        "country = 'gb'",
        "country = ' GB '",
        "all = [{ field = 'country', in = ['fr', 'gb'] }]",
    ] {
        assert!(when(src).holds(&l, &e), "{src}");
    }
    assert!(!when("country = 'us'").holds(&l, &e));
}
