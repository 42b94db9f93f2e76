//! `signalpost pixels list|set-token`: pixels stored in the database. `set-token` reads the new token
//! from standard input (so it never lands in shell history or the process list); a running server
//! picks it up within its settings poll and resumes the pixel if TikTok had rejected the old one.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use signalpost_gateway::time::now_ms;

use super::usage_error;
use crate::admin::views::PixelView;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct PixelsArgs {
    /// Configuration file naming the store (`data_dir` or `database_url`); defaults otherwise.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: PixelsCommand,
}

#[derive(Debug, Subcommand)]
enum PixelsCommand {
    /// List the stored pixels with their token health (tokens redacted).
    List,
    /// Replace a pixel's access token, read from standard input (one line).
    SetToken {
        /// The pixel code.
        code: String,
    },
}

/// Runs the command.
pub async fn run(args: PixelsArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => return usage_error("--config", err),
    };
    let token = match &args.command {
        PixelsCommand::SetToken { .. } => {
            let mut line = String::new();
            if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
                return usage_error("stdin", format!("cannot read the token: {e}"));
            }
            let token = line.trim().to_owned();
            if token.is_empty() {
                return usage_error(
                    "stdin",
                    "no token: pipe the new access token in, e.g. `signalpost pixels set-token CODE < token.txt`",
                );
            }
            Some(token)
        }
        PixelsCommand::List => None,
    };
    let (store, catalog) = match crate::ops::context::open_catalog(&config).await {
        Ok(opened) => opened,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let rotation = Duration::from_secs(u64::from(config.server.token_rotation_days) * 86_400);
    let result = match args.command {
        PixelsCommand::List => catalog.pixels().await.map(|pixels| {
            let now = now_ms();
            let views: Vec<PixelView> = pixels
                .iter()
                .map(|p| PixelView::stored(p, None, rotation, now))
                .collect();
            super::print_json(&views);
        }),
        PixelsCommand::SetToken { code } => {
            let token = token.unwrap_or_default();
            catalog.set_token(&code, &token).await.map(|p| {
                let view = PixelView::stored(&p, None, rotation, now_ms());
                println!(
                    "pixel {code}: token replaced ({}); running servers resume it within 2 s",
                    view.token
                );
            })
        }
    };
    store.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
