//! `/console/rules`: the rules in force (and disabled console rules), a form to create or edit one
//! that validates like the config file does (event name against TikTok's standard list and the
//! custom-name rule, currency against TikTok's list; every error shown at its field), and a live
//! preview of the exact TikTok payload the rule would send for a sample lead (the preview code
//! behind `POST /v1/preview`, run with just this rule).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use signalpost_gateway::domain::lifecycle::ALL_TRIGGERS;
use signalpost_gateway::rules::{Rule, RuleConfig, RuleError, ValueConfig, WhenConfig};
use signalpost_gateway::time::now_secs;
use signalpost_gateway::{Gateway, RuleSet};
use signalpost_tiktok::currency::SUPPORTED_CURRENCIES;
use signalpost_tiktok::event_name::STANDARD_EVENTS;

use super::seg;
use crate::console::layout::{self, Field, Nav, Notice};
use crate::console::session::Session;
use crate::console::writes::{self, FieldProblem, WriteError};
use crate::console::{ConsoleState, INVALID, csrf, see_other};
use crate::ops::preview::{PreviewRequest, preview as run_preview};
use crate::ops::test_postback::sample_lead;
use crate::wire::dto::{EventRequest, RawRevenue};

#[derive(Debug, Default, Deserialize)]
pub struct RulesQuery {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    toggled: Option<String>,
}

/// `GET /console/rules`.
pub async fn page(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(query): Query<RulesQuery>,
) -> Response {
    let notice = query
        .saved
        .map(|n| format!("Rule {n} saved; it applies to events from now on."))
        .or(query.toggled.map(|n| format!("Rule {n} updated.")));
    list(
        &state,
        &session,
        StatusCode::OK,
        notice.map(|n| (Notice::Ok, n)),
    )
    .await
}

async fn list(
    state: &ConsoleState,
    session: &Session,
    status: StatusCode,
    notice: Option<(Notice, String)>,
) -> Response {
    let stored = match writes::rules(&state.app).await {
        Ok(rules) => rules,
        Err(e) => return e.into_response(),
    };
    // Rules in force that are not stored: the demo rules of demo mode.
    let running = state.app.gateway.rules();
    let unstored: Vec<_> = running
        .rules()
        .iter()
        .filter(|r| !stored.iter().any(|s| s.name == r.name))
        .collect();
    let content = html! {
        @if let Some((kind, text)) = &notice { (layout::notice(*kind, text)) }
        p class="actions" { a class="button" href="/console/rules/new" { "New rule" } }
        div class="table-wrap" {
            table {
                caption { "Rules are checked in this order for every lifecycle event." }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Trigger" } th scope="col" { "Pixel" }
                    th scope="col" { "TikTok event" } th scope="col" { "Currency" }
                    th scope="col" { "Defined in" } th scope="col" { "Status" } th scope="col" { "Actions" }
                } }
                tbody {
                    @for rule in &stored {
                        tr {
                            th scope="row" { (rule.name) }
                            td { (rule.config.trigger) }
                            td class="mono" { (rule.config.pixel) }
                            td { (rule.config.event) }
                            td { @match &rule.config.currency { Some(c) => (c), None => (layout::empty()) } }
                            td { @if rule.from_config_file { "config file" } @else { "console / API" } }
                            td { @if rule.enabled { span class="badge ok" { "enabled" } } @else { span class="badge disabled" { "disabled" } } }
                            td { (actions(session, &rule.name, rule.enabled)) }
                        }
                    }
                    @for rule in &unstored {
                        tr {
                            th scope="row" { (rule.name) }
                            td { (rule.trigger.as_str()) }
                            td class="mono" { (rule.pixel) }
                            td { (rule.event.as_str()) }
                            td { @match &rule.currency { Some(c) => (c.as_str()), None => (layout::empty()) } }
                            td { "demo" }
                            td { span class="badge ok" { "enabled" } }
                            td { span class="hint" { "built in" } }
                        }
                    }
                    @if stored.is_empty() && unstored.is_empty() {
                        tr { td colspan="8" { "No rule yet: nothing is sent to TikTok. " a href="/console/rules/new" { "Create one" } } }
                    }
                }
            }
        }
    };
    (status, layout::page("Rules", Nav::Rules, session, content)).into_response()
}

fn actions(session: &Session, name: &str, enabled: bool) -> Markup {
    html! {
        div class="actions" {
            a href=(format!("/console/rules/{}/edit", seg(name))) aria-label=(format!("Edit rule {name}")) { "Edit" }
            form method="post" action=(format!("/console/rules/{}/enabled", seg(name))) {
                (csrf::field(&session.csrf))
                input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
                button type="submit" class="secondary" aria-label=(format!("{} rule {name}", if enabled { "Disable" } else { "Enable" })) {
                    @if enabled { "Disable" } @else { "Enable" }
                }
            }
        }
    }
}

