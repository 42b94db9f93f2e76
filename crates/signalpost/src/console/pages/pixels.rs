//! `/console/pixels`: every pixel with its health (ok, or paused with TikTok's message), a Test
//! Postback per pixel that shows TikTok's answer and the exact body sent (the code behind
//! `POST /v1/test-postback`), token rotation (a write-only password field), the site URL (the
//! `page.url` of leads without a landing URL; a pixel without one is flagged) and a form to add a
//! pixel. Tokens are never rendered, not even in part.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use signalpost_gateway::destinations::{DestinationSpec, google_ads};
use signalpost_gateway::time::now_secs;

use super::seg;
use crate::admin::views::{Health, PixelDestination, PixelView};
use crate::console::layout::{self, Field, Nav, Notice};
use crate::console::session::Session;
use crate::console::writes::{self, FieldProblem, WriteError};
use crate::console::{ConsoleState, INVALID, csrf, see_other};
use crate::ops::test_postback::{TestPostbackAnswer, TestPostbackRequest, fire};

/// Notices carried across the redirect after a write.
#[derive(Debug, Default, Deserialize)]
pub struct PixelsQuery {
    #[serde(default)]
    added: Option<String>,
    #[serde(default)]
    rotated: Option<String>,
    #[serde(default)]
    resumed: Option<String>,
    #[serde(default)]
    site: Option<String>,
}

/// What one rendering of the page shows beyond the pixel list.
#[derive(Default)]
struct View {
    notice: Option<(Notice, String)>,
    /// A Test Postback's outcome for one pixel.
    tested: Option<(String, Result<TestPostbackAnswer, String>)>,
    /// A rejected token for one pixel.
    token_error: Option<(String, String)>,
    /// A rejected site URL for one pixel.
    site_error: Option<(String, String)>,
    add: AddForm,
    add_errors: Vec<FieldProblem>,
}

/// `GET /console/pixels`.
pub async fn page(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(query): Query<PixelsQuery>,
) -> Response {
    let notice = if let Some(code) = query.added {
        Some((
            Notice::Ok,
            format!("Pixel {code} added. Fire a Test Postback to prove its token."),
        ))
    } else if let Some(code) = query.site {
        Some((
            Notice::Ok,
            format!(
                "Site URL of pixel {code} saved. Conversions kept as undeliverable for lack of a page URL can now be replayed (POST /v1/replay with state \"undeliverable\", or signalpost replay --state undeliverable)."
            ),
        ))
    } else {
        query.rotated.map(|code| {
            let resumed = if query.resumed.is_some() {
                " It was paused: it is resumed and its held conversions are being sent."
            } else {
                ""
            };
            (
                Notice::Ok,
                format!("Token of pixel {code} replaced.{resumed}"),
            )
        })
    };
    render(
        &state,
        &session,
        StatusCode::OK,
        View {
            notice,
            ..View::default()
        },
    )
    .await
}

/// Fields of the Test Postback form.
#[derive(Debug, Default, Deserialize)]
pub struct TestForm {
    #[serde(default)]
    event: String,
    #[serde(default)]
    test_event_code: String,
}

/// `POST /console/pixels/{code}/test`: fires one event now and shows TikTok's answer.
pub async fn test_postback(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(code): Path<String>,
    Form(form): Form<TestForm>,
) -> Response {
    let request = TestPostbackRequest {
        pixel: code.clone(),
        event: Some(form.event).filter(|e| !e.trim().is_empty()),
        test_event_code: Some(form.test_event_code).filter(|t| !t.trim().is_empty()),
        ..TestPostbackRequest::default()
    };
    let rules = state.app.gateway.rules();
    let answer = fire(
        &state.app.pixels,
        &rules,
        &state.app.admin.destinations(),
        &state.app.identifier_policy(),
        request,
        now_secs(),
    )
    .await;
    let answer = match answer {
        Ok(answer) => {
            tracing::info!(pixel = %answer.pixel, code = ?answer.code, outcome = %answer.outcome, "console: test postback sent");
            Ok(answer)
        }
        Err(e) => {
            let problem = e.problem();
            let mut text = problem.detail;
            for f in problem.errors {
                text.push_str(&format!(" — {}: {}", f.field, f.detail));
            }
            Err(text)
        }
    };
    render(
        &state,
        &session,
        StatusCode::OK,
        View {
            tested: Some((code, answer)),
            ..View::default()
        },
    )
    .await
}

