//! Values a rule computes for the TikTok event: literals, templates over lead/lifecycle fields, and
//! typed transforms (number with rounding, integer, string, boolean, lookup table, date to epoch
//! seconds). Each target key has TikTok's type ([`Ty`]): ids are strings, value/price numbers,
//! quantities integers. Literals are converted and checked at config load; computed values are
//! converted at match time, and one that cannot be (a price of `"n/a"`) is left out with a note rather
//! than sent with the wrong type.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::cap::first_instant_at_or_after;
use super::field::{FieldPath, Val, parse_number};
use super::issues::{Issues, describe, index, join};
use super::template::Template;
use crate::domain::{Lead, LifecycleEvent};

/// The type TikTok expects at a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Number,
    Integer,
    Text,
    Bool,
    /// A list of strings (`content_ids`).
    TextList,
    /// `contents`: a list of item tables with typed keys.
    Contents,
    /// Not typed by TikTok (custom properties): kept as computed.
    Any,
}

impl Ty {
    fn word(self) -> &'static str {
        match self {
            Ty::Number => "a number",
            Ty::Integer => "an integer",
            Ty::Text => "a string",
            Ty::Bool => "true or false",
            Ty::TextList => "a list of strings",
            Ty::Contents => "a list of content tables",
            Ty::Any => "a value",
        }
    }
}

/// How a computed value is converted (`as = "..."`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cast {
    /// As read: a field keeps its JSON type, a template is a string.
    Keep,
    /// A number, rounded to `round` decimals when set.
    Number {
        round: Option<u32>,
    },
    /// A whole number (rounded half away from zero).
    Integer,
    Text,
    Bool,
    /// A date or date-time (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]`, `MM/DD/YYYY`; local ones in the
    /// rule's time zone) or a unix time, to unix seconds.
    EpochSeconds,
    /// One string, or each item of a list as a string.
    TextList,
}

/// Where a computed value is read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Field(FieldPath),
    Template(Template),
}

/// A value expression, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Already of the key's type.
    Const(Value),
    Computed {
        source: Source,
        /// Lookup table applied to the source's text before the cast.
        map: Option<Map<String, Value>>,
        /// Used when the source is missing or the lookup has no entry.
        default: Option<Value>,
        cast: Cast,
    },
    List(Vec<Expr>),
    Object(Vec<(String, Expr)>),
}

/// What an expression is evaluated against.
pub struct Ctx<'a> {
    pub lead: &'a Lead,
    pub event: &'a LifecycleEvent,
    pub tz: Tz,
}

/// The cast a key's type implies when the config gives none.
fn default_cast(ty: Ty) -> Cast {
    match ty {
        Ty::Number => Cast::Number { round: None },
        Ty::Integer => Cast::Integer,
        Ty::Text => Cast::Text,
        Ty::Bool => Cast::Bool,
        Ty::TextList => Cast::TextList,
        Ty::Contents | Ty::Any => Cast::Keep,
    }
}

/// Types of the keys of one `contents` item.
fn content_key_type(key: &str) -> Ty {
    match key {
        "content_id" | "content_category" | "content_name" | "brand" => Ty::Text,
        "price" => Ty::Number,
        "quantity" => Ty::Integer,
        _ => Ty::Any,
    }
}

/// Parses the config value `v` for a key of type `ty` at `path`.
pub fn parse(v: &Value, ty: Ty, path: &str, issues: &mut Issues) -> Option<Expr> {
    if ty == Ty::Contents && !v.is_array() {
        issues.push(path, format!("expected {}, got {}", ty.word(), describe(v)));
        return None;
    }
    match v {
        Value::Object(table) if table.contains_key("from") || table.contains_key("template") => {
            parse_computed(table, ty, path, issues)
        }
        Value::Object(table) if ty == Ty::Any => {
            let before = issues.len();
            let fields: Vec<(String, Expr)> = table
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), parse(v, Ty::Any, &join(path, k), issues)?)))
                .collect();
            (issues.len() == before).then_some(Expr::Object(fields))
        }
        Value::Array(items) if matches!(ty, Ty::Any | Ty::TextList | Ty::Contents) => {
            let item_ty = match ty {
                Ty::TextList => Ty::Text,
                _ => Ty::Any,
            };
            let before = issues.len();
            let exprs: Vec<Expr> = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let path = index(path, i);
                    if ty == Ty::Contents {
                        parse_content(item, &path, issues)
                    } else {
                        parse(item, item_ty, &path, issues)
                    }
                })
                .collect();
            (issues.len() == before).then_some(Expr::List(exprs))
        }
        Value::String(s) => parse_string(s, ty, path, issues),
        Value::Number(_) | Value::Bool(_) if ty == Ty::TextList => {
            parse(v, Ty::Text, path, issues).map(|e| Expr::List(vec![e]))
        }
        Value::Number(_) | Value::Bool(_) => match convert(v, ty) {
            Ok(c) => Some(Expr::Const(c)),
            Err(problem) => {
                issues.push(path, problem);
                None
            }
        },
        other => {
            let hint = if matches!(other, Value::Object(_)) {
                " (write { from = \"<field>\" } or { template = \"…\" } to compute it)"
            } else {
                ""
            };
            issues.push(
                path,
                format!("expected {}, got {}{hint}", ty.word(), describe(other)),
            );
            None
        }
    }
}

