//! Google Ads credentials: the pixel's sealed secret is a bundle of the developer token and the
//! OAuth client id, client secret and refresh token ([`Secrets`]). A request needs an access token,
//! obtained from the refresh token at the token endpoint and cached per process until a minute
//! before it expires; a 401 from Google gets one fresh token and one more try before it counts (a
//! token can be revoked or expire early), and a refusal of the refresh token itself pauses the
//! pixel with Google's reason. Nothing here logs or puts a secret in a message.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use signalpost_destination::http::{Answer, Endpoint, EndpointConfig};
use signalpost_destination::{AddressPolicy, Classified, Outcome};
use signalpost_google_ads::{DEVELOPER_TOKEN_HEADER, LOGIN_CUSTOMER_ID_HEADER, TokenResponse};

use super::PixelSettings;
use super::answer::READ;

/// How long before its expiry a cached access token is replaced.
const EARLY: Duration = Duration::from_secs(60);
/// Limits of one token exchange.
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest description of the token endpoint's refusal kept.
const MESSAGE_CHARS: usize = 300;

/// A conversion target's credentials, stored sealed as one secret (the pixel's "access token").
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    pub developer_token: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

/// Shows nothing secret.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// The four credentials as given by a config entry, a request or flags (absent: empty, which
    /// [`Secrets::check`] names).
    pub fn from_parts(
        developer_token: Option<&str>,
        client_id: Option<&str>,
        client_secret: Option<&str>,
        refresh_token: Option<&str>,
    ) -> Secrets {
        let own = |v: Option<&str>| v.unwrap_or_default().to_owned();
        Secrets {
            developer_token: own(developer_token),
            client_id: own(client_id),
            client_secret: own(client_secret),
            refresh_token: own(refresh_token),
        }
    }

    /// The bundle stored as the pixel's secret. The refresh token comes last, so the secret's
    /// last four characters shown to operators are the refresh token's (and the closing `"}`).
    pub fn to_bundle(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored bundle; the error names what is missing, never a value.
    pub fn from_bundle(bundle: &str) -> Result<Secrets, String> {
        let secrets: Secrets = serde_json::from_str(bundle).map_err(|_| {
            "the pixel's secret is not a Google Ads credential bundle (developer_token, client_id, client_secret, refresh_token)".to_owned()
        })?;
        secrets.check().map_err(|key| format!("{key} is empty"))?;
        Ok(secrets)
    }

    /// The first key that is empty or not a visible ASCII string (headers and forms carry them
    /// verbatim).
    pub fn check(&self) -> Result<(), &'static str> {
        for (key, value) in [
            ("developer_token", &self.developer_token),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ] {
            if value.is_empty()
                || value.len() > 2048
                || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(key);
            }
        }
        Ok(())
    }
}

/// Access tokens and when to stop using them, by a digest of (token endpoint, client id, refresh
/// token): the digest keeps no secret as a key.
type TokenCache = Mutex<HashMap<[u8; 32], (String, Instant)>>;

