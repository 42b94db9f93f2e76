//! One keep-alive HTTP/1.1 connection (hyper's low-level client: no pool, no per-request lookup), which
//! reconnects after an error. Each load connection owns one, so the number of connections the server
//! sees is exactly `--connections`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A target server: its address and the `Host` header to send.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    /// `Bearer KEY`, ready to send.
    pub authorization: Option<String>,
}

impl Target {
    /// Parses `http://HOST:PORT` (a trailing path is ignored; https is not supported: load is local).
    pub fn parse(url: &str, key: Option<&str>) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("{url:?}: only http:// URLs are supported"))?;
        let host = rest.split('/').next().unwrap_or(rest).to_owned();
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&host)
            .map_err(|e| anyhow::anyhow!("{url:?}: cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{url:?}: {host} has no address"))?;
        Ok(Target {
            addr,
            host,
            authorization: key.map(|k| format!("Bearer {k}")),
        })
    }
}

/// An answer: status and the whole body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

/// A connection that reconnects on demand.
pub struct Conn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened (1 for a connection that never broke).
    pub opened: u64,
}

impl Conn {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            sender: None,
            opened: 0,
        }
    }

    async fn connect(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_some_and(SendRequest::is_closed) {
            self.sender = None;
        }
        if self.sender.is_none() {
            self.sender = Some(self.open().await?);
            self.opened += 1;
        }
        self.sender
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no connection"))
    }

    async fn open(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(self.target.addr))
                .await
                .map_err(|_| anyhow::anyhow!("connect to {} timed out", self.target.addr))??;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends one request and reads the whole answer. On error the connection is dropped and the next
    /// call reconnects.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<Reply> {
        let result = self.try_send(method, path, body).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<Reply> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.target.host.as_str());
        if let Some(auth) = &self.target.authorization {
            builder = builder.header(header::AUTHORIZATION, auth.as_str());
        }
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))?,
            None => builder.body(Full::new(Bytes::new()))?,
        };
        let sender = self.connect().await?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_targets_only() {
        let t = Target::parse("http://127.0.0.1:8080/", Some("k")).unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.authorization.as_deref(), Some("Bearer k"));
        assert!(Target::parse("https://127.0.0.1:8080", None).is_err());
    }
}
