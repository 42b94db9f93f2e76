//! `/console/keys`: the API keys created through the API, the CLI or here (never the keys
//! themselves), a form to create one and a Revoke button per key. A new key is shown once, with
//! what its scope allows and, for a postback key, the postback URL to paste into a network's
//! dashboard. Config-file keys are not listed (they live in the config).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;
use signalpost_gateway::store::settings::KeyScope;

use super::seg;
use crate::admin::views::{KeyView, NewKeyView};
use crate::console::error::ConsoleError;
use crate::console::layout::{self, Field, Nav, Notice};
use crate::console::session::Session;
use crate::console::writes::{FieldProblem, WriteError};
use crate::console::{ConsoleState, INVALID, csrf, see_other};

/// Scopes offered in the form, the least powerful (and default) first.
const SCOPES: [&str; 3] = ["postback", "ingest", "admin"];

/// The create form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    label: String,
}

/// `GET /console/keys`.
pub async fn page(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
) -> Response {
    render(&state, &session, StatusCode::OK, View::default(), None).await
}

/// `POST /console/keys`: creates a key and shows it once.
pub async fn create(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let Some(scope) = KeyScope::parse(form.scope.trim()) else {
        let view = View {
            errors: vec![FieldProblem::new(
                "scope",
                "choose postback, ingest or admin",
            )],
            form,
            ..View::default()
        };
        return render(&state, &session, INVALID, view, None).await;
    };
    match state.app.admin.create_key(scope, form.label.trim()).await {
        Ok(created) => {
            let view = View {
                created: Some(created),
                ..View::default()
            };
            render(&state, &session, StatusCode::CREATED, view, Some(&headers)).await
        }
        Err(e) => match WriteError::from(e) {
            WriteError::Fields(errors) => {
                let view = View {
                    errors,
                    form,
                    ..View::default()
                };
                render(&state, &session, INVALID, view, None).await
            }
            WriteError::Page(e) => e.into_response(),
        },
    }
}

/// `POST /console/keys/{id}/revoke`.
pub async fn revoke(
    State(state): State<ConsoleState>,
    Extension(_session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    match state.app.admin.revoke_key(&id).await {
        Ok(()) => see_other("/console/keys"),
        Err(e) => ConsoleError::Api(e.into()).into_response(),
    }
}

#[derive(Default)]
struct View {
    created: Option<NewKeyView>,
    form: CreateForm,
    errors: Vec<FieldProblem>,
}

async fn render(
    state: &ConsoleState,
    session: &Session,
    status: StatusCode,
    view: View,
    headers: Option<&HeaderMap>,
) -> Response {
    let keys = match state.app.admin.list_keys().await {
        Ok(keys) => keys,
        Err(e) => return ConsoleError::Api(e.into()).into_response(),
    };
    let base = headers.map(public_base).unwrap_or_default();
    let content = html! {
        @if let Some(created) = &view.created { (created_notice(created, &base)) }
        (listing(&keys, session))
        (create_form(session, &view))
    };
    (
        status,
        layout::page("API keys", Nav::Keys, session, content),
    )
        .into_response()
}

/// What each scope may do, in words.
fn scope_help(scope: KeyScope) -> &'static str {
    match scope {
        KeyScope::Postback => {
            "can only fire GET /v1/postback; the only kind of key accepted in a URL's key= (networks log the URLs they fire)"
        }
        KeyScope::Ingest => "sends leads and events and reads leads, with Authorization: Bearer",
        KeyScope::Admin => "everything: pixels, rules, keys, the operator tools and this console",
    }
}

fn created_notice(created: &NewKeyView, base: &str) -> Markup {
    let scope = created.listing.scope;
    let message = format!(
        "Key {} created ({} scope: {}). Copy it now: it is shown only this once.",
        created.listing.id,
        scope.as_str(),
        scope_help(scope)
    );
    html! {
        (layout::notice(Notice::Ok, &message))
        p { code class="mono" data-copy { (created.key) } }
        @if scope == KeyScope::Postback {
            p { "Postback URL for a network's dashboard (put the network's macros in place of the braces):" }
            p { code class="mono" {
                (base) "/v1/postback?key=" (created.key)
                "&transaction_id={aff_sub}&type=offer_conversion&revenue={payout}"
            } }
        }
    }
}

fn listing(keys: &[KeyView], session: &Session) -> Markup {
    html! {
        h2 { "Keys" }
        @if keys.is_empty() {
            p { "No key has been created yet (the config file's keys are not listed)." }
        } @else {
            table {
                thead { tr {
                    th scope="col" { "Id" } th scope="col" { "Starts with" } th scope="col" { "Scope" }
                    th scope="col" { "Label" } th scope="col" { "Created" } th scope="col" { "Revoked" }
                    th scope="col" { "Action" }
                } }
                tbody {
                    @for key in keys {
                        tr {
                            th scope="row" class="mono" { (key.id) }
                            td class="mono" { (key.prefix) "…" }
                            td title=(scope_help(key.scope)) { (key.scope.as_str()) }
                            td { (key.label) }
                            td { (key.created_at) }
                            td { @if let Some(at) = &key.revoked_at { (at) } @else { "—" } }
                            td {
                                @if key.revoked_at.is_none() {
                                    form method="post" action=(format!("/console/keys/{}/revoke", seg(&key.id))) {
                                        (csrf::field(&session.csrf))
                                        button type="submit" class="danger" aria-label=(format!("Revoke {}", key.id)) { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn create_form(session: &Session, view: &View) -> Markup {
    let error = |field: &str| {
        view.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.problem.clone())
    };
    let scope = if view.form.scope.is_empty() {
        "postback"
    } else {
        view.form.scope.as_str()
    };
    let label_error = error("label");
    html! {
        h2 { "Create a key" }
        p { "postback: " (scope_help(KeyScope::Postback)) ". ingest: " (scope_help(KeyScope::Ingest)) ". admin: " (scope_help(KeyScope::Admin)) "." }
        form class="stack" method="post" action="/console/keys" {
            (csrf::field(&session.csrf))
            (layout::select("scope", "Scope", scope, &SCOPES, error("scope").as_deref()))
            (Field::text("label", "Label (what the key is for)", &view.form.label).error(label_error.as_deref()).render())
            div class="actions" { button type="submit" { "Create key" } }
        }
    }
}

/// `scheme://host` the browser used, for the postback URL example (http unless a proxy says https).
fn public_base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = if crate::console::session::over_tls(headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}
