//! The API keys a node accepts, each with its scope (`postback`, `ingest`, `admin`): the bootstrap
//! keys of the config file (admin) and the keys stored in the database, replaced whenever the
//! settings change. The HTTP layer checks requests against them (`http::auth`), the
//! console checks sign-ins, and the admin layer keeps the stored ones current.
//!
//! Keys are held only as SHA-256 digests and compared in constant time (`subtle`), against every
//! known key without an early exit, so neither timing nor the number of keys leaks which bytes
//! matched.

use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
pub use signalpost_gateway::store::settings::KeyScope;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// A key's digest and scope.
type Entry = ([u8; 32], KeyScope);

/// The keys the server accepts, as digests with their scopes.
#[derive(Clone)]
pub struct ApiKeys {
    /// Bootstrap keys from the config (admin).
    bootstrap: Arc<[Entry]>,
    /// Keys stored in the database (replaced whenever the settings change).
    stored: Arc<RwLock<Arc<[Entry]>>>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ApiKeys([{} bootstrap, {} stored])",
            self.bootstrap.len(),
            self.stored_entries().len()
        )
    }
}

/// SHA-256 of a key, as the server keeps it.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Admin-scoped bootstrap keys; the plain keys are not retained.
    pub fn new<I, K>(keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let bootstrap: Vec<Entry> = keys
            .into_iter()
            .map(|k| (key_digest(k.as_ref()), KeyScope::Admin))
            .collect();
        Self {
            bootstrap: bootstrap.into(),
            stored: Arc::new(RwLock::new(Vec::new().into())),
        }
    }

    /// Replaces the database keys (active ones only) with these digests and scopes.
    pub fn replace_stored(&self, entries: Vec<([u8; 32], KeyScope)>) {
        let entries: Arc<[Entry]> = entries.into();
        match self.stored.write() {
            Ok(mut stored) => *stored = entries,
            Err(poisoned) => *poisoned.into_inner() = entries,
        }
    }

    fn stored_entries(&self) -> Arc<[Entry]> {
        match self.stored.read() {
            Ok(stored) => stored.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The scope of `presented`, if it is a known key. Runs in time independent of which key (if
    /// any) matches and of how many of its bytes do.
    pub fn scope_of(&self, presented: &str) -> Option<KeyScope> {
        self.scope_of_digest(&key_digest(presented))
    }

    /// The scope of the key with this SHA-256 digest (see [`ApiKeys::scope_of`]).
    pub fn scope_of_digest(&self, digest: &[u8; 32]) -> Option<KeyScope> {
        let stored = self.stored_entries();
        // 0 = no match, else 1 + the scope's place in KeyScope::ALL; the highest match wins.
        let mut best = 0u8;
        for (known, scope) in self.bootstrap.iter().chain(stored.iter()) {
            let rank = scope_rank(*scope);
            let matched = known.ct_eq(digest);
            let higher = subtle::Choice::from(u8::from(rank > best));
            best = u8::conditional_select(&best, &rank, matched & higher);
        }
        KeyScope::ALL
            .into_iter()
            .find(|scope| scope_rank(*scope) == best)
    }

    /// Whether `presented` is a known key of any scope.
    pub fn verify(&self, presented: &str) -> bool {
        self.scope_of(presented).is_some()
    }

    /// Whether no key is known (every request is then refused).
    pub fn is_empty(&self) -> bool {
        self.bootstrap.is_empty() && self.stored_entries().is_empty()
    }
}

/// 1 + the scope's place in [`KeyScope::ALL`] (0 stands for "no key matched").
fn scope_rank(scope: KeyScope) -> u8 {
    match scope {
        KeyScope::Postback => 1,
        KeyScope::Ingest => 2,
        KeyScope::Admin => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        ApiKeys::new(["first-key-0123456789", "second-key-0123456789"])
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
    fn debug_output_shows_no_key_material() {
        let shown = format!("{:?}", keys());
        assert_eq!(shown, "ApiKeys([2 bootstrap, 0 stored])");
    }
}
