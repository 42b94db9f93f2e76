//! API-key authentication: `Authorization: Bearer KEY` on every `/v1` route, or `?key=KEY` on
//! `GET /v1/postback` (offer-wall networks fire plain GET URLs and cannot set headers).
//!
//! Keys have a scope: `postback` keys can only call `GET /v1/postback`; `ingest` keys send leads and
//! events and read leads; `admin` keys may also manage pixels, rules and keys and use the operator
//! tools. A URL is seen (and logged) by the networks that fire it, so only a postback key is accepted
//! in a query string. Keys from the config file (`[server] api_keys`, or the generated one) are admin
//! bootstrap keys; keys created through the API or the CLI live in the database and are refreshed
//! from it.
//!
//! The keys themselves, as digests compared in constant time, are [`crate::api_keys`]. A key is
//! never logged: the request log in `metrics.rs` records the matched route template, never the raw
//! URI with its query string.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::api_keys::{ApiKeys, KeyScope};
use crate::wire::problem::ApiError;

/// Checks the `Authorization` header for a key allowed to do what `needed` covers.
pub fn check_bearer(keys: &ApiKeys, headers: &HeaderMap, needed: KeyScope) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized {
            detail: "no API key: send Authorization: Bearer <key>",
            bad_key: false,
        });
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or(ApiError::Unauthorized {
            detail: "the Authorization header must be \"Bearer <key>\"",
            bad_key: false,
        })?;
    check_key(keys, token, needed)
}

/// Checks a key given some other way (the console's sign-in form).
pub fn check_key(keys: &ApiKeys, presented: &str, needed: KeyScope) -> Result<(), ApiError> {
    match keys.scope_of(presented).filter(|_| !presented.is_empty()) {
        Some(scope) if scope.allows(needed) => Ok(()),
        Some(KeyScope::Postback) => Err(ApiError::Forbidden {
            detail: "this API key has the postback scope; it can only call GET /v1/postback",
        }),
        Some(_) => Err(ApiError::Forbidden {
            detail: "this API key has the ingest scope; this route needs an admin key",
        }),
        None => Err(ApiError::Unauthorized {
            detail: "the API key is not valid",
            bad_key: true,
        }),
    }
}

/// Middleware for ingest routes: any valid key in the `Authorization` header.
pub async fn require_bearer(
    State(keys): State<ApiKeys>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_bearer(&keys, request.headers(), KeyScope::Ingest)?;
    Ok(next.run(request).await)
}

/// Middleware for admin routes: an admin-scoped key in the `Authorization` header.
pub async fn require_admin(
    State(keys): State<ApiKeys>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_bearer(&keys, request.headers(), KeyScope::Admin)?;
    Ok(next.run(request).await)
}

/// Checks a key given in a URL's query string: only a postback key is accepted there. An admin or
/// ingest key in a URL is refused even though it is valid, because networks log the URLs they
/// fire and those keys can read every lead.
pub fn check_query_key(keys: &ApiKeys, presented: &str) -> Result<(), ApiError> {
    match keys.scope_of(presented).filter(|_| !presented.is_empty()) {
        Some(KeyScope::Postback) => Ok(()),
        Some(_) => Err(ApiError::Forbidden {
            detail: "admin and ingest keys are refused in a URL (networks log the URLs they fire): \
                     create a postback key (POST /v1/keys {\"scope\":\"postback\"}) for postback URLs, \
                     or send this key as Authorization: Bearer",
        }),
        None => Err(ApiError::Unauthorized {
            detail: "the API key is not valid",
            bad_key: true,
        }),
    }
}

/// Middleware for the postback: the key may come as `?key=` (postback keys only) or, when a sender
/// can, as a bearer header (any scope).
pub async fn require_query_key(
    State(keys): State<ApiKeys>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let query_key = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.into_owned())
    });
    match query_key {
        Some(key) => check_query_key(&keys, &key)?,
        None if request.headers().contains_key(header::AUTHORIZATION) => {
            check_bearer(&keys, request.headers(), KeyScope::Postback)?
        }
        None => {
            return Err(ApiError::Unauthorized {
                detail: "no API key: add key=<key> to the postback URL",
                bad_key: false,
            });
        }
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_keys::key_digest;
    use axum::http::HeaderValue;

    fn keys() -> ApiKeys {
        ApiKeys::new(["first-key-0123456789", "second-key-0123456789"])
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_other_schemes_are_refused() {
        let keys = keys();
        let admin = KeyScope::Admin;
        assert!(check_bearer(&keys, &headers("Bearer first-key-0123456789"), admin).is_ok());
        assert!(check_bearer(&keys, &headers("bearer  first-key-0123456789 "), admin).is_ok());
        let basic = check_bearer(&keys, &headers("Basic Zmlyc3Q6a2V5"), admin).unwrap_err();
        assert!(matches!(
            basic,
            ApiError::Unauthorized { bad_key: false, .. }
        ));
        let wrong = check_bearer(&keys, &headers("Bearer nope-nope-nope-nope"), admin).unwrap_err();
        assert!(matches!(
            wrong,
            ApiError::Unauthorized { bad_key: true, .. }
        ));
        assert!(check_bearer(&keys, &HeaderMap::new(), admin).is_err());
    }

    #[test]
    fn stored_ingest_keys_pass_ingest_checks_and_are_forbidden_admin_routes() {
        let keys = keys();
        keys.replace_stored(vec![(key_digest("ingest-only-key-0123"), KeyScope::Ingest)]);
        assert_eq!(
            keys.scope_of("ingest-only-key-0123"),
            Some(KeyScope::Ingest)
        );
        assert_eq!(keys.scope_of("first-key-0123456789"), Some(KeyScope::Admin));
        let h = headers("Bearer ingest-only-key-0123");
        assert!(check_bearer(&keys, &h, KeyScope::Ingest).is_ok());
        assert!(matches!(
            check_bearer(&keys, &h, KeyScope::Admin).unwrap_err(),
            ApiError::Forbidden { .. }
        ));
        keys.replace_stored(Vec::new());
        assert_eq!(keys.scope_of("ingest-only-key-0123"), None, "revoked");
    }

    #[test]
    fn postback_keys_work_only_on_the_postback_and_only_they_work_in_a_url() {
        let keys = keys();
        keys.replace_stored(vec![
            (key_digest("postback-only-key-01"), KeyScope::Postback),
            (key_digest("ingest-only-key-0123"), KeyScope::Ingest),
        ]);
        let postback = headers("Bearer postback-only-key-01");
        assert!(check_bearer(&keys, &postback, KeyScope::Postback).is_ok());
        for needed in [KeyScope::Ingest, KeyScope::Admin] {
            let err = check_bearer(&keys, &postback, needed).unwrap_err();
            assert!(
                matches!(err, ApiError::Forbidden { detail } if detail.contains("postback scope"))
            );
        }
        assert!(check_query_key(&keys, "postback-only-key-01").is_ok());
        for strong in ["ingest-only-key-0123", "first-key-0123456789"] {
            let err = check_query_key(&keys, strong).unwrap_err();
            assert!(
                matches!(err, ApiError::Forbidden { detail } if detail.contains("refused in a URL"))
            );
            assert!(
                check_bearer(
                    &keys,
                    &headers(&format!("Bearer {strong}")),
                    KeyScope::Postback
                )
                .is_ok()
            );
        }
        assert!(matches!(
            check_query_key(&keys, "unknown-key-00000000").unwrap_err(),
            ApiError::Unauthorized { bad_key: true, .. }
        ));
    }
}
