//! Command-line interface: parses arguments (clap) and dispatches to one module per subcommand.

mod apply;
mod backup;
mod check;
mod erase;
mod healthcheck;
mod import;
mod keys;
mod pixels;
mod preview;
mod replay;
mod sandbox;
mod send;
mod serve;
mod test_postback;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

/// Exit code for bad input: the same code clap uses for usage errors.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "signalpost",
    version,
    about = "Server-side conversion gateway from lead funnels to the TikTok Events API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (HTTP API + delivery engine).
    Serve(serve::ServeArgs),
    /// Send one event to the TikTok Events API (a Test Postback without a server).
    Send(Box<send::SendArgs>),
    /// Run the strict TikTok Events API sandbox.
    Sandbox(sandbox::SandboxArgs),
    /// Validate a configuration file and print every problem (exit 0 when valid, 2 otherwise).
    Check(check::CheckArgs),
    /// Fire one event for a configured pixel now and print TikTok's answer and the body sent.
    TestPostback(test_postback::TestPostbackArgs),
    /// Show what the rules would do with a lead and a lifecycle event (nothing stored or sent).
    Preview(preview::PreviewArgs),
    /// Re-queue dead or paused conversions with their original event_id.
    Replay(replay::ReplayArgs),
    /// Backfill leads or sales from a CSV file through the rules.
    Import(import::ImportArgs),
    /// Apply a config file's pixels and rules to the database now and print what changed.
    Apply(apply::ApplyArgs),
    /// Create, list or revoke API keys (scopes: postback, ingest, admin).
    Keys(keys::KeysArgs),
    /// List pixels with their token health, or replace a pixel's access token.
    Pixels(pixels::PixelsArgs),
    /// Erase one person: every lead with this transaction id, email or phone, and all it led to.
    Erase(erase::EraseArgs),
    /// Copy the SQLite store to a file while `serve` runs (PostgreSQL: use pg_dump).
    Backup(backup::BackupArgs),
    /// Bring a backup made by `signalpost backup` back as the store of a data directory.
    Restore(backup::RestoreArgs),
    /// Ask a running server whether it is ready (exit 0) or not (exit 1); for container health checks.
    Healthcheck(healthcheck::HealthcheckArgs),
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(log_format(&cli));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Send(args) => send::run(*args).await,
            Command::Sandbox(args) => sandbox::run(args).await,
            Command::Check(args) => check::run(args),
            Command::TestPostback(args) => test_postback::run(args).await,
            Command::Preview(args) => preview::run(args).await,
            Command::Replay(args) => replay::run(args).await,
            Command::Import(args) => import::run(args).await,
            Command::Apply(args) => apply::run(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::Pixels(args) => pixels::run(args).await,
            Command::Erase(args) => erase::run(args).await,
            Command::Backup(args) => backup::run_backup(args),
            Command::Restore(args) => backup::run_restore(args),
            Command::Healthcheck(args) => healthcheck::run(args).await,
        }
    })
}

/// The log format: `SIGNALPOST_LOG_FORMAT`, else (for `serve`) the config file's `[server]
/// log_format`, else human-readable. A config that does not load is reported by `serve` itself, so
/// here it only means the default.
fn log_format(cli: &Cli) -> LogFormat {
    let env = |name: &str| std::env::var(name).ok();
    match &cli.command {
        Command::Serve(args) => Config::read_with_env(args.config.as_deref(), &env)
            .map(|config| config.server.log_format)
            .unwrap_or_default(),
        _ => env("SIGNALPOST_LOG_FORMAT")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default(),
    }
}

/// Logs go to stderr (stdout stays clean for machine-readable output); `RUST_LOG` filters them.
/// JSON logs are one object a line with the event's fields at the top level, for log collectors.
fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// Prints a one-line error naming the flag at fault and returns the usage exit code.
pub fn usage_error(flag: &str, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {flag}: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// Reads a JSON file into a request type; the error names the problem (and the JSON path).
pub fn read_json_file<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::wire::json::from_slice(&bytes, "").map_err(|e| {
        let problem = e.problem();
        match problem.field {
            Some(field) => format!("{}: {field}: {}", path.display(), problem.detail),
            None => format!("{}: {}", path.display(), problem.detail),
        }
    })
}

/// Prints a JSON document (pretty) to stdout.
pub fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("error: cannot print the answer: {err}"),
    }
}