/// Fields of the token form.
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

/// `POST /console/pixels/{code}/token`.
pub async fn rotate_token(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(code): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    match writes::set_token(&state.app, &code, &form.token).await {
        Ok(resumed) => {
            let mut to = format!("/console/pixels?rotated={}", seg(&code));
            if resumed {
                to.push_str("&resumed=1");
            }
            see_other(&to)
        }
        Err(WriteError::Fields(problems)) => {
            let text = problem_text(problems);
            let view = View {
                token_error: Some((code, text)),
                ..View::default()
            };
            render(&state, &session, INVALID, view).await
        }
        Err(WriteError::Page(e)) => e.into_response(),
    }
}

/// The problems of a one-field form, as one line for the notice beside it.
fn problem_text(problems: Vec<crate::console::writes::FieldProblem>) -> String {
    problems
        .into_iter()
        .map(|p| p.problem)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Fields of the site URL form.
#[derive(Debug, Default, Deserialize)]
pub struct SiteForm {
    #[serde(default)]
    site_url: String,
    /// Absent: unchanged (a form without the field); empty: removed.
    #[serde(default)]
    default_region: Option<String>,
}

/// `POST /console/pixels/{code}/site`: sets (or, empty, removes) the pixel's site URL and phone
/// region.
pub async fn set_site_url(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(code): Path<String>,
    Form(form): Form<SiteForm>,
) -> Response {
    let region = form.default_region.as_deref();
    match writes::set_site_url(&state.app, &code, &form.site_url, region).await {
        Ok(()) => see_other(&format!("/console/pixels?site={}", seg(&code))),
        Err(WriteError::Fields(problems)) => {
            let text = problem_text(problems);
            let view = View {
                site_error: Some((code, text)),
                ..View::default()
            };
            render(&state, &session, INVALID, view).await
        }
        Err(WriteError::Page(e)) => e.into_response(),
    }
}

/// Fields of the add-pixel form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    test_event_code: String,
    #[serde(default)]
    site_url: String,
    #[serde(default)]
    default_region: String,
    /// `tiktok`, `tiktok_crm` or `meta`.
    #[serde(default)]
    kind: String,
    /// Meta: `action_source` (empty: `website`).
    #[serde(default)]
    action_source: String,
    /// Google Ads: the customer account and conversion action.
    #[serde(default)]
    customer_id: String,
    #[serde(default)]
    conversion_action: String,
    /// Google Ads credentials (write-only, like the token).
    #[serde(default)]
    developer_token: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    refresh_token: String,
}

impl AddForm {
    /// The form without its secrets, to render again after a refusal.
    fn without_secrets(self) -> AddForm {
        AddForm {
            token: String::new(),
            developer_token: String::new(),
            client_secret: String::new(),
            refresh_token: String::new(),
            ..self
        }
    }

    /// The secret the pixel stores: the access token, or a Google Ads pixel's four credentials
    /// bundled (each missing one named).
    fn secret(&self) -> Result<String, Vec<FieldProblem>> {
        if self.kind.trim() != "google_ads" {
            return Ok(self.token.clone());
        }
        let secrets = google_ads::token::Secrets::from_parts(
            Some(self.developer_token.trim()),
            Some(self.client_id.trim()),
            Some(self.client_secret.trim()),
            Some(self.refresh_token.trim()),
        );
        secrets
            .check()
            .map(|()| secrets.to_bundle())
            .map_err(|field| {
                vec![FieldProblem::new(
                    field,
                    "required for a Google Ads pixel (from your Google Ads API access)",
                )]
            })
    }
}

