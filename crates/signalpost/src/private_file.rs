//! Files only their owner may read: the generated API key and the master key in `data_dir`.

use std::path::Path;

/// Creates `path` (it must not exist yet) with `contents` and a line break, readable and writable
/// by its owner only (mode 0600 on Unix), and syncs it to disk.
#[cfg(unix)]
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Writes `path` with `contents` and a line break (no permission bits to set off Unix).
#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{contents}\n"))
}
