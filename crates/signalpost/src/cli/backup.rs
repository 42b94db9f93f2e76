//! `signalpost backup` and `signalpost restore`: a consistent copy of the SQLite store taken while
//! `serve` runs, and the way back (see `signalpost_gateway::store::sqlite::backup`). A PostgreSQL
//! store is backed up with PostgreSQL's own tools; both commands say so instead of guessing.
//!
//! Neither ever prints or copies the master key: it seals the pixels' access tokens in the store,
//! so the commands remind the operator where it is and that it must be kept with (not inside) the
//! backups.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use signalpost_gateway::StoreError;
use signalpost_gateway::store::postgres::is_postgres_url;
use signalpost_gateway::store::sqlite::backup;

use super::{EXIT_USAGE, usage_error};
use crate::admin::vault::{MASTER_KEY_ENV, MASTER_KEY_FILE};
use crate::config::Config;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Configuration file (TOML): the data_dir whose store is copied. Defaults without one.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    config: Option<PathBuf>,
    /// The backup file to write (it must not exist; written with mode 0600).
    #[arg(long)]
    to: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Configuration file (TOML): the data_dir to restore into. Defaults without one.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    config: Option<PathBuf>,
    /// The backup file written by `signalpost backup`.
    #[arg(long)]
    from: PathBuf,
    /// Replace the data_dir's existing store (never while a server holds it).
    #[arg(long)]
    force: bool,
}

/// Runs `backup`: exit 0 with the copy written, 1 when it failed, 2 on bad input.
pub fn run_backup(args: BackupArgs) -> ExitCode {
    let data_dir = match sqlite_data_dir(args.config.as_deref(), "backup") {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    match backup::backup(&data_dir, &args.to) {
        Ok(report) => {
            println!(
                "backup written: {} ({} bytes, {} leads, schema version {})",
                report.path.display(),
                report.bytes,
                report.leads,
                report.schema_version
            );
            remind_master_key(&data_dir);
            ExitCode::SUCCESS
        }
        Err(err) => fail("backup", &err),
    }
}

/// Runs `restore`: exit 0 with the store in place, 1 when it failed (a server holds the data_dir,
/// a store is already there, the backup is unusable), 2 on bad input.
pub fn run_restore(args: RestoreArgs) -> ExitCode {
    let data_dir = match sqlite_data_dir(args.config.as_deref(), "restore") {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    match backup::restore(&args.from, &data_dir, args.force) {
        Ok(report) => {
            println!(
                "restored {} into {} ({} leads, schema version {})",
                args.from.display(),
                report.path.display(),
                report.leads,
                report.schema_version
            );
            remind_master_key(&data_dir);
            ExitCode::SUCCESS
        }
        Err(err) => fail("restore", &err),
    }
}

/// The config's SQLite data directory; a usage error for a PostgreSQL store or a bad config.
fn sqlite_data_dir(config: Option<&Path>, what: &str) -> Result<PathBuf, ExitCode> {
    let config = Config::load(config).map_err(|err| usage_error("--config", err))?;
    match config.server.database_url.as_deref() {
        Some(url) if is_postgres_url(url) => {
            eprintln!(
                "error: server.database_url: this store is PostgreSQL, which signalpost does not {what}; \
                 use PostgreSQL's tools (pg_dump --format=custom --schema=… to back up, pg_restore to \
                 restore) and keep the master key with the dumps (see docs/deploy.md)"
            );
            Err(ExitCode::from(EXIT_USAGE))
        }
        Some(_) => Err(usage_error(
            "server.database_url",
            "expected a postgres:// URL, or leave it unset for SQLite under data_dir",
        )),
        None => Ok(config.server.data_dir),
    }
}

fn fail(what: &str, err: &StoreError) -> ExitCode {
    eprintln!("error: {what}: {err}");
    ExitCode::FAILURE
}

/// Where the key that opens the sealed access tokens lives; never its value.
fn remind_master_key(data_dir: &Path) {
    if std::env::var_os(MASTER_KEY_ENV).is_some() {
        eprintln!(
            "note: the access tokens in this store are sealed with the key in {MASTER_KEY_ENV}; \
             keep that key with the backups (apart from them), or the tokens cannot be opened"
        );
    } else {
        eprintln!(
            "note: the access tokens in this store are sealed with {}; keep a copy of that file \
             with the backups (apart from them), or the tokens cannot be opened",
            data_dir.join(MASTER_KEY_FILE).display()
        );
    }
}
