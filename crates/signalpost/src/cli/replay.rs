//! `signalpost replay`: re-queues dead, paused or undeliverable conversions (the latter with their
//! pixel's `site_url` filled in as `page.url` when they had none) straight in the store `serve` uses (same
//! data_dir), with a progress bar and a summary. Safe while `serve` runs: each chunk is one short
//! write transaction (SQLite WAL lets the two processes take turns), and `serve`'s workers pick the
//! re-queued conversions up at their next poll. Paused conversions wait for their pixel: if the
//! running `serve` still holds it paused, they go out once its token is replaced (config reload) or
//! on its next start.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use signalpost_gateway::replay::DEFAULT_REPLAY_CHUNK;
use signalpost_gateway::store::ReplayFrom;

use super::usage_error;
use crate::ops::context::OpsContext;
use crate::ops::replay::ReplayRequest;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Configuration file (TOML): its data_dir, pixels and rules. Defaults without one.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    config: Option<PathBuf>,
    /// `dead`, `paused` or `undeliverable`.
    #[arg(long)]
    state: String,
    /// Only this pixel's conversions.
    #[arg(long)]
    pixel: Option<String>,
    /// Only conversions queued since: a duration back from now (90m, 6h, 2d, 1w) or an RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Only conversions of this rule.
    #[arg(long)]
    rule: Option<String>,
    /// Only this lead's conversions.
    #[arg(long)]
    transaction_id: Option<String>,
    /// Count what would be re-queued; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Conversions re-queued per transaction.
    #[arg(long, default_value_t = DEFAULT_REPLAY_CHUNK)]
    chunk: usize,
}

/// Runs the command: exit 0 when done, 1 when the store failed, 2 on bad input.
pub async fn run(args: ReplayArgs) -> ExitCode {
    let ctx = match OpsContext::load_with_store(args.config.as_deref()).await {
        Ok(ctx) => ctx,
        Err(err) => return usage_error("--config", format!("{err:#}")),
    };
    let request = ReplayRequest {
        state: args.state,
        pixel: args.pixel,
        since: args.since,
        rule: args.rule,
        transaction_id: args.transaction_id,
        dry_run: args.dry_run,
    };
    let filter = match request.filter(&ctx.pixels, signalpost_gateway::time::now_ms()) {
        Ok(filter) => filter,
        Err(err) => {
            let problem = err.problem();
            let flag = problem.field.map_or_else(
                || "--state".to_owned(),
                |f| format!("--{}", f.replace('_', "-")),
            );
            return usage_error(&flag, problem.detail);
        }
    };
    let (store, gateway) = match ctx.open_gateway().await {
        Ok(opened) => opened,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    // The total first (a read), so the bar has a length; then the chunks.
    let result = match gateway.replay(&filter, true, usize::MAX, |_| {}).await {
        Ok(found) if args.dry_run => Ok(found),
        Ok(found) => {
            let bar = ProgressBar::new(found.matched);
            bar.set_style(
                ProgressStyle::with_template(
                    "replay {bar:40} {pos}/{len} re-queued ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let done = gateway
                .replay(&filter, false, args.chunk, |t| bar.set_position(t.requeued))
                .await;
            bar.finish_and_clear();
            done
        }
        Err(e) => Err(e),
    };
    store.close().await;
    match result {
        Ok(totals) => {
            let verb = if args.dry_run {
                "would be re-queued"
            } else {
                "re-queued"
            };
            let count = if args.dry_run {
                totals.matched
            } else {
                totals.requeued
            };
            println!(
                "replay: {} {} conversions matched; {count} {verb}",
                totals.matched,
                filter.from.as_str()
            );
            if filter.from == ReplayFrom::Paused && !args.dry_run && count > 0 {
                println!(
                    "replay: a running serve sends them once their pixel is active again (token replaced by a config reload, or a restart)"
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: replay failed: {err}");
            ExitCode::FAILURE
        }
    }
}
