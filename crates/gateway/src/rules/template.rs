//! Templates: `"{transaction_id}:{offer}"` lets a rule fire once per offer instead of once per lead
//! (DESIGN.md "Dedup: fire once, by design"), and `"{fields.vertical} lead"` fills a TikTok property
//! from the lead. Placeholders are field names ([`FieldPath`]), parsed once at config load, so an
//! unknown placeholder is a config error, never a delivery surprise.

use std::fmt;

use super::field::FieldPath;
use crate::domain::{Lead, LifecycleEvent};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Value(FieldPath),
}

/// A parsed template. `{{` and `}}` stand for literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "unknown placeholder {{{0}}} (placeholders are field names: {{transaction_id}}, {{offer}}, {{buyer}}, {{idempotency_key}}, {{trigger}}, {{name}}, {{revenue}}, {{source}}, {{fields.<name>}}, …)"
    )]
    UnknownPlaceholder(String),
    #[error("unclosed '{{' at byte {0}")]
    Unclosed(usize),
    #[error("stray '}}' at byte {0} (write '}}}}' for a literal brace)")]
    StrayClose(usize),
    #[error("template renders to an empty event_id")]
    Empty,
}

impl Template {
    /// The default: `{transaction_id}`, so each rule fires once per lead.
    pub fn transaction_id() -> Self {
        Self {
            source: "{transaction_id}".to_owned(),
            parts: vec![Part::Value(FieldPath::transaction_id())],
        }
    }

