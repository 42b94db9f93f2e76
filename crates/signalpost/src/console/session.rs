//! Console sessions: signing in with an admin API key gives a random session id in an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` when the request came over TLS, as a proxy in front reports
//! with `X-Forwarded-Proto: https`), held server-side with an idle and an absolute expiry. Each
//! session has its own CSRF token (see `csrf`) and is bound to the key it signed in with (by the
//! key's digest): once that key is revoked, or no longer admin, the session ends at its next
//! request. The key itself is never stored, logged or echoed.
//!
//! The sign-in form is protected too: before sign-in, a short-lived random "pre-session" cookie is
//! set and the same value is put in the form (double submit), so another site cannot sign a browser
//! in to an account of its choosing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};
use subtle::ConstantTimeEq;

use crate::api_keys::KeyScope;
use crate::http::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sp_console";
/// Name of the sign-in form's double-submit cookie.
pub const PRE_COOKIE: &str = "sp_console_pre";
/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// Sessions held at most; the oldest is dropped beyond this (only signed-in people create them).
const MAX_SESSIONS: usize = 10_000;

/// Whether `key` may sign in to the console: an API key with the admin scope (an ingest key may
/// only send leads). The one place the console checks a key.
pub fn admin_key_accepted(state: &AppState, key: &str) -> bool {
    !key.is_empty() && state.keys.scope_of(key) == Some(KeyScope::Admin)
}

/// Whether the key a session signed in with (its digest) is still an admin key.
pub fn session_key_valid(state: &AppState, key_digest: &[u8; 32]) -> bool {
    state.keys.scope_of_digest(key_digest) == Some(KeyScope::Admin)
}

/// A signed-in session, as handlers see it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    /// The token every form of this session carries.
    pub csrf: String,
}

struct Entry {
    csrf: String,
    /// SHA-256 of the key the session signed in with.
    key_digest: [u8; 32],
    created: Instant,
    last_seen: Instant,
}

/// The server-side session map.
#[derive(Clone, Default)]
pub struct Sessions {
    map: Arc<Mutex<HashMap<String, Entry>>>,
}

impl Sessions {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> T) -> T {
        match self.map.lock() {
            Ok(mut map) => f(&mut map),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Starts a session bound to the key with this digest; returns it with its fresh id and CSRF
    /// token.
    pub fn create(&self, key_digest: [u8; 32]) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_hex(),
            csrf: random_hex(),
        };
        self.with(|map| {
            map.retain(|_, e| alive(e, now));
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, e)| e.created)
                    .map(|(id, _)| id.clone())
            {
                map.remove(&oldest);
            }
            map.insert(
                session.id.clone(),
                Entry {
                    csrf: session.csrf.clone(),
                    key_digest,
                    created: now,
                    last_seen: now,
                },
            );
        });
        session
    }

    /// The live session with this id, its idle clock restarted; `None` (and forgotten) if expired
    /// or if `key_valid` says its key no longer is.
    pub fn touch(&self, id: &str, key_valid: impl FnOnce(&[u8; 32]) -> bool) -> Option<Session> {
        let now = Instant::now();
        self.with(|map| {
            let entry = map.get_mut(id)?;
            if !alive(entry, now) || !key_valid(&entry.key_digest) {
                map.remove(id);
                return None;
            }
            entry.last_seen = now;
            Some(Session {
                id: id.to_owned(),
                csrf: entry.csrf.clone(),
            })
        })
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.with(|map| map.remove(id));
    }

    /// How many sessions are held (expired ones included until the next sign-in sweeps them).
    pub fn len(&self) -> usize {
        self.with(|map| map.len())
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn alive(entry: &Entry, now: Instant) -> bool {
    now.duration_since(entry.last_seen) < IDLE_TIMEOUT
        && now.duration_since(entry.created) < ABSOLUTE_TIMEOUT
}

/// 32 random bytes as hex.
pub fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Constant-time equality of two tokens.
pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name` in the request.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Whether the request reached us over TLS, as far as we can tell (a TLS-terminating proxy says so
/// with `X-Forwarded-Proto` or `Forwarded`). Cookies are marked `Secure` then.
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split([';', ','])
                .any(|part| part.trim().eq_ignore_ascii_case("proto=https"))
        });
    forwarded_proto || forwarded
}

/// A `Set-Cookie` value for the console: `HttpOnly`, `SameSite=Strict`, path `/console`, `Secure`
/// when `secure`; `max_age` none for a browser-session cookie, zero to delete.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<Duration>) -> HeaderValue {
    let mut cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/console");
    if let Some(age) = max_age {
        let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        cookie = cookie.max_age(cookie::time::Duration::seconds(secs));
    }
    // A cookie built from hex ids and fixed attributes is always a valid header value.
    HeaderValue::from_str(&cookie.build().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("sp_console_invalid=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_found_again_and_removed() {
        let sessions = Sessions::default();
        let a = sessions.create([1; 32]);
        let b = sessions.create([1; 32]);
        assert_ne!(a.id, b.id);
        assert_ne!(a.csrf, a.id);
        assert_eq!(a.id.len(), 64);
        assert_eq!(sessions.touch(&a.id, |_| true).unwrap().csrf, a.csrf);
        assert!(sessions.touch("nope", |_| true).is_none());
        sessions.remove(&a.id);
        assert!(sessions.touch(&a.id, |_| true).is_none());
        assert_eq!(sessions.len(), 1);
    }

    #[test]
    fn cookies_carry_the_security_flags() {
        let plain = set_cookie(SESSION_COOKIE, "abc", false, None);
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("sp_console=abc"), "{plain}");
        assert!(plain.contains("HttpOnly"), "{plain}");
        assert!(plain.contains("SameSite=Strict"), "{plain}");
        assert!(plain.contains("Path=/console"), "{plain}");
        assert!(!plain.contains("Secure"), "{plain}");
        let secure = set_cookie(SESSION_COOKIE, "abc", true, Some(Duration::ZERO));
        let secure = secure.to_str().unwrap();
        assert!(
            secure.contains("Secure") && secure.contains("Max-Age=0"),
            "{secure}"
        );
    }

    #[test]
    fn tls_is_read_from_proxy_headers() {
        let mut headers = HeaderMap::new();
        assert!(!over_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
        assert!(over_tls(&headers));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=192.0.2.60;proto=https;by=203.0.113.43"),
        );
        assert!(over_tls(&headers));
        headers.insert(header::FORWARDED, HeaderValue::from_static("proto=http"));
        assert!(!over_tls(&headers));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sp_console=xyz; b=2"),
        );
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("xyz")
        );
        assert_eq!(cookie_value(&headers, PRE_COOKIE), None);
    }

    #[test]
    fn token_comparison_needs_equal_non_empty_tokens() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("", ""));
        assert!(!tokens_match("abc", "abcd"));
    }
}