/// The rule form, as posted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    original: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    trigger: String,
    #[serde(default)]
    pixel: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    content_type: String,
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    test_event_code: String,
    #[serde(default)]
    when_buyer: String,
    #[serde(default)]
    when_source: String,
    #[serde(default)]
    when_offer: String,
    #[serde(default)]
    when_name: String,
    #[serde(default)]
    when_min_revenue: String,
}

fn opt(raw: &str) -> Option<String> {
    Some(raw.trim().to_owned()).filter(|v| !v.is_empty())
}

impl RuleForm {
    /// The config table this form describes, or the problems that keep it from being one.
    fn config(&self) -> Result<RuleConfig, Vec<RuleError>> {
        let name = self.name.trim();
        let mut config = RuleConfig::new(
            name,
            self.trigger.trim(),
            self.pixel.trim(),
            self.event.trim(),
        );
        config.value = opt(&self.value).map(|v| match v.parse::<f64>() {
            Ok(n) if n.is_finite() => ValueConfig::Number(n),
            _ => ValueConfig::Word(v),
        });
        config.currency = opt(&self.currency);
        config.content_type = opt(&self.content_type);
        config.event_id = opt(&self.event_id);
        config.test_event_code = opt(&self.test_event_code);
        let mut when = WhenConfig::default();
        for (key, raw) in [
            ("buyer", &self.when_buyer),
            ("source", &self.when_source),
            ("offer", &self.when_offer),
            ("name", &self.when_name),
        ] {
            if let Some(v) = opt(raw) {
                when = when.with(key, Value::String(v));
            }
        }
        if let Some(raw) = opt(&self.when_min_revenue) {
            match raw.parse::<f64>() {
                Ok(n) if n.is_finite() => when.min_revenue = Some(Value::from(n)),
                _ => {
                    return Err(vec![RuleError {
                        rule: name.to_owned(),
                        field: "when.min_revenue".into(),
                        problem: format!("{raw:?} is not a number"),
                    }]);
                }
            }
        }
        config.when = when;
        Ok(config)
    }