fn parse_content(item: &Value, path: &str, issues: &mut Issues) -> Option<Expr> {
    let Value::Object(table) = item else {
        issues.push(
            path,
            format!(
                "expected a content table like {{ content_id = \"{{offer}}\", price = 10, quantity = 1 }}, got {}",
                describe(item)
            ),
        );
        return None;
    };
    let before = issues.len();
    let fields: Vec<(String, Expr)> = table
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.clone(),
                parse(v, content_key_type(k), &join(path, k), issues)?,
            ))
        })
        .collect();
    (issues.len() == before).then_some(Expr::Object(fields))
}

/// A string: a template when it has placeholders, otherwise a literal converted to the key's type.
fn parse_string(s: &str, ty: Ty, path: &str, issues: &mut Issues) -> Option<Expr> {
    let template = match Template::parse(s) {
        Ok(t) => t,
        Err(e) => {
            issues.push(path, e.to_string());
            return None;
        }
    };
    if !template.is_literal() {
        return Some(Expr::Computed {
            source: Source::Template(template),
            map: None,
            default: None,
            cast: default_cast(ty),
        });
    }
    let text = Value::String(template.source().replace("{{", "{").replace("}}", "}"));
    if ty == Ty::TextList {
        return Some(Expr::List(vec![Expr::Const(text)]));
    }
    match convert(&text, ty) {
        Ok(c) => Some(Expr::Const(c)),
        Err(problem) => {
            issues.push(path, problem);
            None
        }
    }
}

