//! `event_id` templates: `"{transaction_id}:{offer}"` lets a rule fire once per offer instead of once
//! per lead (DESIGN.md "Dedup: fire once, by design"). Parsed once at config load, so an unknown
//! placeholder is a config error, never a delivery surprise.

use std::fmt;

use crate::domain::LifecycleEvent;

/// A value a template can insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    TransactionId,
    Offer,
    Buyer,
    IdempotencyKey,
    Trigger,
    /// The custom event's name.
    Name,
}

/// Every placeholder with its spelling inside braces.
pub const PLACEHOLDERS: &[(&str, Placeholder)] = &[
    ("transaction_id", Placeholder::TransactionId),
    ("offer", Placeholder::Offer),
    ("buyer", Placeholder::Buyer),
    ("idempotency_key", Placeholder::IdempotencyKey),
    ("trigger", Placeholder::Trigger),
    ("name", Placeholder::Name),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Value(Placeholder),
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
        "unknown placeholder {{{0}}} (known: {{transaction_id}}, {{offer}}, {{buyer}}, {{idempotency_key}}, {{trigger}}, {{name}})"
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
            parts: vec![Part::Value(Placeholder::TransactionId)],
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
                    let placeholder = PLACEHOLDERS
                        .iter()
                        .find(|(spelled, _)| *spelled == name.trim())
                        .map(|(_, p)| *p)
                        .ok_or(TemplateError::UnknownPlaceholder(name))?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Value(placeholder));
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

    /// Whether the template uses `placeholder`.
    pub fn uses(&self, placeholder: Placeholder) -> bool {
        self.parts.contains(&Part::Value(placeholder))
    }

    /// Renders for one lifecycle event. A value the event lacks renders as the empty string, so
    /// `{transaction_id}:{offer}` without an offer still fires (once, as `TX:`).
    pub fn render(&self, event: &LifecycleEvent) -> String {
        let mut out = String::with_capacity(self.source.len() + event.transaction_id.len());
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Value(p) => out.push_str(value_of(*p, event)),
            }
        }
        out
    }
}

fn value_of(p: Placeholder, event: &LifecycleEvent) -> &str {
    match p {
        Placeholder::TransactionId => &event.transaction_id,
        Placeholder::Offer => event.offer.as_deref().unwrap_or(""),
        Placeholder::Buyer => event.buyer.as_deref().unwrap_or(""),
        Placeholder::IdempotencyKey => event.idempotency_key.as_deref().unwrap_or(""),
        Placeholder::Trigger => event.trigger.as_str(),
        Placeholder::Name => event.name.as_deref().unwrap_or(""),
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
    use crate::domain::Trigger;

    fn event() -> LifecycleEvent {
        LifecycleEvent {
            id: 1,
            transaction_id: "tx-1".into(),
            trigger: Trigger::OfferConversion,
            name: None,
            buyer: Some("acme".into()),
            offer: Some("o-9".into()),
            revenue: Some(12.5),
            currency: None,
            occurred_at: 1_700_000_000,
            idempotency_key: Some("k-7".into()),
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let cases = [
            ("{transaction_id}", "tx-1"),
            ("{transaction_id}:{offer}", "tx-1:o-9"),
            ("{buyer}/{idempotency_key}", "acme/k-7"),
            ("{trigger}-{transaction_id}", "offer_conversion-tx-1"),
            ("sale-{ transaction_id }", "sale-tx-1"),
            ("{{literal}}-{transaction_id}", "{literal}-tx-1"),
        ];
        for (src, want) in cases {
            assert_eq!(
                Template::parse(src).unwrap().render(&event()),
                want,
                "{src}"
            );
        }
    }

    #[test]
    fn a_missing_value_renders_empty() {
        let mut ev = event();
        ev.offer = None;
        let t = Template::parse("{transaction_id}:{offer}").unwrap();
        assert_eq!(t.render(&ev), "tx-1:");
        assert_eq!(Template::parse("{name}").unwrap().render(&ev), "");
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
        assert_eq!(t.render(&event()), "tx-1");
        assert!(t.uses(Placeholder::TransactionId));
        assert_eq!(t, Template::parse("{transaction_id}").unwrap());
    }
}
