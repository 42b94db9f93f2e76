//! What operators configure, stored next to the data so every node sees the same thing: pixels (with
//! their access token sealed by the caller — this layer only ever holds ciphertext), rules (as their
//! JSON config) and API keys (as SHA-256 digests). Every change bumps a version that running nodes
//! poll, so an edit made through one node, the CLI or the config file reaches all of them.

use std::sync::Arc;

use serde::Serialize;

use super::StoreFuture;

/// A pixel as stored. `sealed_token` is the access token encrypted by the application (nonce and
/// ciphertext); the store never sees it in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPixel {
    pub code: String,
    /// Nonce followed by ciphertext and tag, as the application's vault produced it.
    pub sealed_token: Vec<u8>,
    /// The token's last four characters, for `tt_…last4` displays without decrypting.
    pub token_last4: String,
    /// When the current token was set (unix ms): drives the "rotate soon" health.
    pub token_set_at_ms: i64,
    pub base_url: Option<String>,
    pub test_event_code: Option<String>,
    /// The advertiser's site (absolute http(s) URL): `page.url` of this pixel's events when a lead
    /// brings neither a landing URL nor a referrer (DESIGN.md field mapping).
    pub site_url: Option<String>,
    /// The region (ISO alpha-2, upper-case) this pixel's events read national phone numbers with when
    /// the lead has no `country`; `None`: the server's `default_region`.
    pub default_region: Option<String>,
    /// The pixel's destination and its settings as JSON (`crate::destinations::stored`); `None`:
    /// a TikTok web pixel.
    pub destination: Option<String>,
    /// Set while TikTok rejects the token: its answer, and since when.
    pub paused_reason: Option<String>,
    pub paused_at_ms: Option<i64>,
    /// Digest of the config-file entry last applied to this pixel, so a restart with an unchanged
    /// file never undoes an edit made through the API.
    pub config_digest: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A rule as stored: its config as JSON (the same document `[[rules]]` and `POST /v1/rules` take).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    pub name: String,
    /// The rule's JSON config.
    pub config: String,
    /// Disabled rules are kept but never fire.
    pub enabled: bool,
    /// Digest of the config-file entry last applied (see [`StoredPixel::config_digest`]).
    pub config_digest: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What an API key may do. Ordered: each scope allows everything the ones below it allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    /// Only `GET /v1/postback`: the key ad networks see in a postback URL (and may log). It can
    /// record events, never read anything.
    Postback,
    /// Send leads and lifecycle events, read leads.
    Ingest,
    /// Everything, including pixels, rules, keys, test postbacks, previews and replays.
    Admin,
}

impl KeyScope {
    /// Every scope, least powerful first.
    pub const ALL: [KeyScope; 3] = [KeyScope::Postback, KeyScope::Ingest, KeyScope::Admin];

    /// The scope's name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Postback => "postback",
            KeyScope::Ingest => "ingest",
            KeyScope::Admin => "admin",
        }
    }

    /// Parses `postback`, `ingest` or `admin`.
    pub fn parse(text: &str) -> Option<KeyScope> {
        KeyScope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a key of this scope may do what `needed` allows (admin includes ingest, which
    /// includes postback).
    pub fn allows(self, needed: KeyScope) -> bool {
        self >= needed
    }
}

/// An API key as stored: never the key itself, only its SHA-256 digest (keys are 256-bit random, so
/// a plain digest is as strong as the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Public identifier (`key_…`), safe to show and to name in a revocation.
    pub id: String,
    /// SHA-256 of the key, lowercase hex.
    pub digest: String,
    /// The key's first characters, to tell keys apart in a listing.
    pub prefix: String,
    pub scope: KeyScope,
    pub label: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// Storage of pixels, rules, keys and a few named values, shared by every node.
pub trait SettingsStore: Send + Sync + 'static {
    /// A number that changes whenever anything here changes.
    fn settings_version(&self) -> StoreFuture<'_, i64>;

    /// Every pixel, by code.
    fn list_pixels(&self) -> StoreFuture<'_, Vec<StoredPixel>>;
    /// Inserts or replaces the pixel with this code.
    fn put_pixel(&self, pixel: StoredPixel) -> StoreFuture<'_, ()>;
    /// Deletes a pixel; `false` when there was none.
    fn delete_pixel<'a>(&'a self, code: &'a str) -> StoreFuture<'a, bool>;
    /// Records that TikTok rejects the pixel's token (`Some(reason)`) or no longer does (`None`),
    /// only while the stored token is still the one set at `token_set_at_ms` (a token rotated
    /// meanwhile is not marked paused by a stale observation). Does not bump the version: it is the
    /// delivery engine's observation, not an operator's edit.
    fn set_pixel_paused<'a>(
        &'a self,
        code: &'a str,
        token_set_at_ms: i64,
        paused: Option<&'a str>,
        at_ms: i64,
    ) -> StoreFuture<'a, ()>;

    /// Every rule, oldest first.
    fn list_rules(&self) -> StoreFuture<'_, Vec<StoredRule>>;
    /// Inserts or replaces the rule with this name (a replaced rule keeps its position).
    fn put_rule(&self, rule: StoredRule) -> StoreFuture<'_, ()>;
    /// Deletes a rule; `false` when there was none.
    fn delete_rule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;

    /// Every key (revoked ones included), oldest first.
    fn list_keys(&self) -> StoreFuture<'_, Vec<StoredKey>>;
    /// Stores a new key; fails with a conflict when the id exists.
    fn insert_key(&self, key: StoredKey) -> StoreFuture<'_, ()>;
    /// Marks a key revoked; `false` when there is no such key or it was already revoked.
    fn revoke_key<'a>(&'a self, id: &'a str, at_ms: i64) -> StoreFuture<'a, bool>;

    /// A named value (e.g. the vault's check value).
    fn get_setting<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Sets a named value only when it is absent; returns the value now stored.
    fn init_setting<'a>(&'a self, name: &'a str, value: Vec<u8>) -> StoreFuture<'a, Vec<u8>>;
}

/// A shared settings store.
pub type SharedSettings = Arc<dyn SettingsStore>;
