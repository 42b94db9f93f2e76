//! The data directory and the database files are the operator's alone: a directory signalpost
//! creates is `0700`, and the database file is `0600` (SQLite gives its `-wal` and `-shm` files the
//! database file's mode), whatever the process umask. A database file an older version created
//! readable by others is narrowed to `0600` when it is opened.

use std::io;
use std::path::Path;

/// Creates `dir` (and missing parents) readable only by the owner; an existing one is left as is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Makes sure the database file at `path` exists with mode `0600` before SQLite opens it.
pub fn prepare_private_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o777)
    }

    #[test]
    fn directories_are_0700_and_the_database_file_0600() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/data");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        let file = dir.join("x.db");
        prepare_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600, "a readable file is narrowed");
    }

    #[test]
    fn a_new_store_keeps_its_directory_and_files_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let store = crate::store::sqlite::SqliteStore::open(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join(crate::store::sqlite::DB_FILE);
        assert_eq!(mode(&db), 0o600);
        let wal = dir.join(format!("{}-wal", crate::store::sqlite::DB_FILE));
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
        drop(store);
    }
}