/// The kinds of pixel the add form offers: a TikTok pixel, a TikTok CRM event set, a Meta dataset,
/// a Google Ads conversion action.
const KINDS: [&str; 4] = ["tiktok", "tiktok_crm", "meta", "google_ads"];
/// The Meta `action_source` values the add form offers (empty: the default, `website`).
const ACTION_SOURCES: [&str; 4] = ["", "website", "system_generated", "phone_call"];

/// The destination keys of the add form's `kind` and `action_source`.
fn destination_of(form: &AddForm) -> DestinationSpec {
    let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    match form.kind.trim() {
        "meta" => DestinationSpec {
            destination: Some("meta".into()),
            action_source: optional(&form.action_source),
            ..Default::default()
        },
        "google_ads" => DestinationSpec {
            destination: Some("google_ads".into()),
            customer_id: optional(&form.customer_id),
            conversion_action: optional(&form.conversion_action),
            ..Default::default()
        },
        "tiktok_crm" => DestinationSpec {
            event_source: Some("crm".into()),
            action_source: optional(&form.action_source),
            ..Default::default()
        },
        "" | "tiktok" => DestinationSpec {
            action_source: optional(&form.action_source),
            ..Default::default()
        },
        other => DestinationSpec {
            destination: Some(other.to_owned()),
            ..Default::default()
        },
    }
}

/// A pixel's destination in words: "TikTok pixel", "TikTok CRM event set", "Meta dataset
/// (website, v25.0)".
fn describe_destination(d: &PixelDestination) -> String {
    match d.name.as_str() {
        "meta" => format!(
            "Meta dataset ({}, {})",
            d.action_source.as_deref().unwrap_or("website"),
            d.api_version.as_deref().unwrap_or("current API")
        ),
        "google_ads" => format!(
            "Google Ads conversion action {} of customer {}",
            d.conversion_action.as_deref().unwrap_or("?"),
            d.customer_id.as_deref().unwrap_or("?")
        ),
        _ if d.event_source.as_deref() == Some("crm") => "TikTok CRM event set".to_owned(),
        _ => "TikTok pixel".to_owned(),
    }
}

/// `POST /console/pixels`: adds a pixel.
pub async fn add(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Form(form): Form<AddForm>,
) -> Response {
    let secret = form.secret();
    let added = match &secret {
        Err(problems) => Err(WriteError::Fields(problems.clone())),
        Ok(secret) => {
            writes::add_pixel(
                &state.app,
                writes::PixelFields {
                    code: &form.code,
                    token: secret,
                    base_url: &form.base_url,
                    test_event_code: &form.test_event_code,
                    site_url: &form.site_url,
                    default_region: &form.default_region,
                },
                destination_of(&form),
            )
            .await
        }
    };
    match added {
        Ok(()) => see_other(&format!("/console/pixels?added={}", seg(form.code.trim()))),
        Err(WriteError::Fields(problems)) => {
            let view = View {
                notice: Some((
                    Notice::Error,
                    "The pixel was not added; see the form below.".into(),
                )),
                add: form.without_secrets(),
                add_errors: problems,
                ..View::default()
            };
            render(&state, &session, INVALID, view).await
        }
        Err(WriteError::Page(e)) => e.into_response(),
    }
}

async fn render(
    state: &ConsoleState,
    session: &Session,
    status: StatusCode,
    view: View,
) -> Response {
    let pixels = match writes::pixels(&state.app).await {
        Ok(pixels) => pixels,
        Err(e) => return e.into_response(),
    };
    let content = html! {
        @if let Some((kind, text)) = &view.notice { (layout::notice(*kind, text)) }
        @if pixels.is_empty() { p { "No pixel is configured yet. Add one below." } }
        @for pixel in &pixels { (pixel_section(pixel, session, &view)) }
        (add_form(session, &view))
    };
    (
        status,
        layout::page("Pixels", Nav::Pixels, session, content),
    )
        .into_response()
}

