//! Pipelined durability: the writer commits without waiting for the disk, and a second thread fsyncs
//! the WAL and only then releases the commits' answers.
//!
//! With `synchronous=FULL` every commit waited for its own fsync, and the writer (the one thread
//! that can write) sat idle for it: a quarter of its time under load. The writer connection now runs
//! with `synchronous=NORMAL`, where a WAL commit is written but not fsynced, and hands the commit's
//! answers to this thread, which fsyncs the WAL file and then answers. Meanwhile the writer runs the
//! next group, and one fsync covers every commit that arrived since the last one.
//!
//! Why no acknowledged write can be lost: an answer leaves only after an fsync of the WAL that began
//! after its commit was written, so its frames are on disk. On recovery SQLite replays the WAL from
//! the start and stops at the first frame whose checksum chain breaks, so a later commit that never
//! reached the disk cannot hide an earlier one that did. Checkpoints fsync the WAL before copying it
//! into the database (SQLite does so at every `synchronous` level above OFF), so no page of an
//! unsynced commit reaches the database file first. A failed fsync answers every commit it covered
//! with an error: they may or may not survive a power loss, so the clients retry (every write is
//! idempotent).
//!
//! Readers can see a commit before its fsync, as they could with FULL between the write and the
//! fsync. Deliveries cannot act on it early: a claim is itself a writer command, answered through
//! this thread after a later fsync.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use crate::store::StoreError;

/// What the sync thread does with each item once its fate is known.
type Release<T> = Arc<dyn Fn(T, Result<(), StoreError>) + Send + Sync>;

/// The running sync thread.
pub(crate) struct WalSync<T: Send + 'static> {
    wal: PathBuf,
    release: Release<T>,
    tx: Option<mpsc::Sender<Vec<T>>>,
    join: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> WalSync<T> {
    /// Starts the thread that fsyncs `wal` and then calls `release` on what was handed to it.
    pub fn start(
        wal: PathBuf,
        release: impl Fn(T, Result<(), StoreError>) + Send + Sync + 'static,
    ) -> Result<WalSync<T>, StoreError> {
        let (tx, rx) = mpsc::channel::<Vec<T>>();
        let release: Release<T> = Arc::new(release);
        let path = wal.clone();
        let thread_release = release.clone();
        let join = std::thread::Builder::new()
            .name("signalpost-walsync".into())
            .spawn(move || run(&path, &rx, &thread_release))
            .map_err(|e| StoreError::Io(format!("cannot start the WAL sync thread: {e}")))?;
        Ok(WalSync {
            wal,
            release,
            tx: Some(tx),
            join: Some(join),
        })
    }

    /// Releases `items` after the next fsync of the WAL. If the thread is gone, syncs here instead.
    pub fn after_sync(&self, items: Vec<T>) {
        if items.is_empty() {
            return;
        }
        let items = match &self.tx {
            Some(tx) => match tx.send(items) {
                Ok(()) => return,
                Err(mpsc::SendError(items)) => items,
            },
            None => items,
        };
        let synced = sync(&self.wal);
        for item in items {
            (self.release)(item, synced.clone());
        }
    }

    /// Releases everything handed over so far, then stops the thread.
    pub fn finish(&mut self) {
        self.tx.take();
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

impl<T: Send + 'static> Drop for WalSync<T> {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run<T>(wal: &Path, rx: &mpsc::Receiver<Vec<T>>, release: &Release<T>) {
    while let Ok(first) = rx.recv() {
        // Everything already waiting shares this fsync: it was all committed before it starts.
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let synced = sync(wal);
        if let Err(e) = &synced {
            tracing::error!(error = %e, "fsync of the WAL failed: the commits it covered are answered with an error");
        }
        for item in waiting.into_iter().flatten() {
            release(item, synced.clone());
        }
    }
}

/// fsyncs the WAL file's data (`fdatasync`).
fn sync(wal: &Path) -> Result<(), StoreError> {
    std::fs::File::open(wal)
        .and_then(|file| file.sync_data())
        .map_err(|e| StoreError::Io(format!("cannot fsync {}: {e}", wal.display())))
}

/// fsyncs the directory holding `file`, so that a newly created file's entry is durable too.
pub(crate) fn sync_dir_of(file: &Path) -> Result<(), StoreError> {
    let dir = file.parent().unwrap_or_else(|| Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::Io(format!("cannot fsync {}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn everything_handed_over_is_released_once_after_a_sync_and_finish_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("db-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let released = Arc::new(Mutex::new(Vec::new()));
        let seen = released.clone();
        let mut sync = WalSync::start(wal, move |item: u32, result| {
            seen.lock().unwrap().push((item, result.is_ok()));
        })
        .unwrap();
        for n in 0..100 {
            sync.after_sync(vec![n * 2, n * 2 + 1]);
        }
        sync.finish();
        let mut released = released.lock().unwrap().clone();
        released.sort_unstable();
        assert_eq!(released, (0..200).map(|n| (n, true)).collect::<Vec<_>>());
    }

    #[test]
    fn a_failed_fsync_releases_its_items_with_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let released = Arc::new(Mutex::new(Vec::new()));
        let seen = released.clone();
        // No WAL file: the sync cannot happen, so nothing may be answered as durable.
        let mut sync = WalSync::start(dir.path().join("missing-wal"), move |item: u32, result| {
            seen.lock()
                .unwrap()
                .push((item, result.err().map(|e| e.to_string())));
        })
        .unwrap();
        sync.after_sync(vec![7]);
        sync.finish();
        let released = released.lock().unwrap().clone();
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].0, 7);
        assert!(
            released[0]
                .1
                .as_deref()
                .unwrap_or("")
                .contains("cannot fsync"),
            "{released:?}"
        );
    }
}
