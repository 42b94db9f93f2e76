//! Collecting config problems instead of stopping at the first: every part of a rule (conditions,
//! caps, schedule, properties) reports into one list, each problem with the config path at fault
//! (`when.all[1].gt`), so `signalpost check` can print them all at once.

use serde_json::Value;

/// One problem at one config path of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Dotted path inside the rule, e.g. `when.all[1].gt`, `cap.daily`, `properties.contents[0].price`.
    pub path: String,
    pub problem: String,
}

/// The problems found so far.
#[derive(Debug, Default)]
pub struct Issues(Vec<Issue>);

impl Issues {
    /// Records a problem at `path`.
    pub fn push(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.0.push(Issue {
            path: path.into(),
            problem: problem.into(),
        });
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were recorded (to tell whether a step added any).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in the order found.
    pub fn into_vec(self) -> Vec<Issue> {
        self.0
    }
}

/// `parent.child`, or `child` at the top.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// `parent[i]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// How a config value is named in "expected X, got Y" messages.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(m) if m.len() == 1 && m.keys().any(|k| k.contains("datetime")) => {
            "a date-time (write it as a string)".into()
        }
        Value::Object(_) => "a table".into(),
    }
}
