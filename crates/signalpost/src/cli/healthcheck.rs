//! `signalpost healthcheck`: one GET of a running server's `/readyz` (by default), exit 0 on a 2xx
//! and 1 otherwise, for container health checks (the runtime image has no curl). Plain HTTP only:
//! it is meant for the server beside it, on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hyper_util::rt::TokioIo;

use super::usage_error;

/// Where the server listens when neither `--url` nor `SIGNALPOST_LISTEN` says otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to ask (http:// only). Default: `/readyz` on the port of `SIGNALPOST_LISTEN`
    /// (127.0.0.1:8080 when unset), on loopback when it listens on every address.
    #[arg(long)]
    url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// Runs the check: prints the answer's status (and a problem's detail) and exits 0 for a 2xx.
pub async fn run(args: HealthcheckArgs) -> ExitCode {
    let url = match args.url {
        Some(url) => url,
        None => match default_url(std::env::var("SIGNALPOST_LISTEN").ok().as_deref()) {
            Ok(url) => url,
            Err(err) => return usage_error("SIGNALPOST_LISTEN", err),
        },
    };
    let target = match Target::parse(&url) {
        Ok(target) => target,
        Err(err) => return usage_error("--url", err),
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    match tokio::time::timeout(timeout, target.get()).await {
        Ok(Ok((status, _))) if (200..300).contains(&status) => {
            println!("ready: {url} answered {status}");
            ExitCode::SUCCESS
        }
        Ok(Ok((status, body))) => {
            let detail = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["detail"].as_str().map(str::to_owned))
                .unwrap_or_default();
            eprintln!("not ready: {url} answered {status} {detail}");
            ExitCode::FAILURE
        }
        Ok(Err(err)) => {
            eprintln!("not ready: {url}: {err}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!(
                "not ready: {url} did not answer within {} s",
                timeout.as_secs()
            );
            ExitCode::FAILURE
        }
    }
}

/// `/readyz` on the port `listen` names; an unspecified address (`0.0.0.0`, `::`) means loopback.
fn default_url(listen: Option<&str>) -> Result<String, String> {
    let listen = listen.unwrap_or(DEFAULT_LISTEN);
    let mut addr: SocketAddr = listen
        .parse()
        .map_err(|_| format!("{listen:?} is not an address like 127.0.0.1:8080"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        });
    }
    Ok(format!("http://{addr}/readyz"))
}

/// A parsed `http://host:port/path` URL.
struct Target {
    host: String,
    port: u16,
    path_and_query: String,
}

impl Target {
    fn parse(raw: &str) -> Result<Target, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "{raw:?}: only http:// is supported (the check asks the server beside it)"
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("{raw:?} names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut path_and_query = url.path().to_owned();
        if let Some(query) = url.query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        Ok(Target {
            host,
            port: url.port_or_known_default().unwrap_or(80),
            path_and_query,
        })
    }

    /// GETs the URL; returns the status and up to 16 KiB of the body.
    async fn get(&self) -> Result<(u16, String), String> {
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        tokio::spawn(conn);
        let host_header = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let request = http::Request::get(self.path_and_query.as_str())
            .header(http::header::HOST, host_header)
            .header(http::header::USER_AGENT, "signalpost-healthcheck")
            .body(axum::body::Body::empty())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(axum::body::Body::new(response.into_body()), 16 * 1024)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        Ok((status, body))
    }
}
