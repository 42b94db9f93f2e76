//! Where in a body a problem is. Shown to people in the JSON names they sent
//! (`conversions[3].userIdentifiers[0].hashedEmail`); rendered for Google's `fieldPathElements`
//! and parse messages in proto names (`user_identifiers`, `hashed_email`), as Google writes them.

use std::fmt;

use crate::model::{ErrorLocation, FieldPathElement};

/// A path of fields, each with an optional list index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<(String, Option<usize>)>);

impl FieldPath {
    /// The body itself.
    pub fn root() -> FieldPath {
        FieldPath::default()
    }

    /// A top-level field.
    pub fn field(name: &str) -> FieldPath {
        FieldPath(vec![(name.to_owned(), None)])
    }

    /// Item `index` of a top-level list: `conversions[3]`.
    pub fn at(name: &str, index: usize) -> FieldPath {
        FieldPath(vec![(name.to_owned(), Some(index))])
    }

    /// This path, then `name`.
    pub fn join(&self, name: &str) -> FieldPath {
        let mut steps = self.0.clone();
        steps.push((name.to_owned(), None));
        FieldPath(steps)
    }

    /// This path, then item `index` of list `name`.
    pub fn join_at(&self, name: &str, index: usize) -> FieldPath {
        let mut steps = self.0.clone();
        steps.push((name.to_owned(), Some(index)));
        FieldPath(steps)
    }

    /// This path with its last step's list index set: `conversions` → `conversions[3]`.
    pub fn indexed(&self, index: usize) -> FieldPath {
        let mut steps = self.0.clone();
        if let Some(last) = steps.last_mut() {
            last.1 = Some(index);
        }
        FieldPath(steps)
    }

    /// The path without its last step.
    pub fn parent(&self) -> FieldPath {
        let mut steps = self.0.clone();
        steps.pop();
        FieldPath(steps)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The index of the first step, when it is a list item (`conversions[3]…` → 3).
    pub fn first_index(&self) -> Option<usize> {
        self.0.first().and_then(|(_, index)| *index)
    }

    /// `conversions[3].conversion_date_time`: Google's spelling in parse messages.
    pub fn proto_string(&self) -> String {
        render(
            self.0
                .iter()
                .map(|(name, index)| (snake_case(name), *index)),
        )
    }

    /// Google's `location.fieldPathElements`.
    pub fn location(&self) -> ErrorLocation {
        ErrorLocation {
            field_path_elements: self
                .0
                .iter()
                .map(|(name, index)| FieldPathElement {
                    field_name: snake_case(name),
                    index: index.map(|i| i as u64),
                })
                .collect(),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self.0.iter().map(|(n, i)| (n.clone(), *i))))
    }
}

fn render(steps: impl Iterator<Item = (String, Option<usize>)>) -> String {
    let mut out = String::new();
    for (name, index) in steps {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&name);
        if let Some(i) = index {
            out.push_str(&format!("[{i}]"));
        }
    }
    out
}

/// `conversionDateTime` → `conversion_date_time` (proto field names are snake_case).
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_json_names_for_people_and_proto_names_for_google() {
        let path = FieldPath::at("conversions", 3)
            .join_at("userIdentifiers", 0)
            .join("hashedEmail");
        assert_eq!(
            path.to_string(),
            "conversions[3].userIdentifiers[0].hashedEmail"
        );
        assert_eq!(
            path.proto_string(),
            "conversions[3].user_identifiers[0].hashed_email"
        );
        let elements = path.location().field_path_elements;
        assert_eq!(elements.len(), 3);
        assert_eq!(
            (elements[0].field_name.as_str(), elements[0].index),
            ("conversions", Some(3))
        );
        assert_eq!(elements[2].index, None);
        assert_eq!(path.first_index(), Some(3));
        assert_eq!(
            path.parent().to_string(),
            "conversions[3].userIdentifiers[0]"
        );
        assert_eq!(FieldPath::root().to_string(), "");
        assert_eq!(snake_case("partialFailure"), "partial_failure");
        assert_eq!(snake_case("gclid"), "gclid");
    }
}