/// The process's access tokens.
fn cache() -> &'static TokenCache {
    static CACHE: OnceLock<TokenCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cache_key(token_url: &str, secrets: &Secrets) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [token_url, &secrets.client_id, &secrets.refresh_token] {
        digest.update(part.len().to_le_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

fn cached(key: &[u8; 32]) -> Option<String> {
    let map = cache().lock().unwrap_or_else(|p| p.into_inner());
    map.get(key)
        .filter(|(_, until)| Instant::now() < *until)
        .map(|(token, _)| token.clone())
}

fn forget(key: &[u8; 32]) {
    cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(key);
}

/// An access token: the cached one unless `fresh`, else a new one from the token endpoint. The
/// `Err` is the answer to report for the request (Auth when Google refused the credentials).
async fn access_token(
    token_url: &str,
    secrets: &Secrets,
    addresses: AddressPolicy,
    fresh: bool,
) -> Result<String, Classified> {
    let key = cache_key(token_url, secrets);
    if !fresh && let Some(token) = cached(&key) {
        return Ok(token);
    }
    let endpoint = Endpoint::new(EndpointConfig {
        url: token_url.to_owned(),
        timeout: TIMEOUT,
        connect_timeout: CONNECT_TIMEOUT,
        addresses,
    })
    .map_err(|e| Classified::transport_error(format!("OAuth token endpoint: {e}")))?;
    let form = signalpost_google_ads::model::refresh_grant_form(
        &secrets.client_id,
        &secrets.client_secret,
        &secrets.refresh_token,
    );
    let (status, body) = endpoint
        .post_form(&form)
        .await
        .map_err(|e| Classified::transport_error(format!("OAuth token endpoint: {e}")))?;
    if (200..300).contains(&status)
        && let Ok(answer) = serde_json::from_slice::<TokenResponse>(&body)
        && !answer.access_token.is_empty()
    {
        let lifetime = Duration::from_secs(answer.expires_in).saturating_sub(EARLY);
        cache().lock().unwrap_or_else(|p| p.into_inner()).insert(
            key,
            (answer.access_token.clone(), Instant::now() + lifetime),
        );
        return Ok(answer.access_token);
    }
    Err(refresh_refused(status, &body))
}

/// The token endpoint's refusal: `invalid_grant` (refresh token expired or revoked) and
/// `invalid_client` / `unauthorized_client` are Google's word on the credentials and pause the
/// pixel; anything else (a 5xx, a proxy's page) is retried.
fn refresh_refused(status: u16, body: &[u8]) -> Classified {
    let error: Option<signalpost_google_ads::TokenError> = serde_json::from_slice(body).ok();
    let outcome = match error.as_ref().map(|e| e.error.as_str()) {
        Some("invalid_grant" | "invalid_client" | "unauthorized_client") => Outcome::Auth,
        Some(_) if (400..500).contains(&status) && status != 429 => Outcome::Auth,
        _ => Outcome::Retryable,
    };
    let message = match &error {
        Some(e) => {
            let mut text = format!(
                "OAuth refresh refused (HTTP {status}): {}{}",
                e.error,
                e.error_description
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
            text.truncate(text.floor_char_boundary(MESSAGE_CHARS));
            text
        }
        None => signalpost_destination::outcome::describe_foreign_answer(
            status,
            body,
            "Google's OAuth",
            MESSAGE_CHARS,
        ),
    };
    Classified {
        outcome,
        code: None,
        message,
        request_id: None,
        rows: Vec::new(),
    }
}

/// Posts `body` to `endpoint` with an access token and the developer token; on Google's 401 gets
/// a fresh access token and tries once more.
pub async fn post(
    endpoint: &Endpoint,
    settings: &PixelSettings,
    secret: &str,
    addresses: AddressPolicy,
    body: Bytes,
) -> Answer {
    let started = Instant::now();
    let secrets = match Secrets::from_bundle(secret) {
        Ok(secrets) => secrets,
        Err(why) => return local(Outcome::Auth, why, started),
    };
    let token_url = settings
        .token_url
        .as_deref()
        .unwrap_or(signalpost_google_ads::TOKEN_URL);
    let key = cache_key(token_url, &secrets);
    let mut fresh = false;
    loop {
        let token = match access_token(token_url, &secrets, addresses, fresh).await {
            Ok(token) => token,
            Err(classified) => {
                return Answer {
                    http_status: None,
                    classified,
                    latency: started.elapsed(),
                    destination_refused: false,
                };
            }
        };
        let bearer = format!("Bearer {token}");
        let mut headers = vec![
            ("authorization", bearer.as_str()),
            (DEVELOPER_TOKEN_HEADER, secrets.developer_token.as_str()),
        ];
        if let Some(login) = &settings.login_customer_id {
            headers.push((LOGIN_CUSTOMER_ID_HEADER, login.as_str()));
        }
        let answer = endpoint.post(&headers, body.clone(), READ).await;
        let token_refused =
            answer.http_status == Some(401) && answer.classified.outcome == Outcome::Auth;
        if token_refused && !fresh {
            forget(&key);
            fresh = true;
            continue;
        }
        return answer;
    }
}

fn local(outcome: Outcome, message: String, started: Instant) -> Answer {
    Answer {
        http_status: None,
        classified: Classified {
            outcome,
            code: None,
            message,
            request_id: None,
            rows: Vec::new(),
        },
        latency: started.elapsed(),
        destination_refused: false,
    }
}
