//! Cross-node wake-ups: every commit that queues work (ingest, resume) sends `pg_notify(channel, pixel)`
//! inside its transaction, and each node keeps one connection LISTENing on that channel and forwards
//! the pixel code to its delivery workers. A conversion ingested on node A is then claimed within the
//! linger time by whichever node's worker is idle, not at the next poll. Lost notifications (a dropped
//! connection) only delay work until the workers' poll; the listener reconnects by itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_util::sync::CancellationToken;

use crate::store::WorkWaker;

/// The wakers registered by delivery engines in this process.
#[derive(Clone, Default)]
pub(crate) struct Wakers(Arc<Mutex<Vec<WorkWaker>>>);

impl Wakers {
    pub fn add(&self, waker: WorkWaker) {
        match self.0.lock() {
            Ok(mut list) => list.push(waker),
            Err(poisoned) => poisoned.into_inner().push(waker),
        }
    }

    fn wake(&self, pixel: &str) {
        let list = match self.0.lock() {
            Ok(list) => list.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        for waker in list {
            waker(pixel);
        }
    }
}

/// Quotes `name` as an SQL identifier (LISTEN takes an identifier, not a parameter).
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Listens on `channel` until `stop` is cancelled, reconnecting after failures.
pub(crate) fn spawn_listener(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    channel: Arc<str>,
    wakers: Wakers,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        const FIRST: Duration = Duration::from_millis(100);
        let mut backoff = FIRST;
        loop {
            let began = std::time::Instant::now();
            match listen_once(&config, &tls, &channel, &wakers, &stop).await {
                Ok(()) => return,
                Err(e) => {
                    // A connection that served a while failed for a new reason: retry promptly.
                    if began.elapsed() > Duration::from_secs(30) {
                        backoff = FIRST;
                    }
                    tracing::warn!(error = %e, retry_in = ?backoff, "LISTEN connection failed; delivery falls back to polling until it is back");
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}

/// One connection's life: LISTEN, then forward notifications until it fails (`Err`) or `stop`.
async fn listen_once(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    channel: &str,
    wakers: &Wakers,
    stop: &CancellationToken,
) -> Result<(), String> {
    let (client, mut connection) = config
        .connect(tls.clone())
        .await
        .map_err(|e| e.to_string())?;
    let sql = format!("LISTEN {}", quote_ident(channel));
    let mut listen = std::pin::pin!(client.batch_execute(&sql));
    let mut listening = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            done = &mut listen, if !listening => {
                done.map_err(|e| e.to_string())?;
                listening = true;
                tracing::debug!(channel, "listening for work queued by other nodes");
            }
            message = std::future::poll_fn(|cx| connection.poll_message(cx)) => match message {
                Some(Ok(AsyncMessage::Notification(n))) => wakers.wake(n.payload()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the server closed the connection".into()),
            },
        }
    }
}
