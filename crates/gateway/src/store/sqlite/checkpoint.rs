//! WAL checkpoints, off the writer's path. The writer never checkpoints as part of a commit (its
//! `wal_autocheckpoint` is 0): copying WAL pages back into the database file and fsyncing it would
//! stall every request waiting on that commit. This thread does it instead, on its own connection: a
//! PASSIVE checkpoint every tick, which never blocks the writer.
//!
//! Under continuous load a passive checkpoint never quite catches up, and SQLite starts the WAL file
//! over only when it has. So once the WAL is larger than its bound ([`wal_bound_bytes`]), this thread
//! raises the writer's restart flag, and the writer runs a RESTART checkpoint between two commits,
//! where it holds no lock (see `writer::restart_wal`). A RESTART attempted from here would wait for a
//! gap between the writer's transactions that under load never comes, and the WAL grew without
//! bound (1.5 GB after 90 k leads).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::episode::Episode;
use super::schema;
use crate::store::StoreError;

/// How often the checkpointer runs.
const TICK: Duration = Duration::from_millis(100);
/// The smallest and largest WAL bound.
const MIN_WAL_BOUND: u64 = 32 << 20;
const MAX_WAL_BOUND: u64 = 256 << 20;

/// How large the WAL may grow before the writer starts it over: an eighth of the free space on the
/// database's disk, between 32 and 256 MiB. Each restart stalls the writer for the copy of what the
/// last passive checkpoint had not reached yet plus an fsync of the database, so a larger bound means
/// fewer stalls (single-lead load: 256 MiB gave about 10 % more requests per second and half the p99
/// of 32 MiB). But the WAL must stay well inside the free space: on a small, nearly full disk it
/// would fill the rest, and a checkpoint can then no longer grow the database to empty it
/// (`bench/reliability.sh diskfull`, a 128 MB tmpfs, stayed full after the filler was removed with
/// a fixed 256 MiB bound).
pub(crate) fn wal_bound_bytes(free_bytes: u64) -> u64 {
    (free_bytes / 8).clamp(MIN_WAL_BOUND, MAX_WAL_BOUND)
}

/// The running checkpointer; dropping the handle's sender stops it.
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already migrated and in WAL mode); raises
    /// `restart` when the WAL holds `restart_frames` or more (None: [`wal_bound_bytes`] of the free
    /// space, in pages).
    pub fn start(
        path: &Path,
        restart_frames: Option<i64>,
        restart: Arc<AtomicBool>,
    ) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", path.display())))?;
        schema::configure(&conn, true)?;
        let (stop, stopped) = mpsc::channel();
        let dir = path.parent().unwrap_or_else(|| Path::new(".")).to_owned();
        let join = std::thread::Builder::new()
            .name("signalpost-checkpoint".into())
            .spawn(move || run(&conn, &dir, &stopped, restart_frames, &restart))
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

fn run(
    conn: &Connection,
    dir: &Path,
    stopped: &mpsc::Receiver<()>,
    restart_frames: Option<i64>,
    restart: &AtomicBool,
) {
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap_or(4096)
        .max(512);
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
        let bound = restart_frames.unwrap_or_else(|| {
            // Unknown free space (an unusual filesystem): the smallest bound.
            let free = fs4::available_space(dir).unwrap_or(0);
            i64::try_from(wal_bound_bytes(free)).unwrap_or(i64::MAX) / page_size
        });
        if let Ok((_, frames, _)) = result
            && frames >= bound
        {
            restart.store(true, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_bound_is_an_eighth_of_the_free_space_within_32_and_256_mib() {
        const MIB: u64 = 1 << 20;
        assert_eq!(wal_bound_bytes(0), 32 * MIB);
        assert_eq!(wal_bound_bytes(100 * MIB), 32 * MIB);
        assert_eq!(wal_bound_bytes(1024 * MIB), 128 * MIB);
        assert_eq!(wal_bound_bytes(60 * 1024 * MIB), 256 * MIB);
    }
}
