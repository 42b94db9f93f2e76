//! Online backup and restore of the SQLite store (`signalpost backup` and `signalpost restore`).
//!
//! A backup is `VACUUM INTO` on a read-only connection: one read transaction, so the copy is the
//! consistent snapshot of the last commit before it began, while the serving process keeps
//! committing to the WAL beside it (WAL readers never block the writer). Every lead acknowledged
//! before the backup started is in it: the writer answers only after its commit. The copy is written
//! under a temporary name, checked, synced and then renamed, so the target is either a whole backup
//! or absent; it is `0600` like the store.
//!
//! A restore never writes under a running server: it takes the data directory's serve lock for its
//! whole duration (so no server can start half-way either), refuses a backup a newer build wrote, and
//! refuses to replace an existing store unless told to.
//!
//! What it must never do: touch a store another process serves, or leave a half-written file under
//! the name the operator asked for.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::serve_lock::ServeLock;
use super::{DB_FILE, create_private_dir, schema};
use crate::store::StoreError;

/// What a backup or a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The file written (the backup, or the restored store).
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its schema version.
    pub schema_version: i64,
    /// How many leads it holds.
    pub leads: u64,
}

/// Copies the store in `data_dir` to `to` (which must not exist) while a server may be running.
pub fn backup(data_dir: &Path, to: &Path) -> Result<CopyReport, StoreError> {
    let source = data_dir.join(DB_FILE);
    if !source.is_file() {
        return Err(StoreError::Io(format!(
            "no SQLite store at {} (is data_dir right?)",
            source.display()
        )));
    }
    if to.exists() {
        return Err(StoreError::Io(format!(
            "{} exists; a backup never overwrites a file, name a new one",
            to.display()
        )));
    }
    let partial = sibling(to, ".partial");
    let result = write_backup(&source, &partial, to);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// `VACUUM INTO` `partial`, checked and synced, then renamed to `to`.
fn write_backup(source: &Path, partial: &Path, to: &Path) -> Result<CopyReport, StoreError> {
    create_private_file(partial)?;
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| io_error(source, e))?;
    conn.busy_timeout(schema::BUSY_TIMEOUT)?;
    let target = partial
        .to_str()
        .ok_or_else(|| StoreError::Io(format!("{} is not UTF-8", partial.display())))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    drop(conn);
    let report = check(partial)?;
    sync_file(partial)?;
    std::fs::rename(partial, to).map_err(|e| io_error(to, e))?;
    sync_parent(to);
    Ok(CopyReport {
        path: to.to_owned(),
        ..report
    })
}

/// Restores the backup `from` as the store of `data_dir`. Fails with [`StoreError::Busy`] when a
/// server holds `data_dir`, and refuses to replace an existing store unless `replace` is set.
pub fn restore(from: &Path, data_dir: &Path, replace: bool) -> Result<CopyReport, StoreError> {
    if !from.is_file() {
        return Err(StoreError::Io(format!("no backup at {}", from.display())));
    }
    let found = check(from)?;
    create_private_dir(data_dir).map_err(|e| io_error(data_dir, e))?;
    // Held until the store is in place: no server can start on a half-restored directory.
    let _lock = ServeLock::acquire(data_dir)?;
    let target = data_dir.join(DB_FILE);
    let has_store = std::fs::metadata(&target).is_ok_and(|m| m.len() > 0);
    if has_store && !replace {
        return Err(StoreError::Io(format!(
            "{} already holds a store; restore into a new data_dir, or pass --force to replace it",
            data_dir.display()
        )));
    }
    let partial = sibling(&target, ".restore");
    let _ = std::fs::remove_file(&partial);
    let result = put_in_place(from, &partial, &target);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result.map(|()| CopyReport {
        path: target,
        ..found
    })
}

/// Copies `from` to `partial` (synced), removes the replaced store's WAL, renames `partial` to
/// `target`.
fn put_in_place(from: &Path, partial: &Path, target: &Path) -> Result<(), StoreError> {
    create_private_file(partial)?;
    let mut out = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(partial)
        .map_err(|e| io_error(partial, e))?;
    let mut input = File::open(from).map_err(|e| io_error(from, e))?;
    std::io::copy(&mut input, &mut out).map_err(|e| io_error(partial, e))?;
    out.sync_all().map_err(|e| io_error(partial, e))?;
    // The replaced store's WAL belongs to it: left beside the restored file, SQLite would replay it
    // into the restored database.
    for suffix in ["-wal", "-shm"] {
        let stale = sibling(target, suffix);
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&stale, e)),
        }
    }
    std::fs::rename(partial, target).map_err(|e| io_error(target, e))?;
    sync_parent(target);
    Ok(())
}

/// Opens a copy read-only and checks that it is a whole signalpost store this build can run.
fn check(path: &Path) -> Result<CopyReport, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| io_error(path, e))?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| not_a_store(path, e))?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt(format!(
            "{} fails SQLite's check: {verdict}",
            path.display()
        )));
    }
    let version = schema::read_version(&conn).map_err(|e| not_a_store(path, e))?;
    if version == 0 {
        return Err(StoreError::Io(format!(
            "{} is not a signalpost store (it has no schema version)",
            path.display()
        )));
    }
    if version > schema::CURRENT_VERSION {
        return Err(StoreError::SchemaTooNew(format!(
            "{} has schema version {version}, newer than this build's {}: restore it with that \
             signalpost version or newer",
            path.display(),
            schema::CURRENT_VERSION
        )));
    }
    let leads: i64 = conn
        .query_row("SELECT COUNT(*) FROM leads", [], |r| r.get(0))
        .map_err(|e| not_a_store(path, e))?;
    let bytes = std::fs::metadata(path)
        .map_err(|e| io_error(path, e))?
        .len();
    Ok(CopyReport {
        path: path.to_owned(),
        bytes,
        schema_version: version,
        leads: u64::try_from(leads).unwrap_or(0),
    })
}

fn not_a_store(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!(
        "{} is not a readable signalpost store: {e}",
        path.display()
    ))
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates an empty file readable by its owner only (a backup holds everything the store does).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|e| io_error(path, e))?;
    Ok(())
}

fn sync_file(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error(path, e))
}

/// Makes a rename durable; best effort (not every file system lets a directory be synced).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn refuses_to_overwrite_a_file_and_to_restore_a_non_store() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        drop(SqliteStore::open(&data).unwrap());
        let taken = dir.path().join("taken.db");
        std::fs::write(&taken, b"x").unwrap();
        let err = backup(&data, &taken).unwrap_err().to_string();
        assert!(err.contains("never overwrites"), "{err}");
        assert_eq!(std::fs::read(&taken).unwrap(), b"x");

        let err = restore(&taken, &dir.path().join("new"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a"), "{err}");
        assert!(!dir.path().join("new").join(DB_FILE).exists());
    }
}