fn pixel_section(pixel: &PixelView, session: &Session, view: &View) -> Markup {
    let code = &pixel.code;
    let id = format!("pixel-{}", seg(code));
    let tested = view
        .tested
        .as_ref()
        .filter(|(c, _)| c == code)
        .map(|(_, r)| r);
    let token_error = view
        .token_error
        .as_ref()
        .filter(|(c, _)| c == code)
        .map(|(_, e)| e.as_str());
    let site_error = view
        .site_error
        .as_ref()
        .filter(|(c, _)| c == code)
        .map(|(_, e)| e.as_str());
    html! {
        section class="result" aria-labelledby=(id) {
            h2 id=(id) class="mono" { (code) " "
                @match pixel.health {
                    Health::Ok => span class="badge ok" { "ok" },
                    Health::Paused => span class="badge paused" { "paused" },
                    Health::RotateSoon => span class="badge retrying" { "rotate soon" },
                }
            }
            dl {
                dt { "Kind" } dd data-field="destination" { (describe_destination(&pixel.destination)) }
                dt { "Destination" } dd class="mono" { (pixel.base_url) }
                dt { "Test event code" } dd { @match &pixel.test_event_code { Some(t) => span class="mono" { (t) }, None => "none (live data)" } }
                dt { "Site URL" } dd { @match &pixel.site_url { Some(u) => span class="mono" { (u) }, None => "none" } }
                dt { "Phone region" } dd { @match &pixel.default_region { Some(r) => span class="mono" { (r) }, None => "the server's default_region" } }
                @for w in &pixel.warnings {
                    dt { "Warning" } dd class="error-text" data-field=(w.field) { (w.detail) }
                }
                dt { "Access token" } dd {
                    span class="mono" { (pixel.token) }
                    @if let Some(days) = pixel.token_age_days { ", set " (days) " day(s) ago" }
                    @if pixel.source == "demo" { " (demo pixel, not stored)" }
                }
                @if let Some(detail) = &pixel.health_detail {
                    dt { @if pixel.health == Health::Paused { "Paused because" } @else { "Note" } }
                    dd class="error-text" { (detail) }
                }
            }
            div class="split" {
                form class="stack" method="post" action=(format!("/console/pixels/{}/test", seg(code))) aria-label=(format!("Test Postback for {code}")) {
                    (csrf::field(&session.csrf))
                    (Field::text("test_event_code", "Test event code (optional)", "").hint("From Events Manager → Test Events; empty uses the pixel's").render())
                    div class="actions" { button type="submit" { "Test Postback" } }
                }
                form class="stack" method="post" action=(format!("/console/pixels/{}/token", seg(code))) aria-label=(format!("Rotate the token of {code}")) {
                    (csrf::field(&session.csrf))
                    (Field::text("token", "New access token", "").kind("password").error(token_error).required().render())
                    div class="actions" { button type="submit" class="secondary" { "Rotate token" } }
                }
                @if pixel.source != "demo" {
                    form class="stack" method="post" action=(format!("/console/pixels/{}/site", seg(code))) aria-label=(format!("Site URL of {code}")) {
                        (csrf::field(&session.csrf))
                        (Field::text("site_url", "Site URL", pixel.site_url.as_deref().unwrap_or("")).error(site_error).hint("Sent as page.url when a lead has no landing URL or referrer; empty removes it").render())
                        (Field::text("default_region", "Phone region (optional)", pixel.default_region.as_deref().unwrap_or("")).hint("ISO country code (e.g. FR) for national phone numbers of leads without a country; empty uses the server's").render())
                        div class="actions" { button type="submit" class="secondary" { "Save site URL" } }
                    }
                }
            }
            @if let Some(result) = tested { (test_result(result)) }
        }
    }
}

