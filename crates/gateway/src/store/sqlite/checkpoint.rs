//! WAL checkpoints, off the writer's path. The writer never checkpoints (its `wal_autocheckpoint` is
//! 0): copying WAL pages back into the database file and fsyncing it would stall every request
//! waiting on that commit. This thread does it instead, on its own connection: a PASSIVE checkpoint
//! every tick (never blocks the writer), and a RESTART once the WAL has grown past a bound — under
//! continuous load a passive checkpoint never quite catches up, so without it the WAL would grow
//! forever. The restart only copies what arrived since the last passive pass, so the writer waits
//! briefly, if at all.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::episode::Episode;
use super::schema;
use crate::store::StoreError;

/// How often the checkpointer runs.
const TICK: Duration = Duration::from_millis(100);
/// WAL frames (pages) past which the checkpointer restarts the WAL from its beginning.
const RESTART_FRAMES: i64 = 8_192;

/// The running checkpointer; dropping the handle's sender stops it.
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already migrated and in WAL mode).
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", path.display())))?;
        schema::configure(&conn, true)?;
        let (stop, stopped) = mpsc::channel();
        let join = std::thread::Builder::new()
            .name("signalpost-checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| StoreError::Io(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop: Some(stop),
            join: Some(join),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    // A failing checkpoint (a full disk) fails every tick: logged per episode, not per tick.
    let mut failing = Episode::new(
        "WAL checkpoint failed; will retry every tick",
        "WAL checkpoints succeed again",
    );
    // Nothing is ever sent: the sender is dropped to stop, which ends the wait at once.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
        let result = checkpoint(conn, "PASSIVE");
        match &result {
            Ok(_) => failing.succeeded(Instant::now()),
            Err(e) => failing.failed(&e.to_string(), Instant::now()),
        };
        match result {
            Ok((_, frames, _)) if frames >= RESTART_FRAMES => {
                if let Err(e) = checkpoint(conn, "RESTART") {
                    tracing::debug!(error = %e, "WAL restart checkpoint did not complete; will retry");
                }
            }
            Ok(_) | Err(_) => {}
        }
    }
}

/// `(busy, frames in the WAL, frames checkpointed)`.
fn checkpoint(conn: &Connection, mode: &str) -> Result<(i64, i64, i64), StoreError> {
    let out = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(out)
}
