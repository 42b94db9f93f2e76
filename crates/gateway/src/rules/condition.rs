//! Conditions (`[rules.when]`): tests of lead and lifecycle fields with `eq`, `ne`, `in`, `not_in`,
//! `lt`, `lte`, `gt`, `gte`, `contains`, `exists`, combined with `all` / `any` (nested). Parsed from
//! config values with every problem reported at its path; evaluated either fast (does it hold?) or
//! fully (what failed, with the actual values, for previews).
//!
//! Comparison rules, decided once here:
//! - Numbers compare as numbers: when either side is a number, a string on the other side that reads as
//!   a number (`"10.0"`, `" 12 "`) compares numerically; one that does not (`"n/a"`) compares as text,
//!   so it is never equal to a number and never passes `lt`/`gt`.
//! - Two strings compare exactly (case-sensitive; `"02134"` is not `"2134"`), except that a literal
//!   compared with `country` is upper-cased first, as the lead's country is stored.
//! - A missing field (or JSON `null`) fails `eq`, `in`, `contains`, the ordering operators and
//!   `exists = true`; it passes `ne`, `not_in` and `exists = false`.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};

use super::field::{FieldKind, FieldPath, Val, format_number, number_json, parse_number};
use super::issues::{Issues, describe, index, join};
use crate::domain::{Lead, LifecycleEvent, Trigger};

/// Operator names, as written in the config.
pub const OPERATORS: &[&str] = &[
    "eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "contains", "exists",
];

/// A literal a condition compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// One operator with its operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(Lit),
    Ne(Lit),
    In(Vec<Lit>),
    NotIn(Vec<Lit>),
    Lt(f64),
    Lte(f64),
    Gt(f64),
    Gte(f64),
    Contains(Lit),
    Exists(bool),
}

/// A validated condition tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Every item holds (`[rules.when]` itself is one).
    All { path: String, items: Vec<Condition> },
    /// At least one item holds.
    Any { path: String, items: Vec<Condition> },
    /// One operator on one field; `path` is the operator's config path (`when.all[1].gt`).
    Test {
        path: String,
        field: FieldPath,
        op: Op,
    },
}

/// A condition that did not hold, with what was expected and what the lead/event had.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmet {
    /// Config path of the failing operator or `any`.
    pub path: String,
    /// The field tested (absent for `any`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `eq`, `gte`, …, or `any`.
    pub op: &'static str,
    /// The operand (absent for `any`).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub expected: Value,
    /// The field's value; `null` when missing.
    pub actual: Value,
    /// One line for people: `revenue is 5, wanted ≥ 10`.
    pub message: String,
    /// For `any`: why each alternative failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Unmet>,
}

impl Condition {
    /// Whether the condition holds (short-circuits; the ingest path).
    pub fn holds(&self, lead: &Lead, event: &LifecycleEvent) -> bool {
        match self {
            Condition::All { items, .. } => items.iter().all(|c| c.holds(lead, event)),
            Condition::Any { items, .. } => items.iter().any(|c| c.holds(lead, event)),
            Condition::Test { field, op, .. } => op.holds(field.resolve(lead, event)),
        }
    }

    /// Everything that does not hold (empty when the condition holds). An `all` lists each failing
    /// item; an `any` is one entry with each alternative's failures.
    pub fn unmet(&self, lead: &Lead, event: &LifecycleEvent) -> Vec<Unmet> {
        match self {
            Condition::All { items, .. } => {
                items.iter().flat_map(|c| c.unmet(lead, event)).collect()
            }
            Condition::Any { path, items } => {
                let mut alternatives = Vec::new();
                for item in items {
                    let failed = item.unmet(lead, event);
                    if failed.is_empty() {
                        return Vec::new();
                    }
                    alternatives.extend(failed);
                }
                vec![Unmet {
                    path: path.clone(),
                    field: None,
                    op: "any",
                    expected: Value::Null,
                    actual: Value::Null,
                    message: format!("none of the {} alternatives of {path} holds", items.len()),
                    alternatives,
                }]
            }
            Condition::Test { path, field, op } => {
                let actual = field.resolve(lead, event);
                if op.holds(actual) {
                    return Vec::new();
                }
                vec![Unmet {
                    path: path.clone(),
                    field: Some(field.as_str().to_owned()),
                    op: op.name(),
                    expected: op.operand_json(),
                    actual: actual.map_or(Value::Null, |v| v.to_json()),
                    message: op.explain(field, actual),
                    alternatives: Vec::new(),
                }]
            }
        }
    }

    /// How many single-field tests the tree holds (for summaries).
    pub fn test_count(&self) -> usize {
        match self {
            Condition::All { items, .. } | Condition::Any { items, .. } => {
                items.iter().map(Condition::test_count).sum()
            }
            Condition::Test { .. } => 1,
        }
    }

