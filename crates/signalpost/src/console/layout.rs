//! The page shell: a skip link, a banner with the navigation (the current page marked with
//! `aria-current`), the sign-out button, and one `main` landmark. Also small helpers every page uses
//! (times, form fields with inline errors, notices).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::csrf;
use super::session::Session;

/// The console's pages, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Pixels,
    Rules,
    Leads,
    Dead,
    Quality,
    Keys,
}

const LINKS: &[(Nav, &str, &str)] = &[
    (Nav::Dashboard, "/console", "Dashboard"),
    (Nav::Pixels, "/console/pixels", "Pixels"),
    (Nav::Rules, "/console/rules", "Rules"),
    (Nav::Leads, "/console/leads", "Leads"),
    (Nav::Dead, "/console/dead", "Dead letters"),
    (Nav::Quality, "/console/quality", "Match quality"),
    (Nav::Keys, "/console/keys", "API keys"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · signalpost console" }
            link rel="stylesheet" href=(super::assets::CSS_PATH);
            script src=(super::assets::JS_PATH) defer {}
        }
    }
}

/// A console page for a signed-in operator.
pub fn page(title: &str, active: Nav, session: &Session, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="banner" {
                    a class="brand" href="/console" { "signalpost" }
                    nav aria-label="Console" {
                        ul {
                            @for (nav, href, label) in LINKS {
                                li {
                                    @if *nav == active {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form class="signout" method="post" action="/console/sign-out" {
                        (csrf::field(&session.csrf))
                        button type="submit" class="secondary" { "Sign out" }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body class="bare" {
                main id="main" { (content) }
            }
        }
    }
}

/// A notice under the page title: `role=status` for news, `role=alert` for failures.
pub fn notice(kind: Notice, text: &str) -> Markup {
    match kind {
        Notice::Ok => html! { p class="notice ok" role="status" { (text) } },
        Notice::Error => html! { p class="notice error" role="alert" { (text) } },
    }
}

/// What a notice reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Ok,
    Error,
}

/// A labelled text input with its inline error (linked with `aria-describedby`).
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub value: &'a str,
    pub error: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub kind: &'a str,
    pub list: Option<&'a str>,
    pub required: bool,
}

impl<'a> Field<'a> {
    /// A text field.
    pub fn text(name: &'a str, label: &'a str, value: &'a str) -> Self {
        Self {
            name,
            label,
            value,
            error: None,
            hint: None,
            kind: "text",
            list: None,
            required: false,
        }
    }

    pub fn error(mut self, error: Option<&'a str>) -> Self {
        self.error = error;
        self
    }

    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn list(mut self, list: &'a str) -> Self {
        self.list = Some(list);
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn kind(mut self, kind: &'a str) -> Self {
        self.kind = kind;
        self
    }

    pub fn render(&self) -> Markup {
        let id = format!("f-{}", self.name);
        let hint_id = format!("{id}-hint");
        let error_id = format!("{id}-error");
        let mut described = Vec::new();
        if self.hint.is_some() {
            described.push(hint_id.clone());
        }
        if self.error.is_some() {
            described.push(error_id.clone());
        }
        let described = (!described.is_empty()).then(|| described.join(" "));
        let password = self.kind == "password";
        html! {
            div class={ "field" @if self.error.is_some() { " invalid" } } {
                label for=(id) { (self.label) @if self.required { " " span class="req" aria-hidden="true" { "*" } } }
                input id=(id) name=(self.name) type=(self.kind)
                    value=[(!password).then_some(self.value)]
                    list=[self.list]
                    autocomplete=[password.then_some("new-password")]
                    required[self.required]
                    aria-invalid=[self.error.map(|_| "true")]
                    aria-describedby=[described];
                @if let Some(hint) = self.hint { small id=(hint_id) class="hint" { (hint) } }
                @if let Some(error) = self.error { small id=(error_id) class="error-text" { (error) } }
            }
        }
    }
}

/// A unix-milliseconds time as UTC text (`2025-06-15 15:06:40 UTC`), machine-readable in `datetime`.
pub fn time_ms(ms: i64) -> Markup {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => html! {
            time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                (t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            }
        },
        None => html! { "—" },
    }
}

/// Unix seconds, as [`time_ms`].
pub fn time_secs(secs: i64) -> Markup {
    time_ms(secs.saturating_mul(1000))
}

/// Pretty JSON in a scrollable, focusable block (keyboard users can scroll it).
pub fn json_block(label: &str, value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    html! {
        pre class="json" tabindex="0" aria-label=(label) { code { (text) } }
    }
}

/// `n` of `total` as a whole percentage (`—` when there is nothing to divide).
pub fn percent(n: u64, total: u64) -> String {
    if total == 0 {
        "—".to_owned()
    } else {
        format!("{:.0}%", (n as f64) * 100.0 / (total as f64))
    }
}

/// A non-breaking thin space for empty cells (keeps table rows from collapsing).
pub fn empty() -> Markup {
    PreEscaped("&mdash;".to_owned())
}

/// A labelled `<select>` of `options` with `current` selected (an empty option reads "(none)"),
/// and its error under it.
pub fn select(
    name: &str,
    label: &str,
    current: &str,
    options: &[&str],
    error: Option<&str>,
) -> Markup {
    let id = format!("f-{name}");
    let error_id = format!("{id}-error");
    html! {
        div class={ "field" @if error.is_some() { " invalid" } } {
            label for=(id) { (label) }
            select id=(id) name=(name) aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| error_id.clone())] {
                @for o in options {
                    option value=(o) selected[*o == current] { @if o.is_empty() { "(none)" } @else { (o) } }
                }
            }
            @if let Some(e) = error { small id=(error_id) class="error-text" { (e) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_link_their_label_hint_and_error() {
        let markup = Field::text("event", "Event", "Purchse")
            .error(Some("not a standard event"))
            .hint("Standard or custom")
            .render()
            .into_string();
        assert!(markup.contains(r#"<label for="f-event">"#), "{markup}");
        assert!(markup.contains(r#"aria-invalid="true""#), "{markup}");
        assert!(
            markup.contains(r#"aria-describedby="f-event-hint f-event-error""#),
            "{markup}"
        );
        assert!(markup.contains("not a standard event"), "{markup}");
    }

    #[test]
    fn password_fields_never_carry_a_value() {
        let markup = Field::text("token", "Token", "secret-token")
            .kind("password")
            .render()
            .into_string();
        assert!(!markup.contains("secret-token"), "{markup}");
        assert!(
            markup.contains(r#"autocomplete="new-password""#),
            "{markup}"
        );
    }

    #[test]
    fn percentages_round_and_survive_zero() {
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(percent(0, 0), "—");
        assert_eq!(percent(5, 5), "100%");
    }
}
