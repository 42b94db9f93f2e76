//! The pixels the engine delivers to: code → access token, destination and test code, plus whether the
//! pixel is paused because TikTok rejected its token. The token never appears in Debug output or logs
//! (it is shown as `tt_…last4`). Replacing a paused pixel's token resumes it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::AddressPolicy;
use crate::destinations::Destination;

/// A TikTok access token. Debug and Display show only its last four characters.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The secret itself, for the `Access-Token` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `tt_…` and the last four characters, for logs and status pages.
    pub fn redacted(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() <= 8 {
            return "tt_…".to_owned();
        }
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("tt_…{tail}")
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// One `[[pixels]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelConfig {
    /// Pixel code (`event_source_id`).
    pub code: String,
    pub access_token: AccessToken,
    /// Destination; TikTok's production API unless overridden (the sandbox in tests and demos).
    pub base_url: String,
    /// Which addresses `base_url` may reach: any when the operator named its host in the config
    /// file, public ones only when it was set through the API or the console.
    pub addresses: AddressPolicy,
    /// Applied to conversions whose rule sets none.
    pub test_event_code: Option<String>,
    /// Where the pixel's conversions go (TikTok unless the config says otherwise).
    pub destination: Destination,
}

/// Whether the engine sends for a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PixelState {
    Active,
    /// TikTok rejected the token; held until it is replaced.
    Paused {
        reason: String,
    },
}

/// A pixel's configuration and state at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelSnapshot {
    pub config: PixelConfig,
    pub state: PixelState,
}

/// What [`PixelRegistry::upsert`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Added,
    /// The token changed; `resumed` when the pixel had been paused.
    TokenReplaced {
        resumed: bool,
    },
    Updated,
    Unchanged,
}

/// An unknown pixel code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no pixel with code {0:?}")]
pub struct UnknownPixel(pub String);

/// The pixels, shared between the config reloader, the engine and status endpoints. Every change bumps
/// a version that workers watch, so a resumed pixel starts sending at once.
#[derive(Clone)]
pub struct PixelRegistry {
    pixels: Arc<RwLock<BTreeMap<String, PixelSnapshot>>>,
    version: Arc<watch::Sender<u64>>,
}

impl fmt::Debug for PixelRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.snapshot()).finish()
    }
}

impl PixelRegistry {
    /// A registry holding `configs` (all active).
    pub fn new(configs: impl IntoIterator<Item = PixelConfig>) -> Self {
        let pixels = configs
            .into_iter()
            .map(|config| {
                (
                    config.code.clone(),
                    PixelSnapshot {
                        config,
                        state: PixelState::Active,
                    },
                )
            })
            .collect();
        Self {
            pixels: Arc::new(RwLock::new(pixels)),
            version: Arc::new(watch::Sender::new(0)),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&mut BTreeMap<String, PixelSnapshot>) -> T) -> T {
        let out = match self.pixels.write() {
            Ok(mut map) => f(&mut map),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        };
        self.version.send_modify(|v| *v += 1);
        out
    }

    fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, PixelSnapshot>) -> T) -> T {
        match self.pixels.read() {
            Ok(map) => f(&map),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Adds or updates a pixel. A new token on a paused pixel resumes it.
    pub fn upsert(&self, config: PixelConfig) -> Upsert {
        self.write(|map| match map.get_mut(&config.code) {
            None => {
                map.insert(
                    config.code.clone(),
                    PixelSnapshot {
                        config,
                        state: PixelState::Active,
                    },
                );
                Upsert::Added
            }
            Some(existing) if existing.config == config => Upsert::Unchanged,
            Some(existing) => {
                let token_changed = existing.config.access_token != config.access_token;
                existing.config = config;
                if token_changed {
                    let resumed = existing.state != PixelState::Active;
                    existing.state = PixelState::Active;
                    Upsert::TokenReplaced { resumed }
                } else {
                    Upsert::Updated
                }
            }
        })
    }

    /// Applies a reloaded config: upserts every entry and drops pixels no longer configured.
    pub fn sync(&self, configs: Vec<PixelConfig>) -> Vec<(String, Upsert)> {
        let keep: Vec<String> = configs.iter().map(|c| c.code.clone()).collect();
        let changes = configs
            .into_iter()
            .map(|c| (c.code.clone(), self.upsert(c)))
            .collect();
        self.write(|map| map.retain(|code, _| keep.contains(code)));
        changes
    }

    /// Replaces a pixel's token; returns whether that resumed it.
    pub fn set_token(&self, code: &str, token: AccessToken) -> Result<bool, UnknownPixel> {
        let Some(mut config) = self.get(code).map(|s| s.config) else {
            return Err(UnknownPixel(code.to_owned()));
        };
        config.access_token = token;
        Ok(matches!(
            self.upsert(config),
            Upsert::TokenReplaced { resumed: true }
        ))
    }

    /// Marks a pixel paused; `true` if it was active (so the caller alerts once).
    pub fn pause(&self, code: &str, reason: &str) -> bool {
        self.write(|map| match map.get_mut(code) {
            Some(p) if p.state == PixelState::Active => {
                p.state = PixelState::Paused {
                    reason: reason.to_owned(),
                };
                true
            }
            _ => false,
        })
    }

    /// Resumes a paused pixel without a token change (e.g. permission granted on TikTok's side).
    pub fn resume(&self, code: &str) -> bool {
        self.write(|map| match map.get_mut(code) {
            Some(p) if p.state != PixelState::Active => {
                p.state = PixelState::Active;
                true
            }
            _ => false,
        })
    }

    /// One pixel.
    pub fn get(&self, code: &str) -> Option<PixelSnapshot> {
        self.read(|map| map.get(code).cloned())
    }

    /// Every pixel, by code.
    pub fn snapshot(&self) -> Vec<PixelSnapshot> {
        self.read(|map| map.values().cloned().collect())
    }

    /// Every pixel code.
    pub fn codes(&self) -> Vec<String> {
        self.read(|map| map.keys().cloned().collect())
    }

    /// Whether `code` exists.
    pub fn contains(&self, code: &str) -> bool {
        self.read(|map| map.contains_key(code))
    }

    /// A receiver that changes whenever the registry does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(code: &str, token: &str) -> PixelConfig {
        PixelConfig {
            code: code.into(),
            access_token: AccessToken::new(token),
            base_url: "http://127.0.0.1:1".into(),
            addresses: AddressPolicy::Any,
            test_event_code: None,
            destination: Default::default(),
        }
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let cfg = pixel("P", "secret-token-abcd1234");
        let shown = format!("{cfg:?} {}", cfg.access_token);
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("tt_…1234"), "{shown}");
        assert_eq!(AccessToken::new("short").redacted(), "tt_…");
        let reg = PixelRegistry::new([cfg]);
        assert!(!format!("{reg:?}").contains("secret-token"));
    }

    #[test]
    fn replacing_a_paused_pixels_token_resumes_it() {
        let reg = PixelRegistry::new([pixel("P", "old-token-0001")]);
        let mut changes = reg.subscribe();
        assert!(reg.pause("P", "40105"));
        assert!(!reg.pause("P", "40105"), "pausing twice alerts once");
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        assert_eq!(
            reg.set_token("P", AccessToken::new("old-token-0001")),
            Ok(false)
        );
        assert!(matches!(
            reg.get("P").unwrap().state,
            PixelState::Paused { .. }
        ));
        assert_eq!(
            reg.set_token("P", AccessToken::new("new-token-0002")),
            Ok(true)
        );
        assert_eq!(reg.get("P").unwrap().state, PixelState::Active);
        assert!(changes.has_changed().unwrap());
        assert!(reg.set_token("Q", AccessToken::new("x")).is_err());
    }

    #[test]
    fn sync_adds_updates_and_removes() {
        let reg = PixelRegistry::new([pixel("A", "token-aaaa"), pixel("B", "token-bbbb")]);
        reg.pause("A", "40001");
        let changes = reg.sync(vec![pixel("A", "token-aaa2"), pixel("C", "token-cccc")]);
        assert_eq!(
            changes,
            [
                ("A".to_owned(), Upsert::TokenReplaced { resumed: true }),
                ("C".to_owned(), Upsert::Added)
            ]
        );
        assert_eq!(reg.codes(), ["A", "C"]);
    }
}