    fn from_config(config: &RuleConfig) -> Self {
        let when = |key: &str| {
            config
                .when
                .fields
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        RuleForm {
            original: config.name.clone(),
            name: config.name.clone(),
            trigger: config.trigger.clone(),
            pixel: config.pixel.clone(),
            event: config.event.clone(),
            value: match &config.value {
                Some(ValueConfig::Number(n)) => n.to_string(),
                Some(ValueConfig::Word(w)) => w.clone(),
                Some(ValueConfig::Table(_)) | None => String::new(),
            },
            currency: config.currency.clone().unwrap_or_default(),
            content_type: config.content_type.clone().unwrap_or_default(),
            event_id: config.event_id.clone().unwrap_or_default(),
            test_event_code: config.test_event_code.clone().unwrap_or_default(),
            when_buyer: when("buyer"),
            when_source: when("source"),
            when_offer: when("offer"),
            when_name: when("name"),
            when_min_revenue: config
                .when
                .min_revenue
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default(),
        }
    }
}

/// The form field a config path belongs to (`when.buyer` → `when_buyer`, `event` → `event`).
fn form_field(path: &str) -> String {
    let head = |s: &str| s.split(['.', '[']).next().unwrap_or_default().to_owned();
    match path.strip_prefix("when.") {
        Some(rest) => format!("when_{}", head(rest)),
        None => head(path),
    }
}

const FORM_FIELDS: &[&str] = &[
    "name",
    "trigger",
    "pixel",
    "event",
    "value",
    "currency",
    "content_type",
    "event_id",
    "test_event_code",
    "when_buyer",
    "when_source",
    "when_offer",
    "when_name",
    "when_min_revenue",
];

/// `GET /console/rules/new`.
pub async fn new_form(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
) -> Response {
    let form = RuleForm {
        trigger: "lead_sold".into(),
        pixel: state
            .app
            .pixels
            .codes()
            .into_iter()
            .next()
            .unwrap_or_default(),
        event: "Purchase".into(),
        value: "revenue".into(),
        currency: "USD".into(),
        ..RuleForm::default()
    };
    form_page(&state, &session, StatusCode::OK, &form, &[]).await
}

/// `GET /console/rules/{name}/edit`.
pub async fn edit_form(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Response {
    match writes::rule(&state.app, &name).await {
        Ok(Some(rule)) => {
            let form = RuleForm::from_config(&rule.config);
            form_page(&state, &session, StatusCode::OK, &form, &[]).await
        }
        Ok(None) => {
            let notice = (
                Notice::Error,
                format!("No stored rule is named {name:?} (demo rules are built in)."),
            );
            list(&state, &session, StatusCode::NOT_FOUND, Some(notice)).await
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /console/rules`: creates or replaces a rule.
pub async fn save(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Form(form): Form<RuleForm>,
) -> Response {
    let result = match form.config() {
        Ok(config) => {
            let replacing = opt(&form.original);
            writes::put_rule(&state.app, config, replacing.as_deref()).await
        }
        Err(errors) => Err(WriteError::Fields(
            errors
                .into_iter()
                .map(|e| FieldProblem {
                    field: e.field,
                    problem: e.problem,
                })
                .collect(),
        )),
    };
    match result {
        Ok(()) => see_other(&format!("/console/rules?saved={}", seg(form.name.trim()))),
        Err(WriteError::Fields(errors)) => {
            form_page(&state, &session, INVALID, &form, &errors).await
        }
        Err(WriteError::Page(e)) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct EnabledForm {
    enabled: bool,
}

/// `POST /console/rules/{name}/enabled`.
pub async fn set_enabled(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    Form(form): Form<EnabledForm>,
) -> Response {
    match writes::set_enabled(&state.app, &name, form.enabled).await {
        Ok(()) => see_other(&format!("/console/rules?toggled={}", seg(&name))),
        Err(WriteError::Fields(errors)) => {
            let text = errors
                .iter()
                .map(|e| e.problem.clone())
                .collect::<Vec<_>>()
                .join("; ");
            list(&state, &session, INVALID, Some((Notice::Error, text))).await
        }
        Err(WriteError::Page(e)) => e.into_response(),
    }
}

async fn form_page(
    state: &ConsoleState,
    session: &Session,
    status: StatusCode,
    form: &RuleForm,
    errors: &[FieldProblem],
) -> Response {
    let error = |field: &str| -> Option<String> {
        let messages: Vec<_> = errors
            .iter()
            .filter(|e| form_field(&e.field) == field)
            .map(|e| e.problem.clone())
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    };
    let other: Vec<_> = errors
        .iter()
        .filter(|e| !FORM_FIELDS.contains(&form_field(&e.field).as_str()))
        .collect();
    let e = |f: &str| error(f);
    let (name_e, event_e, value_e, currency_e, event_id_e, tec_e) = (
        e("name"),
        e("event"),
        e("value"),
        e("currency"),
        e("event_id"),
        e("test_event_code"),
    );
    let (buyer_e, source_e, offer_e, wname_e, min_e) = (
        e("when_buyer"),
        e("when_source"),
        e("when_offer"),
        e("when_name"),
        e("when_min_revenue"),
    );
    let pixels = state.app.pixels.codes();
    let title = if form.original.is_empty() {
        "New rule"
    } else {
        "Edit rule"
    };
    let preview = preview_for(state, form).await;
    let content = html! {
        @if !errors.is_empty() {
            div class="notice error" role="alert" {
                p { "The rule was not saved: " (errors.len()) " problem(s), shown at their fields." }
                @for e in &other { p { (e.field) ": " (e.problem) } }
            }
        }
        div class="split" {
            form class="stack" method="post" action="/console/rules" id="rule-form"
                data-preview="/console/rules/preview" data-preview-target="preview" {
                (csrf::field(&session.csrf))
                input type="hidden" name="original" value=(form.original);
                fieldset {
                    legend { "What fires it" }
                    (Field::text("name", "Name", &form.name).required().error(name_e.as_deref()).hint("Unique; shown in the delivery log").render())
                    (layout::select("trigger", "Lifecycle trigger", &form.trigger,
                        &ALL_TRIGGERS.iter().map(|t| t.as_str()).collect::<Vec<_>>(), error("trigger").as_deref()))
                    (Field::text("when_buyer", "Only for buyer (optional)", &form.when_buyer).error(buyer_e.as_deref()).render())
                    (Field::text("when_source", "Only for source (optional)", &form.when_source).error(source_e.as_deref()).render())
                    (Field::text("when_offer", "Only for offer (optional)", &form.when_offer).error(offer_e.as_deref()).render())
                    (Field::text("when_name", "Only for custom event name (optional)", &form.when_name).error(wname_e.as_deref()).render())
                    (Field::text("when_min_revenue", "Minimum revenue (optional)", &form.when_min_revenue).error(min_e.as_deref()).render())
                }
                fieldset {
                    legend { "What it sends" }
                    (layout::select("pixel", "Pixel", &form.pixel, &pixels.iter().map(String::as_str).collect::<Vec<_>>(), error("pixel").as_deref()))
                    (Field::text("event", "TikTok event", &form.event).required().list("standard-events").error(event_e.as_deref())
                        .hint("A standard event (list offered) or a custom name: letters, digits, _ and -, starting with a letter").render())
                    (Field::text("value", "Value (optional)", &form.value).error(value_e.as_deref()).hint("revenue, payout, fields.NAME or a number").render())
                    (Field::text("currency", "Currency (optional)", &form.currency).list("currencies").error(currency_e.as_deref()).hint("ISO 4217, from TikTok's list").render())
                    (layout::select("content_type", "Content type (optional)", &form.content_type, &["", "product", "product_group"], error("content_type").as_deref()))
                    (Field::text("event_id", "event_id template (optional)", &form.event_id).error(event_id_e.as_deref()).hint("Default {transaction_id}: the rule fires once per lead").render())
                    (Field::text("test_event_code", "Test event code (optional)", &form.test_event_code).error(tec_e.as_deref()).render())
                }
                datalist id="standard-events" { @for e in STANDARD_EVENTS { option value=(e) {} } }
                datalist id="currencies" { @for c in SUPPORTED_CURRENCIES { option value=(c) {} } }
                div class="actions" {
                    button type="submit" { "Save rule" }
                    a href="/console/rules" { "Cancel" }
                }
            }
            section aria-labelledby="preview-h" {
                h2 id="preview-h" { "Preview for a sample lead" }
                p class="hint" { "Updates as you type. Nothing is stored or sent." }
                div id="preview" aria-live="polite" { (preview) }
            }
        }
    };
    (status, layout::page(title, Nav::Rules, session, content)).into_response()
}

/// `POST /console/rules/preview`: the preview fragment for the posted form.
pub async fn preview(
    State(state): State<ConsoleState>,
    Extension(_session): Extension<Session>,
    Form(form): Form<RuleForm>,
) -> Markup {
    preview_for(&state, &form).await
}

/// Validates the form as a rule and, when valid, runs the preview with that rule alone.
async fn preview_for(state: &ConsoleState, form: &RuleForm) -> Markup {
    let rule = form
        .config()
        .and_then(|c| Rule::from_config_in(c, &state.app.admin.rule_env()));
    let rule = match rule {
        Ok(rule) => rule,
        Err(errors) => {
            return html! {
                div class="notice error" {
                    p { "Not a valid rule yet:" }
                    ul { @for e in &errors { li { (e.field) ": " (e.problem) } } }
                }
            };
        }
    };
    let Ok(rules) = RuleSet::new(vec![rule.clone()]) else {
        return html! { p { "Not a valid rule." } };
    };
    let live = state.app.gateway.rules();
    let rules = rules
        .with_site_urls(live.site_urls().clone())
        .with_pixel_regions(live.pixel_regions().clone());
    let gateway = Gateway::new(state.app.gateway.store().clone(), rules);
    let mut lead = sample_lead();
    lead.source = opt(&form.when_source);
    lead.ttclid = Some("E.C.P.sample-ttclid".into());
    let event = (rule.trigger.as_str() != "form_submit").then(|| EventRequest {
        kind: rule.trigger.as_str().to_owned(),
        name: opt(&form.when_name)
            .or_else(|| (rule.trigger.as_str() == "custom").then(|| "sample_step".to_owned())),
        buyer: opt(&form.when_buyer).or_else(|| Some("sample-buyer".into())),
        offer: opt(&form.when_offer).or_else(|| Some("sample-offer".into())),
        revenue: Some(RawRevenue::Number(
            opt(&form.when_min_revenue)
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(42.5, |min| min.max(42.5)),
        )),
        payout: Some(RawRevenue::Number(12.0)),
        currency: opt(&form.currency),
        ..EventRequest::default()
    });
    let request = PreviewRequest {
        lead: Some(lead),
        transaction_id: None,
        event,
    };
    match run_preview(
        &gateway,
        &state.app.pixels,
        &state.app.identifier_policy(),
        request,
        now_secs(),
    )
    .await
    {
        Err(e) => html! { p class="notice error" { (e.problem().detail) } },
        Ok(answer) => html! {
            @for r in &answer.rules {
                p { "Rule " strong { (r.rule) } ": " span class=(format!("badge {}", r.outcome)) { (r.outcome) } }
                @for reason in &r.reasons { p class="hint" { (reason.explanation) } }
                @if let Some(c) = &r.conversion {
                    p { "event_id " span class="mono" { (c.event_id) } }
                    (layout::json_block("Request body the rule would send", &c.request_body))
                }
            }
        },
    }
}
