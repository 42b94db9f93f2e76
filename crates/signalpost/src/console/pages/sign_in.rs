//! Signing in and out. The form is served at `/console` to anyone without a session; it carries a
//! double-submit token (the pre-session cookie), and a wrong key gets the same answer whatever was
//! wrong with it. The key is neither stored nor echoed back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use crate::console::layout::{self, Notice};
use crate::console::session::{
    ABSOLUTE_TIMEOUT, PRE_COOKIE, SESSION_COOKIE, Session, admin_key_accepted, cookie_value,
    over_tls, random_hex, set_cookie, tokens_match,
};
use crate::console::throttle::Verdict;
use crate::console::{ConsoleState, csrf};

/// How long the sign-in form stays valid.
const FORM_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The sign-in form, with a fresh double-submit token.
pub fn form(headers: &HeaderMap, status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let token = random_hex();
    let body = layout::bare(
        "Sign in",
        html! {
            div class="signin" {
                h1 { "signalpost console" }
                p { "Sign in with an admin API key." }
                @if let Some(error) = error { (layout::notice(Notice::Error, error)) }
                form class="stack" method="post" action="/console/sign-in" {
                    (csrf::field(&token))
                    input type="hidden" name="next" value=(next);
                    (layout::Field::text("key", "Admin API key", "").kind("password").required().render())
                    div class="actions" { button type="submit" { "Sign in" } }
                }
            }
        },
    );
    let cookie = set_cookie(PRE_COOKIE, &token, over_tls(headers), Some(FORM_LIFETIME));
    (status, [(header::SET_COOKIE, cookie)], body).into_response()
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    key: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// Where to go after signing in: a console page, never another site.
fn safe_next(next: &str) -> &str {
    let local = next.starts_with("/console")
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if local { next } else { "/console" }
}

/// `POST /console/sign-in`. Throttled per client address (see `console::throttle`).
pub async fn sign_in(
    State(state): State<ConsoleState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    Form(form_data): Form<SignIn>,
) -> Response {
    let next = safe_next(&form_data.next).to_owned();
    let client = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let now = Instant::now();
    if let Some(client) = client
        && let Verdict::Blocked(wait) = state.sign_in_throttle.check(client, now)
    {
        tracing::warn!("console: sign-in refused, too many failed attempts from this address");
        let mut response = form(
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            Some(&format!(
                "Too many failed sign-ins from this address. Try again in {} minutes.",
                wait.as_secs().div_ceil(60).max(1)
            )),
        );
        let retry_after = wait.as_secs().max(1).to_string();
        if let Ok(value) = header::HeaderValue::from_str(&retry_after) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let pre = cookie_value(&headers, PRE_COOKIE).unwrap_or_default();
    if !tokens_match(&pre, &form_data.csrf) {
        tracing::warn!("console: sign-in refused, form token missing or wrong");
        return form(
            &headers,
            StatusCode::FORBIDDEN,
            &next,
            Some("The sign-in form expired or came from elsewhere. Please try again."),
        );
    }
    if !admin_key_accepted(&state.app, form_data.key.trim()) {
        tracing::warn!("console: sign-in refused, key not accepted");
        if let Some(client) = client {
            state.sign_in_throttle.failed(client, now);
        }
        return form(
            &headers,
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That key is not an admin API key of this gateway."),
        );
    }
    let session = state
        .sessions
        .create(crate::api_keys::key_digest(form_data.key.trim()));
    tracing::info!("console: signed in");
    let secure = over_tls(&headers);
    let mut response = crate::console::see_other(&next);
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &session.id, secure, Some(ABSOLUTE_TIMEOUT)),
    );
    cookies.append(
        header::SET_COOKIE,
        set_cookie(PRE_COOKIE, "", secure, Some(Duration::ZERO)),
    );
    response
}

/// `POST /console/sign-out`.
pub async fn sign_out(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
) -> Response {
    state.sessions.remove(&session.id);
    tracing::info!("console: signed out");
    let mut response = crate::console::see_other("/console");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", over_tls(&headers), Some(Duration::ZERO)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_followed_after_sign_in() {
        assert_eq!(safe_next("/console/leads?q=x"), "/console/leads?q=x");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/console//evil",
            "/other",
            "/console\\x",
            "",
        ] {
            assert_eq!(safe_next(bad), "/console", "{bad}");
        }
    }
}