    /// Whether this is an `all` with nothing in it (no conditions configured).
    pub fn is_empty(&self) -> bool {
        matches!(self, Condition::All { items, .. } if items.is_empty())
    }
}

impl Op {
    /// The config name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "eq",
            Op::Ne(_) => "ne",
            Op::In(_) => "in",
            Op::NotIn(_) => "not_in",
            Op::Lt(_) => "lt",
            Op::Lte(_) => "lte",
            Op::Gt(_) => "gt",
            Op::Gte(_) => "gte",
            Op::Contains(_) => "contains",
            Op::Exists(_) => "exists",
        }
    }

    /// Whether `actual` (`None` = missing) passes.
    pub fn holds(&self, actual: Option<Val<'_>>) -> bool {
        let num = || actual.and_then(|v| v.as_number());
        match self {
            Op::Eq(lit) => actual.is_some_and(|v| lit.matches(v)),
            Op::Ne(lit) => !actual.is_some_and(|v| lit.matches(v)),
            Op::In(lits) => actual.is_some_and(|v| lits.iter().any(|l| l.matches(v))),
            Op::NotIn(lits) => !actual.is_some_and(|v| lits.iter().any(|l| l.matches(v))),
            Op::Lt(n) => num().is_some_and(|a| a < *n),
            Op::Lte(n) => num().is_some_and(|a| a <= *n),
            Op::Gt(n) => num().is_some_and(|a| a > *n),
            Op::Gte(n) => num().is_some_and(|a| a >= *n),
            Op::Contains(lit) => match actual {
                Some(Val::Str(s)) => s.contains(lit.text().as_str()),
                Some(Val::List(items)) => items
                    .iter()
                    .filter_map(Val::from_json)
                    .any(|v| lit.matches(v)),
                _ => false,
            },
            Op::Exists(want) => actual.is_some_and(|v| v.is_present()) == *want,
        }
    }

    fn operand_json(&self) -> Value {
        match self {
            Op::Eq(l) | Op::Ne(l) | Op::Contains(l) => l.to_json(),
            Op::In(ls) | Op::NotIn(ls) => Value::Array(ls.iter().map(Lit::to_json).collect()),
            Op::Lt(n) | Op::Lte(n) | Op::Gt(n) | Op::Gte(n) => number_json(*n),
            Op::Exists(b) => Value::Bool(*b),
        }
    }

    fn explain(&self, field: &FieldPath, actual: Option<Val<'_>>) -> String {
        let mut out = String::new();
        let _ = match actual {
            None => write!(out, "{field} is missing"),
            Some(v) => write!(out, "{field} is {}", v.to_json()),
        };
        let list = |ls: &[Lit]| Value::Array(ls.iter().map(Lit::to_json).collect()).to_string();
        let wanted = match self {
            Op::Eq(l) => format!("wanted {}", l.to_json()),
            Op::Ne(l) => format!("wanted anything but {}", l.to_json()),
            Op::In(ls) => format!("wanted one of {}", list(ls)),
            Op::NotIn(ls) => format!("wanted none of {}", list(ls)),
            Op::Lt(n) => format!("wanted < {}", format_number(*n)),
            Op::Lte(n) => format!("wanted ≤ {}", format_number(*n)),
            Op::Gt(n) => format!("wanted > {}", format_number(*n)),
            Op::Gte(n) => format!("wanted ≥ {}", format_number(*n)),
            Op::Contains(l) => format!("wanted it to contain {}", l.to_json()),
            Op::Exists(true) => "wanted it present".to_owned(),
            Op::Exists(false) => "wanted it absent".to_owned(),
        };
        let not_numeric = matches!(self, Op::Lt(_) | Op::Lte(_) | Op::Gt(_) | Op::Gte(_))
            && actual.is_some_and(|v| v.as_number().is_none());
        if not_numeric {
            let _ = write!(out, ", not a number ({wanted})");
        } else {
            let _ = write!(out, ", {wanted}");
        }
        out
    }
}

impl Lit {
    /// Equality under the module's comparison rules.
    pub fn matches(&self, actual: Val<'_>) -> bool {
        match (self, actual) {
            (_, Val::List(_) | Val::Object(_)) => false,
            (Lit::Num(n), v) => v.as_number() == Some(*n),
            (Lit::Str(s), Val::Num(m)) => parse_number(s) == Some(m),
            (Lit::Bool(b), Val::Bool(a)) => *b == a,
            (lit, v) => lit.text() == v.text(),
        }
    }

