//! Access tokens at rest: sealed with XChaCha20-Poly1305 under a 256-bit master key before they reach
//! the database, with the pixel code as associated data (a sealed token copied onto another pixel
//! does not open). The master key comes from `SIGNALPOST_MASTER_KEY` (64 hex characters or base64 of
//! 32 bytes) or, when that is unset, from `data_dir/master.key`, created with mode 0600 on first
//! start. A check value sealed on first use detects a node started with the wrong key before it
//! sends anything with garbage tokens.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use signalpost_gateway::store::settings::SettingsStore;

/// Environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "SIGNALPOST_MASTER_KEY";
/// Key file in `data_dir` used when the environment variable is unset.
pub const MASTER_KEY_FILE: &str = "master.key";
/// Settings row holding the sealed check value.
const CHECK_SETTING: &str = "vault_check";
const CHECK_PLAINTEXT: &[u8] = b"signalpost vault check v1";
const NONCE_LEN: usize = 24;

/// Where the master key came from (for the start-up log line; never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File { created: bool },
}

/// Seals and opens access tokens.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<master key>)")
    }
}

/// A sealed value that does not open: wrong master key, wrong pixel, or damaged bytes.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot decrypt: the master key is not the one this value was sealed with, or it was damaged"
)]
pub struct OpenError;

impl Vault {
    /// A vault over a raw 32-byte key.
    pub fn from_key(key: &[u8; 32]) -> Vault {
        Vault {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// The key of `SIGNALPOST_MASTER_KEY` when set (from `env`), else `data_dir/master.key`, created
    /// (0600) with a fresh random key when missing.
    pub fn load(
        data_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<(Vault, KeySource)> {
        if let Some(text) = env(MASTER_KEY_ENV).filter(|v| !v.trim().is_empty()) {
            let key = parse_key(&text).map_err(|e| anyhow::anyhow!("{MASTER_KEY_ENV}: {e}"))?;
            return Ok((Vault::from_key(&key), KeySource::Environment));
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key =
                    parse_key(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                Ok((Vault::from_key(&key), KeySource::File { created: false }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                signalpost_gateway::store::sqlite::create_private_dir(data_dir)
                    .with_context(|| format!("cannot create {}", data_dir.display()))?;
                let key: [u8; 32] = rand::random();
                crate::private_file::write_private(&path, &hex::encode(key))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok((Vault::from_key(&key), KeySource::File { created: true }))
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Seals `token` for pixel `code`: a random nonce followed by the ciphertext and tag.
    pub fn seal(&self, code: &str, token: &str) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let payload = Payload {
            msg: token.as_bytes(),
            aad: code.as_bytes(),
        };
        // Encryption with a valid key and nonce only fails for messages beyond ~256 GiB.
        let sealed = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`Vault::seal`] produced for the same pixel code.
    pub fn open(&self, code: &str, sealed: &[u8]) -> Result<String, OpenError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = XNonce::from_slice(nonce);
        let plain = self
            .cipher
            .decrypt(
                nonce,
                Payload {
                    msg: ciphertext,
                    aad: code.as_bytes(),
                },
            )
            .map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }

    /// Checks this vault against the check value stored with the settings, storing one on first use,
    /// so a node started with another master key refuses to start instead of failing every delivery.
    pub async fn verify(&self, settings: &dyn SettingsStore) -> anyhow::Result<()> {
        let mine = self.seal(CHECK_SETTING, std::str::from_utf8(CHECK_PLAINTEXT)?);
        let stored = settings
            .init_setting(CHECK_SETTING, mine)
            .await
            .context("cannot read the vault check value")?;
        match self.open(CHECK_SETTING, &stored) {
            Ok(text) if text.as_bytes() == CHECK_PLAINTEXT => Ok(()),
            _ => anyhow::bail!(
                "the master key does not open the access tokens in this database: every node sharing \
                 it needs the same key (set {MASTER_KEY_ENV} to the key the tokens were stored with, or \
                 restore {MASTER_KEY_FILE} in data_dir)"
            ),
        }
    }
}

/// Parses a master key: 64 hex characters, or base64 (standard alphabet) of 32 bytes.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|e| e.to_string())?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| "expected 64 hex characters or base64 of 32 bytes".to_owned())?
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "the key is {} bytes; a master key is 32 bytes (64 hex characters, e.g. from `openssl rand -hex 32`)",
            bytes.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_opens_only_for_its_pixel_and_key_and_never_contains_the_plain_text() {
        let vault = Vault::from_key(&[7; 32]);
        let token = "abcdef0123456789abcdef0123456789abcdef01";
        let sealed = vault.seal("PIXEL_A", token);
        assert!(
            !sealed
                .windows(8)
                .any(|w| token.as_bytes().windows(8).any(|t| t == w))
        );
        assert_eq!(vault.open("PIXEL_A", &sealed).unwrap(), token);
        assert!(
            vault.open("PIXEL_B", &sealed).is_err(),
            "bound to its pixel"
        );
        assert!(Vault::from_key(&[8; 32]).open("PIXEL_A", &sealed).is_err());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(vault.open("PIXEL_A", &damaged).is_err());
        assert!(vault.open("PIXEL_A", &sealed[..10]).is_err());
        assert_ne!(
            vault.seal("PIXEL_A", token),
            sealed,
            "fresh nonce each time"
        );
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_bad_ones_say_what_is_expected() {
        let hex_key = "00".repeat(32);
        assert_eq!(parse_key(&hex_key).unwrap(), [0; 32]);
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert_eq!(parse_key(&format!(" {b64}\n")).unwrap(), [1; 32]);
        assert!(parse_key("short").unwrap_err().contains("expected"));
        let b64_short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert!(parse_key(&b64_short).unwrap_err().contains("32 bytes"));
    }

    #[test]
    fn the_key_file_is_created_once_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        let (first, source) = Vault::load(dir.path(), &none).unwrap();
        assert_eq!(source, KeySource::File { created: true });
        let sealed = first.seal("P", "token-value-123456");
        let (second, source) = Vault::load(dir.path(), &none).unwrap();
        assert_eq!(source, KeySource::File { created: false });
        assert_eq!(second.open("P", &sealed).unwrap(), "token-value-123456");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let env_key = "11".repeat(32);
        let env = move |name: &str| (name == MASTER_KEY_ENV).then(|| env_key.clone());
        let (_, source) = Vault::load(dir.path(), &env).unwrap();
        assert_eq!(source, KeySource::Environment);
        let bad = |name: &str| (name == MASTER_KEY_ENV).then(|| "nope".to_owned());
        let err = Vault::load(dir.path(), &bad).unwrap_err().to_string();
        assert!(err.starts_with(MASTER_KEY_ENV), "{err}");
    }
}
