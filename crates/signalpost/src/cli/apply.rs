//! `signalpost apply --config FILE`: applies the file's `[[pixels]]` and `[[rules]]` to the database
//! now (what `serve` does at start and on SIGHUP) and prints what changed. Running servers pick the
//! changes up within their settings poll (2 s).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::usage_error;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Configuration file (TOML) to apply.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    config: PathBuf,
}

/// Runs the command.
pub async fn run(args: ApplyArgs) -> ExitCode {
    let config = match Config::load(Some(&args.config)) {
        Ok(config) => config,
        Err(err) => return usage_error("--config", err),
    };
    let (store, catalog) = match crate::ops::context::open_catalog(&config).await {
        Ok(opened) => opened,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = crate::admin::apply::apply(&catalog, &config).await;
    store.close().await;
    match result {
        Ok(report) => {
            print!("{report}");
            if report.changed() {
                println!("applied: running servers pick the changes up within 2 s");
            } else {
                println!("nothing to change");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