    fn text(&self) -> String {
        match self {
            Lit::Str(s) => s.clone(),
            Lit::Num(n) => format_number(*n),
            Lit::Bool(b) => b.to_string(),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Lit::Str(s) => Value::String(s.clone()),
            Lit::Num(n) => number_json(*n),
            Lit::Bool(b) => Value::Bool(*b),
        }
    }
}

/// Builds `[rules.when]`: `min_revenue = N` (`revenue gte N`), field-keyed entries
/// (`buyer = "acme"`, a bare value meaning `eq` and a list meaning `in`, or an operator table like
/// `{ gte = 10, lt = 100 }`), and `all` / `any` lists. Every entry must hold.
pub fn parse_when(
    min_revenue: Option<&Value>,
    fields: &Map<String, Value>,
    all: Option<&Value>,
    any: Option<&Value>,
    issues: &mut Issues,
) -> Condition {
    let mut items = Vec::new();
    if let Some(min) = min_revenue {
        match min.as_f64().filter(|n| n.is_finite()) {
            None => issues.push(
                "when.min_revenue",
                format!("expected a number, got {}", describe(min)),
            ),
            Some(min) => {
                if let Ok(field) = FieldPath::parse("revenue") {
                    items.push(Condition::Test {
                        path: "when.min_revenue".into(),
                        field,
                        op: Op::Gte(min),
                    });
                }
            }
        }
    }
    for (key, value) in fields {
        let path = format!("when.{key}");
        let field = match FieldPath::parse(key) {
            Ok(f) => f,
            Err(e) => {
                issues.push(path, e);
                continue;
            }
        };
        match value {
            Value::Object(ops) => {
                if let Some(c) = parse_ops(&path, field, ops, issues) {
                    items.push(c);
                }
            }
            Value::Array(_) => {
                if let Some(op) = parse_op("in", value, &field, &path, issues) {
                    items.push(Condition::Test { path, field, op });
                }
            }
            _ => {
                if let Some(op) = parse_op("eq", value, &field, &path, issues) {
                    items.push(Condition::Test { path, field, op });
                }
            }
        }
    }
    for (word, list) in [("all", all), ("any", any)] {
        if let Some(list) = list
            && let Some(c) = parse_list(word, list, &format!("when.{word}"), issues)
        {
            items.push(c);
        }
    }
    Condition::All {
        path: "when".into(),
        items,
    }
}

/// `all = [...]` / `any = [...]` at `path`.
fn parse_list(word: &str, list: &Value, path: &str, issues: &mut Issues) -> Option<Condition> {
    let Value::Array(entries) = list else {
        issues.push(
            path,
            format!("expected a list of conditions, got {}", describe(list)),
        );
        return None;
    };
    if entries.is_empty() {
        issues.push(path, "must not be empty");
        return None;
    }
    let items: Vec<Condition> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| parse_entry(entry, &index(path, i), issues))
        .collect();
    if items.len() != entries.len() {
        return None;
    }
    let path = path.to_owned();
    Some(match word {
        "any" => Condition::Any { path, items },
        _ => Condition::All { path, items },
    })
}

/// One list entry: `{ field = "...", <operators> }` or `{ all = [...] }` / `{ any = [...] }`.
fn parse_entry(entry: &Value, path: &str, issues: &mut Issues) -> Option<Condition> {
    let Value::Object(table) = entry else {
        issues.push(
            path,
            format!(
                "expected a condition table like {{ field = \"revenue\", gte = 10 }}, got {}",
                describe(entry)
            ),
        );
        return None;
    };
    let combinator = ["all", "any"].into_iter().find(|w| table.contains_key(*w));
    if let Some(word) = combinator {
        if table.len() != 1 {
            issues.push(
                path,
                format!("a table with {word} = [...] must hold nothing else"),
            );
            return None;
        }
        return parse_list(word, &table[word], &join(path, word), issues);
    }
    let Some(field_value) = table.get("field") else {
        issues.push(
            path,
            "a condition needs field = \"<name>\" and an operator, or all = [...] / any = [...]",
        );
        return None;
    };
    let Value::String(name) = field_value else {
        issues.push(
            join(path, "field"),
            format!("expected a field name, got {}", describe(field_value)),
        );
        return None;
    };
    let field = match FieldPath::parse(name) {
        Ok(f) => f,
        Err(e) => {
            issues.push(join(path, "field"), e);
            return None;
        }
    };
    let mut ops = table.clone();
    ops.remove("field");
    parse_ops(path, field, &ops, issues)
}

