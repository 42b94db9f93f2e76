//! The serve lock: at most one serving process per SQLite data directory.
//!
//! Conversions a delivery worker has claimed are `in_flight` until their lease runs out. When a server
//! is killed, those leases are orphaned, and the next server should send them again at once rather
//! than after the lease (two minutes by default). But "orphaned" can only be decided by someone who
//! knows that no live process is still sending them: an operator tool opened beside a running server
//! that released "orphaned" leases would make the server send every in-flight batch twice.
//!
//! The serving process therefore holds an exclusive advisory lock (`flock(2)` on Unix, `LockFileEx`
//! on Windows, through `fs4`) on [`SERVE_LOCK_FILE`] in the data directory for as long as it serves.
//! The operating system drops the lock when the process exits in any way, SIGKILL and power loss
//! included, so whoever gets the lock knows that every lease in the file belongs to a dead process.
//! A second server on the same directory does not get it and refuses to start; tools never ask for it
//! and never touch leases.
//!
//! The file is never deleted: removing a lock file while another process waits to lock it lets two
//! processes each lock a different inode of the same name.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// Name of the lock file inside the data directory.
pub const SERVE_LOCK_FILE: &str = "serve.lock";

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub(crate) struct ServeLock {
    /// Kept open: closing it would release the lock.
    _file: File,
    path: PathBuf,
}

impl ServeLock {
    /// Takes the lock of `data_dir` without waiting. Fails with [`StoreError::Busy`], naming the
    /// holder's process id when it wrote one, if another process serves this directory.
    pub(crate) fn acquire(data_dir: &Path) -> Result<ServeLock, StoreError> {
        let path = data_dir.join(SERVE_LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", path.display())))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file)
                    .map(|pid| format!(" (process {pid})"))
                    .unwrap_or_default();
                return Err(StoreError::Busy(format!(
                    "another `signalpost serve`{holder} is already serving the data directory {}: \
                     it holds the lock {}. Stop it first, or give this server its own data_dir \
                     (operator commands such as keys, pixels, import and replay may run beside it)",
                    data_dir.display(),
                    path.display()
                )));
            }
            Err(fs4::TryLockError::Error(e)) => {
                return Err(StoreError::Io(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
        // Only the error message of a second server reads this, so failing to write it is no reason
        // not to serve.
        if let Err(e) = write_holder(&mut file) {
            tracing::debug!(file = %path.display(), error = %e, "cannot record the serving process id");
        }
        Ok(ServeLock { _file: file, path })
    }

    /// The lock file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Replaces the file's contents with this process's id.
fn write_holder(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}

/// The process id the holder wrote, if the file holds one (it may be empty for a moment while the
/// holder writes it).
fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_next_one_after_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServeLock::acquire(dir.path()).unwrap();
        assert_eq!(first.path(), dir.path().join(SERVE_LOCK_FILE));
        let refused = ServeLock::acquire(dir.path()).unwrap_err();
        let StoreError::Busy(message) = refused else {
            panic!("expected Busy, got {refused:?}");
        };
        assert!(
            message.contains("already serving")
                && message.contains(&format!("(process {})", std::process::id())),
            "{message}"
        );
        drop(first);
        let second = ServeLock::acquire(dir.path()).unwrap();
        let recorded = std::fs::read_to_string(second.path()).unwrap();
        assert_eq!(recorded.trim(), std::process::id().to_string());
    }

    #[test]
    fn a_stale_lock_file_left_by_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SERVE_LOCK_FILE), "999999999\n").unwrap();
        let lock = ServeLock::acquire(dir.path()).unwrap();
        let recorded = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(recorded.trim(), std::process::id().to_string());
    }
}
