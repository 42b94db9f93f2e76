//! TLS for PostgreSQL connections, chosen by the database URL's `sslmode` as libpq names it:
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | absent, `disable` | no | — |
//! | `prefer` | when the server offers TLS | no |
//! | `require` | yes, or the connection fails | no (as libpq without a root certificate) |
//! | `verify-ca` | yes | chain to a trusted root |
//! | `verify-full` | yes | chain to a trusted root, and the host name |
//!
//! Trusted roots are the PEM file named by `sslrootcert`, else Mozilla's roots (webpki-roots).
//! An absent `sslmode` means `disable` (libpq's default is `prefer`): a connection without a chosen
//! mode is plain rather than encrypted without a check, which protects nothing against an active
//! attacker; ask for `verify-full` to be protected. Client certificates (`sslcert`, `sslkey`) are
//! not supported and are refused with a clear error rather than ignored.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// How a connection is protected, from the URL's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, StoreError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            // libpq's `allow` tries plain first; nothing here would make it differ from `prefer`
            // in a way worth the surprise, so it is refused by name.
            other => {
                return Err(invalid(format!(
                    "sslmode={other} is not supported: use disable, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }
}

/// A database URL split into what tokio-postgres reads and the TLS settings it does not.
pub struct ConnectSettings {
    pub config: tokio_postgres::Config,
    pub mode: SslMode,
    pub tls: MakeRustlsConnect,
}

impl std::fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSettings")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Reads `url`: takes `sslmode` and `sslrootcert` out of its query (tokio-postgres knows neither
/// `verify-ca`/`verify-full` nor root certificates) and builds the TLS connector they ask for.
pub fn connect_settings(url: &str) -> Result<ConnectSettings, StoreError> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut mode = SslMode::Disable;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = SslMode::parse(&decode(value))?,
            "sslrootcert" => root_cert = Some(decode(value)),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(invalid(format!(
                    "{key} is not supported: client certificates cannot be used; authenticate with a password"
                )));
            }
            _ => kept.push(pair),
        }
    }
    let rebuilt = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: tokio_postgres::Config = rebuilt
        .parse()
        .map_err(|e| invalid(format!("invalid database URL: {e}")))?;
    config.ssl_mode(match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    });
    if root_cert.is_some() && matches!(mode, SslMode::Disable | SslMode::Prefer) {
        return Err(invalid(
            "sslrootcert is set but sslmode does not check certificates: use sslmode=verify-full"
                .to_owned(),
        ));
    }
    let tls = MakeRustlsConnect::new(client_config(mode, root_cert.as_deref())?);
    Ok(ConnectSettings { config, mode, tls })
}

/// The rustls configuration for `mode`.
fn client_config(mode: SslMode, root_cert: Option<&str>) -> Result<ClientConfig, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS setup failed: {e}")))?;
    let config = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(root_store(root_cert)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| invalid(format!("TLS setup failed: {e}")))?;
            let verifier: Arc<dyn ServerCertVerifier> = if mode == SslMode::VerifyCa {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        }
    };
    Ok(config)
}

/// Roots from the PEM file `path`, else Mozilla's.
fn root_store(path: Option<&str>) -> Result<RootCertStore, StoreError> {
    let mut store = RootCertStore::empty();
    let Some(path) = path else {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(store);
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(format!("sslrootcert {path}: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("sslrootcert {path}: {e}")))?;
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(invalid(format!(
            "sslrootcert {path}: no usable certificate in the file"
        )));
    }
    Ok(store)
}

fn invalid(message: String) -> StoreError {
    StoreError::Io(message)
}

/// A query value with its `%XX` escapes decoded (a root certificate path may hold `%2F`).
fn decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

/// `require` and `prefer`: the channel is encrypted and the handshake's signatures are checked,
/// but any certificate is accepted (libpq's behaviour without a root certificate).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not compared.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_sslmode_is_plain_and_other_parameters_are_kept() {
        let s = connect_settings("postgres://u@h:5432/db?options=-csearch_path%3Dx").unwrap();
        assert_eq!(s.mode, SslMode::Disable);
        assert_eq!(s.config.get_ssl_mode(), PgSslMode::Disable);
        assert_eq!(s.config.get_options(), Some("-csearch_path=x"));
    }

    #[test]
    fn verify_modes_require_tls_from_tokio_postgres() {
        for (text, mode) in [
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let s = connect_settings(&format!("postgres://u@h/db?sslmode={text}")).unwrap();
            assert_eq!(s.mode, mode);
            assert_eq!(s.config.get_ssl_mode(), PgSslMode::Require);
        }
        let s = connect_settings("postgres://u@h/db?sslmode=prefer").unwrap();
        assert_eq!(s.config.get_ssl_mode(), PgSslMode::Prefer);
    }

    #[test]
    fn unsupported_settings_are_refused_by_name() {
        for (url, needle) in [
            ("postgres://u@h/db?sslmode=allow", "sslmode=allow"),
            ("postgres://u@h/db?sslmode=bogus", "sslmode=bogus"),
            (
                "postgres://u@h/db?sslmode=require&sslcert=/c.pem",
                "sslcert",
            ),
            ("postgres://u@h/db?sslrootcert=/c.pem", "sslrootcert"),
            (
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent.pem",
                "/nonexistent.pem",
            ),
        ] {
            let err = connect_settings(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }

    #[test]
    fn escaped_root_certificate_paths_are_decoded() {
        let err =
            connect_settings("postgres://u@h/db?sslmode=verify-ca&sslrootcert=%2Fno%2Fca.pem")
                .unwrap_err()
                .to_string();
        assert!(err.contains("sslrootcert /no/ca.pem"), "{err}");
    }
}