/// `{ from = "<field>" | template = "…", as = "…", round = N, map = {…}, default = … }`.
fn parse_computed(
    table: &Map<String, Value>,
    ty: Ty,
    path: &str,
    issues: &mut Issues,
) -> Option<Expr> {
    let before = issues.len();
    for key in table.keys() {
        if !["from", "template", "as", "round", "map", "default"].contains(&key.as_str()) {
            issues.push(
                join(path, key),
                "unknown key (expected from or template, and optionally as, round, map, default)",
            );
        }
    }
    let source = match (table.get("from"), table.get("template")) {
        (Some(_), Some(_)) => {
            issues.push(path, "give from or template, not both");
            None
        }
        (Some(Value::String(name)), None) => match FieldPath::parse(name) {
            Ok(f) => Some(Source::Field(f)),
            Err(e) => {
                issues.push(join(path, "from"), e);
                None
            }
        },
        (None, Some(Value::String(src))) => match Template::parse(src) {
            Ok(t) => Some(Source::Template(t)),
            Err(e) => {
                issues.push(join(path, "template"), e.to_string());
                None
            }
        },
        (Some(other), None) | (None, Some(other)) => {
            issues.push(
                path,
                format!("from/template must be a string, got {}", describe(other)),
            );
            None
        }
        (None, None) => None,
    };
    let round = match table.get("round") {
        None => None,
        Some(v) => match v.as_u64().filter(|n| *n <= 12) {
            Some(n) => Some(n as u32),
            None => {
                issues.push(
                    join(path, "round"),
                    format!("expected decimals from 0 to 12, got {}", describe(v)),
                );
                None
            }
        },
    };
    let cast = match table.get("as") {
        None => match default_cast(ty) {
            Cast::Number { .. } => Cast::Number { round },
            Cast::Keep if round.is_some() => Cast::Number { round },
            other => other,
        },
        Some(Value::String(word)) => match word.as_str() {
            "number" => Cast::Number { round },
            "integer" => Cast::Integer,
            "string" => Cast::Text,
            "bool" => Cast::Bool,
            "epoch_seconds" => Cast::EpochSeconds,
            "list" => Cast::TextList,
            other => {
                issues.push(
                    join(path, "as"),
                    format!("unknown conversion {other:?} (expected number, integer, string, bool, epoch_seconds or list)"),
                );
                Cast::Keep
            }
        },
        Some(other) => {
            issues.push(
                join(path, "as"),
                format!("expected a conversion name, got {}", describe(other)),
            );
            Cast::Keep
        }
    };
    if round.is_some() && !matches!(cast, Cast::Number { .. }) {
        issues.push(join(path, "round"), "round only applies to as = \"number\"");
    }
    let allowed = match ty {
        Ty::Number => matches!(cast, Cast::Number { .. } | Cast::Integer),
        Ty::Integer => matches!(cast, Cast::Integer | Cast::EpochSeconds),
        Ty::Text => matches!(cast, Cast::Text),
        Ty::Bool => matches!(cast, Cast::Bool),
        Ty::TextList => matches!(cast, Cast::TextList),
        Ty::Contents => false,
        Ty::Any => true,
    };
    if !allowed && table.contains_key("as") {
        issues.push(
            join(path, "as"),
            format!("TikTok expects {} here", ty.word()),
        );
    } else if ty == Ty::Contents {
        issues.push(
            path,
            "contents is a list of tables; compute its items' keys instead",
        );
    }
    let map = match table.get("map") {
        None => None,
        Some(Value::Object(m)) if !m.is_empty() => {
            for (k, v) in m {
                if !matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                    issues.push(
                        join(&join(path, "map"), k),
                        format!("expected a string, number or boolean, got {}", describe(v)),
                    );
                }
            }
            Some(m.clone())
        }
        Some(other) => {
            issues.push(
                join(path, "map"),
                format!(
                    "expected a table like {{ yes = \"Own\", no = \"Rent\" }}, got {}",
                    describe(other)
                ),
            );
            None
        }
    };
    let default = match table.get("default") {
        None => None,
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Some(v.clone()),
        Some(other) => {
            issues.push(
                join(path, "default"),
                format!(
                    "expected a string, number or boolean, got {}",
                    describe(other)
                ),
            );
            None
        }
    };
    // Literal outputs (lookup results, default) must convert, so a typo fails at load.
    let literals = map
        .iter()
        .flat_map(|m| m.iter().map(|(k, v)| (join(&join(path, "map"), k), v)));
    let literals = literals.chain(default.iter().map(|v| (join(path, "default"), v)));
    for (at, v) in literals {
        if let Err(problem) = cast_value(Some(Val::from_json(v)).flatten(), cast, Tz::UTC) {
            issues.push(at, problem);
        }
    }
    if issues.len() != before {
        return None;
    }
    let source = source?;
    Some(Expr::Computed {
        source,
        map,
        default,
        cast,
    })
}

/// Converts a literal to `ty` at load.
fn convert(v: &Value, ty: Ty) -> Result<Value, String> {
    let cast = default_cast(ty);
    match (ty, v) {
        (Ty::Any, _) => Ok(v.clone()),
        (Ty::Text, Value::Bool(_)) | (Ty::Number | Ty::Integer, Value::Bool(_)) => {
            Err(format!("expected {}, got {}", ty.word(), describe(v)))
        }
        (Ty::Bool, Value::String(_) | Value::Number(_)) => {
            Err(format!("expected {}, got {}", ty.word(), describe(v)))
        }
        (Ty::Integer, Value::Number(n)) if n.as_i64().is_none() => {
            Err(format!("expected {}, got {}", ty.word(), describe(v)))
        }
        _ => cast_value(Val::from_json(v), cast, Tz::UTC)
            .map_err(|_| format!("expected {}, got {}", ty.word(), describe(v))),
    }
}

