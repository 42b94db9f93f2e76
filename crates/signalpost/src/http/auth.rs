//! API-key authentication: `Authorization: Bearer KEY` on every `/v1` route, or `?key=KEY` on
//! `GET /v1/postback` (offer-wall networks fire plain GET URLs and cannot set headers).
//!
//! Keys are held only as SHA-256 digests and compared in constant time (`subtle`), against every
//! configured key without an early exit, so neither timing nor the number of keys leaks which bytes
//! matched. A key is never logged: the request log in `metrics.rs` records the matched route
//! template, never the raw URI with its query string.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::problem::ApiError;

/// The configured API keys, as digests.
#[derive(Clone)]
pub struct ApiKeys {
    digests: Arc<[[u8; 32]]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys([{} keys])", self.digests.len())
    }
}

impl ApiKeys {
    /// Keeps the digests of `keys`; the plain keys are not retained.
    pub fn new<I, K>(keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let digests: Vec<[u8; 32]> = keys
            .into_iter()
            .map(|k| Sha256::digest(k.as_ref().as_bytes()).into())
            .collect();
        Self {
            digests: digests.into(),
        }
    }

    /// Whether `presented` is one of the keys. Runs in time independent of which key (if any)
    /// matches and of how many of its bytes do.
    pub fn verify(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = Choice::from(0);
        for known in self.digests.iter() {
            found |= known.ct_eq(&digest);
        }
        bool::from(found)
    }

    /// Whether no key is configured (every request is then refused).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

/// Checks the `Authorization` header.
pub fn check_bearer(keys: &ApiKeys, headers: &HeaderMap) -> Result<(), ApiError> {
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
    check_key(keys, token)
}

/// Checks a key given some other way (the postback's `key=` query parameter).
pub fn check_key(keys: &ApiKeys, presented: &str) -> Result<(), ApiError> {
    if !presented.is_empty() && keys.verify(presented) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized {
            detail: "the API key is not valid",
            bad_key: true,
        })
    }
}

/// Middleware for routes that take the key in the `Authorization` header.
pub async fn require_bearer(
    State(keys): State<ApiKeys>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_bearer(&keys, request.headers())?;
    Ok(next.run(request).await)
}

/// Middleware for the postback: the key may come as `?key=` or, when a sender can, as a bearer header.
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
        Some(key) => check_key(&keys, &key)?,
        None if request.headers().contains_key(header::AUTHORIZATION) => {
            check_bearer(&keys, request.headers())?
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
    fn accepts_any_configured_key_and_rejects_others() {
        let keys = keys();
        assert!(keys.verify("first-key-0123456789"));
        assert!(keys.verify("second-key-0123456789"));
        assert!(!keys.verify("first-key-012345678"));
        assert!(!keys.verify(""));
        assert!(!ApiKeys::new(Vec::<String>::new()).verify("anything"));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_other_schemes_are_refused() {
        let keys = keys();
        assert!(check_bearer(&keys, &headers("Bearer first-key-0123456789")).is_ok());
        assert!(check_bearer(&keys, &headers("bearer  first-key-0123456789 ")).is_ok());
        let basic = check_bearer(&keys, &headers("Basic Zmlyc3Q6a2V5")).unwrap_err();
        assert!(matches!(
            basic,
            ApiError::Unauthorized { bad_key: false, .. }
        ));
        let wrong = check_bearer(&keys, &headers("Bearer nope-nope-nope-nope")).unwrap_err();
        assert!(matches!(
            wrong,
            ApiError::Unauthorized { bad_key: true, .. }
        ));
        assert!(check_bearer(&keys, &HeaderMap::new()).is_err());
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let shown = format!("{:?}", keys());
        assert_eq!(shown, "ApiKeys([2 keys])");
    }
}