fn test_result(result: &Result<TestPostbackAnswer, String>) -> Markup {
    match result {
        Err(text) => layout::notice(Notice::Error, &format!("Test Postback not sent: {text}")),
        Ok(a) => html! {
            div class="test-result" role="status" aria-live="polite" {
                h3 { "Test Postback: TikTok answered " span class=(format!("badge {}", a.outcome)) { (a.outcome) } }
                dl {
                    dt { "TikTok code" } dd class="mono" data-field="code" { @match a.code { Some(c) => (c), None => "—" } }
                    dt { "Message" } dd { (a.message) }
                    dt { "HTTP status" } dd { @match a.http_status { Some(s) => (s), None => "no answer" } }
                    dt { "request_id" } dd class="mono" { @match &a.request_id { Some(r) => (r), None => "—" } }
                    dt { "Event" } dd { (a.event) " · event_id " span class="mono" { (a.event_id) } }
                    dt { "Test event code" } dd { @match &a.test_event_code { Some(t) => (t), None => "none: sent as live data" } }
                    dt { "Latency" } dd { (a.latency_ms) " ms" }
                }
                @for w in &a.warnings { p class="hint" { "Dropped " (w.field) ": " (w.problem) } }
                h4 { "Exact body sent" }
                (layout::json_block("Request body sent to TikTok", &a.request_body))
            }
        },
    }
}

fn add_form(session: &Session, view: &View) -> Markup {
    let error = |field: &str| {
        view.add_errors
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.problem.as_str())
    };
    html! {
        section aria-labelledby="add-h" {
            h2 id="add-h" { "Add a pixel" }
            form class="stack" method="post" action="/console/pixels" {
                (csrf::field(&session.csrf))
                div class="grid" {
                    (layout::select("kind", "Kind", &view.add.kind, &KINDS, error("destination").or(error("event_source"))))
                    (Field::text("code", "Pixel code", &view.add.code).required().error(error("code")).hint("TikTok: the pixel code or CRM event set id; Meta: the dataset (pixel) id").render())
                    (Field::text("token", "Access token", "").kind("password").error(error("token")).hint("TikTok and Meta. Write-only: it is never shown again").render())
                    (Field::text("base_url", "Destination URL (optional)", &view.add.base_url).error(error("base_url")).hint("Empty: the destination's own API. Another host must be https:// and listed in [server] allowed_destination_hosts").render())
                    (Field::text("test_event_code", "Test event code (optional)", &view.add.test_event_code).render())
                    (Field::text("site_url", "Site URL (recommended)", &view.add.site_url).error(error("site_url")).hint("The advertiser's site: page.url of leads without a landing URL").render())
                    (Field::text("default_region", "Phone region (optional)", &view.add.default_region).error(error("default_region")).hint("ISO country code (e.g. FR) for national phone numbers of leads without a country").render())
                    (layout::select("action_source", "Meta action source (Meta only)", &view.add.action_source, &ACTION_SOURCES, error("action_source")))
                    (Field::text("customer_id", "Google Ads customer id (Google Ads only)", &view.add.customer_id).error(error("customer_id")).hint("10 digits, dashes allowed").render())
                    (Field::text("conversion_action", "Google Ads conversion action id (Google Ads only)", &view.add.conversion_action).error(error("conversion_action")).render())
                    (Field::text("developer_token", "Google Ads developer token", "").kind("password").error(error("developer_token")).hint("Google Ads only; write-only").render())
                    (Field::text("client_id", "Google OAuth client id", &view.add.client_id).error(error("client_id")).hint("Google Ads only").render())
                    (Field::text("client_secret", "Google OAuth client secret", "").kind("password").error(error("client_secret")).hint("Google Ads only; write-only").render())
                    (Field::text("refresh_token", "Google OAuth refresh token", "").kind("password").error(error("refresh_token")).hint("Google Ads only; write-only").render())
                }
                div class="actions" { button type="submit" { "Add pixel" } }
            }
        }
    }
}
