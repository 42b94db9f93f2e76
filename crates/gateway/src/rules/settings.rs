//! What a rule sets on the TikTok event beyond the mapping of DESIGN.md: `[rules.properties]` (any
//! property, TikTok-typed: `description`, `content_ids`, `contents`, `order_id`, `shop_id`, custom
//! keys…), `[rules.page]` (`url`, `referrer`) and `limited_data_use`. Parsed and type-checked at
//! load; applied to the event JSON after the standard mapping, so a rule's setting wins over it.

use serde_json::{Map, Value};
use signalpost_tiktok::currency::Currency;

use super::issues::{Issues, describe, join};
use super::rule::CONTENT_TYPES;
use super::transform::{Ctx, Expr, Ty, parse};

/// TikTok's type for a `properties` key; custom keys are untyped.
pub fn property_type(key: &str) -> Ty {
    match key {
        "value" | "price" => Ty::Number,
        "num_items" | "quantity" => Ty::Integer,
        "content_ids" => Ty::TextList,
        "contents" => Ty::Contents,
        "content_id" | "content_type" | "currency" | "description" | "order_id" | "shop_id"
        | "search_string" | "query" | "content_category" | "content_name" | "brand"
        | "customer_type" | "delivery_category" => Ty::Text,
        _ => Ty::Any,
    }
}

/// The keys of `page` TikTok knows.
const PAGE_KEYS: &[&str] = &["url", "referrer"];

/// A rule's settings, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    properties: Vec<(String, Expr)>,
    page: Vec<(String, Expr)>,
    limited_data_use: Option<Expr>,
}

impl Settings {
    /// Parses the three settings (each optional).
    pub fn parse(
        properties: Option<&Value>,
        page: Option<&Value>,
        limited_data_use: Option<&Value>,
        issues: &mut Issues,
    ) -> Settings {
        let mut out = Settings::default();
        if let Some(v) = properties {
            out.properties = parse_table(v, "properties", None, issues);
            for (key, expr) in &out.properties {
                check_literal(key, expr, &join("properties", key), issues);
            }
        }
        if let Some(v) = page {
            out.page = parse_table(v, "page", Some(PAGE_KEYS), issues);
        }
        if let Some(v) = limited_data_use {
            out.limited_data_use = parse(v, Ty::Bool, "limited_data_use", issues);
        }
        out
    }

    /// Whether the rule sets nothing beyond the standard mapping.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty() && self.page.is_empty() && self.limited_data_use.is_none()
    }

    /// Whether `properties.<key>` is set.
    pub fn sets_property(&self, key: &str) -> bool {
        self.properties.iter().any(|(k, _)| k == key)
    }

    /// The rule's settings evaluated for one conversion, ready for its destination to place
    /// (TikTok: `properties`, `page`, `limited_data_use`; Meta: `custom_data`,
    /// `event_source_url`, `data_processing_options`). Values a transform could not compute, or
    /// that break a property's type at run time, are left out and explained in `notes`.
    pub fn evaluate(&self, ctx: &Ctx<'_>, notes: &mut Vec<String>) -> Overlay {
        let mut overlay = Overlay::default();
        for (key, expr) in &self.properties {
            let path = join("properties", key);
            if let Some(v) = expr.eval(ctx, &path, notes) {
                match runtime_problem(key, &v) {
                    Some(problem) => notes.push(format!("{path} left out: {problem}")),
                    None => {
                        overlay.properties.insert(key.clone(), v);
                    }
                }
            }
        }
        for (key, expr) in &self.page {
            if let Some(v) = expr.eval(ctx, &join("page", key), notes) {
                overlay.page.insert(key.clone(), v);
            }
        }
        if let Some(expr) = &self.limited_data_use {
            overlay.limited_data_use = expr.eval(ctx, "limited_data_use", notes);
        }
        overlay
    }
}

/// A rule's `[rules.properties]`, `[rules.page]` and `limited_data_use` as evaluated for one
/// conversion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    pub properties: Map<String, Value>,
    pub page: Map<String, Value>,
    pub limited_data_use: Option<Value>,
}

impl Overlay {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty() && self.page.is_empty() && self.limited_data_use.is_none()
    }
}

fn parse_table(
    v: &Value,
    path: &str,
    allowed: Option<&[&str]>,
    issues: &mut Issues,
) -> Vec<(String, Expr)> {
    let Value::Object(table) = v else {
        issues.push(path, format!("expected a table, got {}", describe(v)));
        return Vec::new();
    };
    let mut out = Vec::with_capacity(table.len());
    for (key, value) in table {
        let at = join(path, key);
        if let Some(allowed) = allowed
            && !allowed.contains(&key.as_str())
        {
            issues.push(
                at,
                format!(
                    "unknown key (TikTok's {path} has {})",
                    allowed.join(" and ")
                ),
            );
            continue;
        }
        let ty = if allowed.is_some() {
            Ty::Text
        } else {
            property_type(key)
        };
        if let Some(expr) = parse(value, ty, &at, issues) {
            out.push((key.clone(), expr));
        }
    }
    out
}

/// Literal `content_type` and `currency` must be values TikTok accepts.
fn check_literal(key: &str, expr: &Expr, path: &str, issues: &mut Issues) {
    if let Expr::Const(v) = expr
        && let Some(problem) = runtime_problem(key, v)
    {
        issues.push(path, problem);
    }
}

/// Why TikTok would refuse `v` at `properties.<key>`, for keys with a closed set of values.
fn runtime_problem(key: &str, v: &Value) -> Option<String> {
    let s = v.as_str()?;
    match key {
        "content_type" if !CONTENT_TYPES.contains(&s) => Some(format!(
            "expected \"product\" or \"product_group\", got {s:?}"
        )),
        "currency" => Currency::parse(s).err().map(|e| e.to_string()),
        _ => None,
    }
}
