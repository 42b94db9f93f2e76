//! The group-commit writer for PostgreSQL: ingest calls hand their units to a bounded channel; a few
//! writer tasks each take everything queued (up to a cap), write it in ONE transaction with one
//! multi-row statement per table ([`super::ingest`]), commit once, and only then answer every waiter.
//! While one task waits for its COMMIT (the server's fsync), the next gathers the following group, so
//! the database's disk and the network are both kept busy. A full channel is backpressure (503), never
//! a drop. If a group's transaction fails and the server rolled it back, each command is tried alone so
//! one bad command cannot fail its neighbours; if the connection died mid-commit, nobody is told
//! "stored" and nothing is retried blindly.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::error::Failure;
use super::ingest::{ingest_group, without_nul};
use crate::store::{IngestResult, IngestUnit, StoreError};
use crate::time::now_ms;

type Answers = Result<Vec<Result<IngestResult, StoreError>>, StoreError>;

/// Units from one caller and where to send their answers.
struct Command {
    units: Vec<IngestUnit>,
    reply: oneshot::Sender<Answers>,
}

/// Tuning of the writer.
#[derive(Debug, Clone, Copy)]
pub struct PgWriterConfig {
    /// Commands the channel holds before callers wait.
    pub queue_capacity: usize,
    /// Most units folded into one transaction.
    pub max_group_units: usize,
    /// Writer tasks (each holds one connection while it writes).
    pub tasks: usize,
    /// How long a caller waits for queue space before [`StoreError::Backpressure`].
    pub enqueue_timeout: Duration,
}

impl Default for PgWriterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 16_384,
            max_group_units: 2_048,
            tasks: 2,
            enqueue_timeout: Duration::from_secs(2),
        }
    }
}

/// The callers' side of the writer; [`WriterHandle::close`] lets the tasks drain and stop.
pub(crate) struct WriterHandle {
    tx: RwLock<Option<mpsc::Sender<Command>>>,
    enqueue_timeout: Duration,
}

impl WriterHandle {
    /// Queues `units` and waits for the committed answers.
    pub async fn ingest(&self, units: Vec<IngestUnit>) -> Answers {
        let sender = match self.tx.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(sender) = sender else {
            return Err(StoreError::Closed);
        };
        let (reply, answer) = oneshot::channel();
        let command = Command { units, reply };
        match sender.try_send(command) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(StoreError::Closed),
            Err(mpsc::error::TrySendError::Full(command)) => {
                match sender.send_timeout(command, self.enqueue_timeout).await {
                    Ok(()) => {}
                    Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                        return Err(StoreError::Closed);
                    }
                    Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                        return Err(StoreError::Backpressure {
                            retry_after: Duration::from_secs(1),
                        });
                    }
                }
            }
        }
        drop(sender);
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops taking new units; the tasks commit what is queued and exit.
    pub fn close(&self) {
        match self.tx.write() {
            Ok(mut guard) => *guard = None,
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }
}

/// Starts the writer tasks on `pool`; new work is announced on `channel`.
pub(crate) fn spawn(
    pool: Pool,
    config: PgWriterConfig,
    channel: Arc<str>,
) -> (WriterHandle, Vec<JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
    let rx = Arc::new(Mutex::new(rx));
    let max_units = config.max_group_units.max(1);
    let tasks = (0..config.tasks.max(1))
        .map(|_| tokio::spawn(run(rx.clone(), pool.clone(), max_units, channel.clone())))
        .collect();
    (
        WriterHandle {
            tx: RwLock::new(Some(tx)),
            enqueue_timeout: config.enqueue_timeout,
        },
        tasks,
    )
}

async fn run(
    rx: Arc<Mutex<mpsc::Receiver<Command>>>,
    pool: Pool,
    max_units: usize,
    channel: Arc<str>,
) {
    loop {
        // Gather under the lock, write without it: the next task gathers while this one commits.
        let group = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                break;
            };
            let mut units = first.units.len();
            let mut group = vec![first];
            while units < max_units {
                match rx.try_recv() {
                    Ok(command) => {
                        units += command.units.len();
                        group.push(command);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        commit_group(&pool, group, &channel).await;
    }
    tracing::debug!("postgres writer task stopped");
}

async fn commit_group(pool: &Pool, group: Vec<Command>, channel: &str) {
    let units: Vec<&IngestUnit> = group.iter().flat_map(|c| c.units.iter()).collect();
    match write(pool, &units, channel).await {
        Ok(answers) => {
            let mut answers = answers.into_iter();
            for command in group {
                let mine: Vec<_> = answers.by_ref().take(command.units.len()).collect();
                let _ = command.reply.send(Ok(mine));
            }
        }
        Err(failure) if group.len() > 1 && failure.rolled_back => {
            tracing::warn!(error = %failure.error, size = group.len(), "group commit failed; writing each command alone");
            for command in group {
                let units: Vec<&IngestUnit> = command.units.iter().collect();
                let answer = write(pool, &units, channel).await.map_err(|f| f.error);
                let _ = command.reply.send(answer);
            }
        }
        Err(failure) => {
            if !failure.rolled_back {
                tracing::error!(error = %failure.error, size = group.len(), "connection lost during a group commit; callers are told to retry");
            }
            for command in group {
                let _ = command.reply.send(Err(failure.error.clone()));
            }
        }
    }
}

/// Writes `units` in one transaction, trying again (briefly) when another writer won a lock race.
async fn write(
    pool: &Pool,
    units: &[&IngestUnit],
    channel: &str,
) -> Result<Vec<Result<IngestResult, StoreError>>, Failure> {
    const TRIES: u32 = 3;
    let mut tried = 0;
    loop {
        tried += 1;
        match write_once(pool, units, channel).await {
            Err(failure) if failure.lost_race && tried < TRIES => {
                let pause = rand::random_range(1..=10u64) * u64::from(tried);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
}

async fn write_once(
    pool: &Pool,
    units: &[&IngestUnit],
    channel: &str,
) -> Result<Vec<Result<IngestResult, StoreError>>, Failure> {
    let clean: Vec<_> = units.iter().map(|u| without_nul(u)).collect();
    let units: Vec<&IngestUnit> = clean.iter().map(AsRef::as_ref).collect();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let answers = ingest_group(&tx, &units, now_ms(), channel).await?;
    tx.commit().await?;
    Ok(answers)
}