impl Expr {
    /// Evaluates; `None` leaves the key out. `path` names the key in `notes`.
    pub fn eval(&self, ctx: &Ctx<'_>, path: &str, notes: &mut Vec<String>) -> Option<Value> {
        match self {
            Expr::Const(v) => Some(v.clone()),
            Expr::List(items) => Some(Value::Array(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| e.eval(ctx, &index(path, i), notes))
                    .collect(),
            )),
            Expr::Object(fields) => Some(Value::Object(
                fields
                    .iter()
                    .filter_map(|(k, e)| Some((k.clone(), e.eval(ctx, &join(path, k), notes)?)))
                    .collect(),
            )),
            Expr::Computed {
                source,
                map,
                default,
                cast,
            } => {
                let rendered;
                let read: Result<Val<'_>, String> = match source {
                    Source::Field(f) => f
                        .resolve(ctx.lead, ctx.event)
                        .ok_or_else(|| format!("{f} is missing")),
                    Source::Template(t) => match t.single_field() {
                        Some(f) => f
                            .resolve(ctx.lead, ctx.event)
                            .ok_or_else(|| format!("{f} is missing")),
                        None => match t.render_complete(ctx.lead, ctx.event) {
                            Ok(s) => {
                                rendered = s;
                                Ok(Val::Str(&rendered))
                            }
                            Err(missing) => Err(format!("{missing} is missing")),
                        },
                    },
                };
                let looked_up = match (read, map) {
                    (Ok(v), Some(table)) => {
                        let key = v.text();
                        let hit = table.get(key.as_ref()).or_else(|| {
                            table
                                .iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                                .map(|(_, v)| v)
                        });
                        hit.and_then(Val::from_json)
                            .ok_or_else(|| format!("no map entry for {:?}", key.as_ref()))
                    }
                    (other, _) => other,
                };
                let input = match looked_up {
                    Ok(v) => v,
                    Err(why) => match default.as_ref().and_then(Val::from_json) {
                        Some(d) => d,
                        None => {
                            notes.push(format!("{path} left out: {why}"));
                            return None;
                        }
                    },
                };
                match cast_value(Some(input), *cast, ctx.tz) {
                    Ok(v) => Some(v),
                    Err(problem) => {
                        notes.push(format!("{path} left out: {problem}"));
                        None
                    }
                }
            }
        }
    }
}

/// Converts a value (`None` = missing) with `cast`.
pub fn cast_value(v: Option<Val<'_>>, cast: Cast, tz: Tz) -> Result<Value, String> {
    let Some(v) = v else {
        return Err("the value is missing".into());
    };
    let not = |what: &str| format!("{} is not {what}", v.to_json());
    match cast {
        Cast::Keep => Ok(v.to_json()),
        Cast::Text => Ok(Value::String(v.text().into_owned())),
        Cast::Number { round } => {
            let n = v.as_number().ok_or_else(|| not("a number"))?;
            let n = match round {
                Some(d) => {
                    let f = 10f64.powi(d as i32);
                    (n * f).round() / f
                }
                None => n,
            };
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| not("a finite number"))
        }
        Cast::Integer => {
            let n = v.as_number().ok_or_else(|| not("a number"))?.round();
            if n.abs() >= 9.0e15 {
                return Err(not("an integer in range"));
            }
            Ok(Value::from(n as i64))
        }
        Cast::Bool => match v {
            Val::Bool(b) => Ok(Value::Bool(b)),
            Val::Num(n) if n == 0.0 || n == 1.0 => Ok(Value::Bool(n == 1.0)),
            Val::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "0" => Ok(Value::Bool(false)),
                _ => Err(not("true or false")),
            },
            _ => Err(not("true or false")),
        },
        Cast::EpochSeconds => epoch_seconds(v, tz)
            .map(Value::from)
            .ok_or_else(|| not("a date")),
        Cast::TextList => match v {
            Val::List(items) => Ok(Value::Array(
                items
                    .iter()
                    .filter_map(Val::from_json)
                    .map(|i| Value::String(i.text().into_owned()))
                    .collect(),
            )),
            other => Ok(Value::Array(vec![Value::String(other.text().into_owned())])),
        },
    }
}

/// Unix seconds of a date, date-time or unix time (numbers above 10^10 are taken for milliseconds).
fn epoch_seconds(v: Val<'_>, tz: Tz) -> Option<i64> {
    let from_number = |n: f64| {
        let n = if n.abs() > 9_999_999_999.0 {
            n / 1000.0
        } else {
            n
        };
        Some(n.trunc() as i64)
    };
    let s = match v {
        Val::Num(n) => return from_number(n),
        Val::Str(s) => s.trim(),
        _ => return None,
    };
    if let Some(n) = parse_number(s) {
        return from_number(n);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    let local = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%m/%d/%Y"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    first_instant_at_or_after(local, tz).map(|ms| ms.div_euclid(1000))
}