    /// Parses `source`, refusing unknown placeholders and unbalanced braces.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source.char_indices().peekable();
        while let Some((at, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|(_, n)| *n) == Some('{') => {
                    rest.next();
                    literal.push('{');
                }
                '}' if rest.peek().map(|(_, n)| *n) == Some('}') => {
                    rest.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::StrayClose(at)),
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, n) in rest.by_ref() {
                        if n == '}' {
                            closed = true;
                            break;
                        }
                        name.push(n);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed(at));
                    }
                    let field = FieldPath::parse(name.trim())
                        .map_err(|_| TemplateError::UnknownPlaceholder(name))?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Value(field));
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if parts.is_empty() {
            return Err(TemplateError::Empty);
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template uses the field named `name` (as spelled in the config).
    pub fn uses(&self, name: &str) -> bool {
        self.fields().any(|f| f.as_str() == name)
    }

    /// The fields the template reads.
    pub fn fields(&self) -> impl Iterator<Item = &FieldPath> {
        self.parts.iter().filter_map(|p| match p {
            Part::Value(f) => Some(f),
            Part::Literal(_) => None,
        })
    }

    /// Whether the template has no placeholder at all (a literal).
    pub fn is_literal(&self) -> bool {
        self.fields().next().is_none()
    }

    /// The field when the template is exactly one placeholder (`"{revenue}"`), so a transform can
    /// keep the field's own type instead of its text.
    pub fn single_field(&self) -> Option<&FieldPath> {
        match self.parts.as_slice() {
            [Part::Value(f)] => Some(f),
            _ => None,
        }
    }

    /// Renders for one lifecycle event of one lead. A value they lack renders as the empty string, so
    /// `{transaction_id}:{offer}` without an offer still fires (once, as `TX:`).
    pub fn render(&self, lead: &Lead, event: &LifecycleEvent) -> String {
        let mut out = String::with_capacity(self.source.len() + event.transaction_id.len());
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Value(field) => {
                    if let Some(v) = field.resolve(lead, event) {
                        out.push_str(&v.text());
                    }
                }
            }
        }
        out
    }

    /// Renders like [`Template::render`], or `None` when nothing of the lead or its event made it
    /// into the text: every placeholder rendered empty, or there is none, so every lead gets the
    /// same text. As an `event_id` that would make the store and TikTok dedup unrelated leads'
    /// conversions into one (`{fields.order_id}` on leads without an order id renders `""` for all
    /// of them), so ingest refuses such a conversion instead of queueing it.
    pub fn render_lead_specific(&self, lead: &Lead, event: &LifecycleEvent) -> Option<String> {
        let mut out = String::with_capacity(self.source.len() + event.transaction_id.len());
        let mut specific = false;
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Value(field) => {
                    if let Some(v) = field.resolve(lead, event) {
                        let text = v.text();
                        specific |= !text.is_empty();
                        out.push_str(&text);
                    }
                }
            }
        }
        specific.then_some(out)
    }

    /// Renders, or names the first placeholder the lead and event lack (for properties, where a
    /// half-filled value is worse than none).
    pub fn render_complete(&self, lead: &Lead, event: &LifecycleEvent) -> Result<String, String> {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Value(field) => match field.resolve(lead, event) {
                    Some(v) => out.push_str(&v.text()),
                    None => return Err(field.as_str().to_owned()),
                },
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{event, lead};

    #[test]
    fn renders_every_kind_of_placeholder() {
        let (l, e) = (lead(), event());
        let cases = [
            ("{transaction_id}", "tx-1"),
            ("{transaction_id}:{offer}", "tx-1:o-9"),
            ("{buyer}/{idempotency_key}", "acme/k-7"),
            ("{trigger}-{transaction_id}", "lead_sold-tx-1"),
            ("sale-{ transaction_id }", "sale-tx-1"),
            ("{{literal}}-{transaction_id}", "{literal}-tx-1"),
            (
                "{fields.vertical} lead from {source}",
                "auto lead from tiktok",
            ),
            ("{revenue}|{payout}", "12.5|0"),
            ("{state}-{zip}", "CA-02134"),
        ];
        for (src, want) in cases {
            assert_eq!(Template::parse(src).unwrap().render(&l, &e), want, "{src}");
        }
    }

    #[test]
    fn a_missing_value_renders_empty_or_is_reported() {
        let (l, mut e) = (lead(), event());
        e.offer = None;
        let t = Template::parse("{transaction_id}:{offer}").unwrap();
        assert_eq!(t.render(&l, &e), "tx-1:");
        assert_eq!(t.render_complete(&l, &e), Err("offer".to_owned()));
        assert_eq!(Template::parse("{name}").unwrap().render(&l, &e), "");
    }

    #[test]
    fn a_template_is_lead_specific_only_when_a_placeholder_rendered_something() {
        let (l, mut e) = (lead(), event());
        e.offer = None;
        let cases = [
            ("{transaction_id}", Some("tx-1")),
            ("{transaction_id}:{offer}", Some("tx-1:")),
            ("order-{fields.order_id}", None),
            ("{fields.order_id}", None),
            ("{fields.empty}:{offer}", None),
            ("sale", None),
            ("{offer}{fields.vertical}", Some("auto")),
        ];
        for (src, want) in cases {
            let t = Template::parse(src).unwrap();
            assert_eq!(t.render_lead_specific(&l, &e).as_deref(), want, "{src}");
        }
    }

    #[test]
    fn rejects_unknown_placeholders_and_unbalanced_braces() {
        assert_eq!(
            Template::parse("{transaction}"),
            Err(TemplateError::UnknownPlaceholder("transaction".into()))
        );
        assert_eq!(Template::parse("{offer"), Err(TemplateError::Unclosed(0)));
        assert_eq!(Template::parse("x}"), Err(TemplateError::StrayClose(1)));
        assert_eq!(Template::parse(""), Err(TemplateError::Empty));
        let msg = Template::parse("{nope}").unwrap_err().to_string();
        assert!(
            msg.contains("{nope}") && msg.contains("{transaction_id}"),
            "{msg}"
        );
    }

    #[test]
    fn default_is_the_transaction_id() {
        let t = Template::transaction_id();
        assert_eq!(t.render(&lead(), &event()), "tx-1");
        assert!(t.uses("transaction_id"));
        assert_eq!(t, Template::parse("{transaction_id}").unwrap());
        assert_eq!(
            t.single_field().map(FieldPath::as_str),
            Some("transaction_id")
        );
        assert!(Template::parse("plain").unwrap().is_literal());
    }
}
