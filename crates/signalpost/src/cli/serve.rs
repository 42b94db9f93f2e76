//! `signalpost serve`: the gateway. Without `--config` it runs the embedded demo (SQLite under
//! `./signalpost-data/`, an in-process sandbox as destination); with one, real pixels go to TikTok
//! unless their `base_url` says otherwise. SIGHUP reloads pixels and rules from the same file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::app::{AppOptions, Application};
use crate::config::Config;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Without it: demo mode with an in-process sandbox.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    pub(super) config: Option<PathBuf>,
}

/// Builds and runs the application until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: config: {err}");
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let app = match Application::build(config, AppOptions::serve(args.config.is_some())).await {
        Ok(app) => app,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = args.config.clone() {
        spawn_reload_on_sighup(app.reloader(), path);
    }
    match app
        .run_until_stopped(super::sandbox::shutdown_signal())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(unix)]
fn spawn_reload_on_sighup(reloader: crate::app::Reloader, path: PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; config reload needs a restart");
            return;
        };
        while hangup.recv().await.is_some() {
            let result = match Config::load(Some(&path)) {
                Ok(config) => reloader.reload(&config).await,
                Err(e) => Err(anyhow::Error::from(e)),
            };
            match result {
                Ok(_) => tracing::info!(path = %path.display(), "config reloaded"),
                Err(err) => {
                    tracing::error!(path = %path.display(), "config reload refused, keeping the running config: {err:#}");
                }
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_reload_on_sighup(_reloader: crate::app::Reloader, _path: PathBuf) {}
