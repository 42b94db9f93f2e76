//! The web console under `/console`: server-rendered HTML (maud) with a few lines of embedded script,
//! served by the same binary, every asset compiled in. It owns sign-in and sessions (`session`),
//! CSRF checks (`csrf`), the page shell (`layout`), the dashboard chart (`chart`) and one module per
//! page (`pages`). Pixels and rules are read and written through `writes`, over the admin layer.
//!
//! Every route but the sign-in form, the sign-in POST and the static assets runs behind [`guard`]:
//! no session → redirect to the sign-in form; a POST whose CSRF token does not match → 403. It must
//! never show a TikTok access token or an API key.

pub mod assets;
pub mod chart;
pub mod csrf;
pub mod error;
pub mod layout;
pub mod pages;
pub mod session;
pub mod throttle;
pub mod writes;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::http::AppState;
use session::{SESSION_COOKIE, Session, Sessions, cookie_value, tokens_match};

/// What console handlers share: the application's state and the sessions.
#[derive(Clone)]
pub struct ConsoleState {
    pub app: AppState,
    pub sessions: Sessions,
    pub sign_in_throttle: throttle::SignInThrottle,
}

/// The console's routes, ready to merge into the API router.
pub fn router(state: &AppState) -> Router<AppState> {
    let console = ConsoleState {
        app: state.clone(),
        sessions: Sessions::default(),
        sign_in_throttle: throttle::SignInThrottle::default(),
    };
    let guarded = Router::new()
        .route("/console/live", get(pages::dashboard::live))
        .route("/console/sign-out", post(pages::sign_in::sign_out))
        .route(
            "/console/pixels",
            get(pages::pixels::page).post(pages::pixels::add),
        )
        .route(
            "/console/pixels/{code}/test",
            post(pages::pixels::test_postback),
        )
        .route(
            "/console/pixels/{code}/token",
            post(pages::pixels::rotate_token),
        )
        .route(
            "/console/pixels/{code}/site",
            post(pages::pixels::set_site_url),
        )
        .route(
            "/console/rules",
            get(pages::rules::page).post(pages::rules::save),
        )
        .route("/console/rules/new", get(pages::rules::new_form))
        .route("/console/rules/preview", post(pages::rules::preview))
        .route("/console/rules/{name}/edit", get(pages::rules::edit_form))
        .route(
            "/console/rules/{name}/enabled",
            post(pages::rules::set_enabled),
        )
        .route("/console/leads", get(pages::leads::search))
        .route("/console/leads/{transaction_id}", get(pages::leads::detail))
        .route("/console/dead", get(pages::dead::page))
        .route("/console/dead/replay", post(pages::dead::replay))
        .route("/console/quality", get(pages::quality::page))
        .route(
            "/console/keys",
            get(pages::keys::page).post(pages::keys::create),
        )
        .route("/console/keys/{id}/revoke", post(pages::keys::revoke))
        .route_layer(from_fn_with_state(console.clone(), guard));
    let open = Router::new()
        .route("/console", get(pages::dashboard::index))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/sign-in", post(pages::sign_in::sign_in))
        .route("/console/assets/{file}", get(assets::serve));
    Router::new()
        .merge(guarded)
        .merge(open)
        .layer(from_fn(security_headers))
        .with_state(console)
}

/// The session behind a request, if it has a live one.
pub fn current_session(state: &ConsoleState, headers: &axum::http::HeaderMap) -> Option<Session> {
    cookie_value(headers, SESSION_COOKIE).and_then(|id| {
        state
            .sessions
            .touch(&id, |digest| session::session_key_valid(&state.app, digest))
    })
}

/// Lets a request through only with a live session, and a POST only with its CSRF token. The
/// session is handed to the handler as a request extension.
async fn guard(State(state): State<ConsoleState>, request: Request, next: Next) -> Response {
    let Some(session) = current_session(&state, request.headers()) else {
        return sign_in_redirect(&request);
    };
    let mut request = if matches!(*request.method(), Method::GET | Method::HEAD) {
        request
    } else {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = to_bytes(body, csrf::FORM_LIMIT).await else {
            return error::ConsoleError::TooLarge.into_response();
        };
        let token = csrf::presented(&parts.headers, &bytes).unwrap_or_default();
        if !tokens_match(&token, &session.csrf) {
            tracing::warn!(path = %parts.uri.path(), "console: POST refused, CSRF token missing or wrong");
            return error::ConsoleError::Csrf.into_response();
        }
        Request::from_parts(parts, Body::from(bytes))
    };
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// 303 to the sign-in form, remembering a GET's page to come back to.
fn sign_in_redirect(request: &Request) -> Response {
    let path = request.uri().path();
    let target = if request.method() == Method::GET && path != "/console/live" {
        let back = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/console");
        let encoded: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        format!("/console?next={encoded}")
    } else {
        "/console".to_owned()
    };
    Redirect::to(&target).into_response()
}

/// Headers every console answer carries: no caching of operator data, no framing, no inline script
/// or style (the CSP allows only our own assets), no referrer leaking lead ids.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    response
}

/// A 303 to `to` (after a POST, so a reload does not post again).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The status a console page answers with when it renders a form again with errors.
pub const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