/// The operators of one field (`{ gte = 10, lt = 100 }`): one test each, all of which must hold.
fn parse_ops(
    path: &str,
    field: FieldPath,
    ops: &Map<String, Value>,
    issues: &mut Issues,
) -> Option<Condition> {
    if ops.is_empty() {
        issues.push(
            path,
            format!("no operator (expected one of {})", OPERATORS.join(", ")),
        );
        return None;
    }
    let before = issues.len();
    let mut tests = Vec::with_capacity(ops.len());
    for (name, operand) in ops {
        let op_path = join(path, name);
        if let Some(op) = parse_op(name, operand, &field, &op_path, issues) {
            tests.push(Condition::Test {
                path: op_path,
                field: field.clone(),
                op,
            });
        }
    }
    if issues.len() != before {
        return None;
    }
    if tests.len() == 1 {
        return tests.pop();
    }
    Some(Condition::All {
        path: path.to_owned(),
        items: tests,
    })
}

fn parse_op(
    name: &str,
    operand: &Value,
    field: &FieldPath,
    path: &str,
    issues: &mut Issues,
) -> Option<Op> {
    let number = |issues: &mut Issues| match operand.as_f64().filter(|n| n.is_finite()) {
        Some(n) => Some(n),
        None => {
            issues.push(
                path,
                format!("expected a number, got {}", describe(operand)),
            );
            None
        }
    };
    match name {
        "eq" | "ne" => {
            let lit = literal(operand, field, path, issues)?;
            Some(if name == "eq" {
                Op::Eq(lit)
            } else {
                Op::Ne(lit)
            })
        }
        "in" | "not_in" => {
            let Value::Array(items) = operand else {
                issues.push(
                    path,
                    format!("expected a list of values, got {}", describe(operand)),
                );
                return None;
            };
            if items.is_empty() {
                issues.push(path, "expected at least one value");
                return None;
            }
            let before = issues.len();
            let lits: Vec<Lit> = items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| literal(v, field, &index(path, i), issues))
                .collect();
            if issues.len() != before {
                return None;
            }
            Some(if name == "in" {
                Op::In(lits)
            } else {
                Op::NotIn(lits)
            })
        }
        "lt" => number(issues).map(Op::Lt),
        "lte" => number(issues).map(Op::Lte),
        "gt" => number(issues).map(Op::Gt),
        "gte" => number(issues).map(Op::Gte),
        "contains" => {
            if field.kind() == FieldKind::Number {
                issues.push(
                    path,
                    format!("{field} is a number; contains applies to text and lists"),
                );
                return None;
            }
            match operand {
                Value::String(s) => Some(Op::Contains(Lit::Str(s.clone()))),
                Value::Number(_) | Value::Bool(_) => {
                    literal(operand, field, path, issues).map(Op::Contains)
                }
                other => {
                    issues.push(path, format!("expected a string, got {}", describe(other)));
                    None
                }
            }
        }
        "exists" => match operand {
            Value::Bool(b) => Some(Op::Exists(*b)),
            other => {
                issues.push(
                    path,
                    format!("expected true or false, got {}", describe(other)),
                );
                None
            }
        },
        other => {
            issues.push(
                path,
                format!(
                    "unknown operator {other:?} (expected {})",
                    OPERATORS.join(", ")
                ),
            );
            None
        }
    }
}

/// A literal operand, checked against what the field can hold.
fn literal(v: &Value, field: &FieldPath, path: &str, issues: &mut Issues) -> Option<Lit> {
    let lit = match v {
        Value::String(s) => Lit::Str(s.clone()),
        Value::Number(n) => match n.as_f64().filter(|f| f.is_finite()) {
            Some(f) => Lit::Num(f),
            None => {
                issues.push(path, format!("{n} is not a usable number"));
                return None;
            }
        },
        Value::Bool(b) => Lit::Bool(*b),
        other => {
            issues.push(
                path,
                format!(
                    "expected a string, number or boolean, got {} (use in = [...] for a list)",
                    describe(other)
                ),
            );
            return None;
        }
    };
    match (field.kind(), &lit) {
        (FieldKind::Number, Lit::Str(s)) if parse_number(s).is_none() => {
            issues.push(
                path,
                format!("expected a number ({field} is a number), got the string {s:?}"),
            );
            return None;
        }
        (FieldKind::Number, Lit::Bool(_)) => {
            issues.push(
                path,
                format!("expected a number ({field} is a number), got a boolean"),
            );
            return None;
        }
        _ => {}
    }
    if field.as_str() == "trigger"
        && let Lit::Str(s) = &lit
        && let Err(e) = s.parse::<Trigger>()
    {
        issues.push(path, e.to_string());
        return None;
    }
    // Countries are stored upper-case, so `country = "gb"` means GB.
    if *field.field() == super::field::Field::Country
        && let Lit::Str(s) = &lit
    {
        return Some(Lit::Str(s.trim().to_ascii_uppercase()));
    }
    Some(lit)
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
