//! `signalpost preview`: the rules' dry run from the command line — the same JSON document as
//! `POST /v1/preview`, for a lead file and an optional event file, with the rules of a config file.
//! Stores and sends nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{EXIT_USAGE, read_json_file, usage_error};
use crate::ops::context::OpsContext;
use crate::ops::preview::{PreviewRequest, preview};

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Configuration file (TOML); the demo rules without one.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    config: Option<PathBuf>,
    /// The lead as JSON (the body of POST /v1/leads).
    #[arg(long)]
    lead: PathBuf,
    /// A lifecycle event as JSON (the body of POST /v1/leads/{id}/events); form_submit without it.
    #[arg(long)]
    event: Option<PathBuf>,
}

/// Runs the command: exit 0 with the document, 2 on bad input.
pub async fn run(args: PreviewArgs) -> ExitCode {
    let ctx = match OpsContext::load_with_store(args.config.as_deref()).await {
        Ok(ctx) => ctx,
        Err(err) => return usage_error("--config", format!("{err:#}")),
    };
    let lead = match read_json_file(&args.lead) {
        Ok(lead) => lead,
        Err(err) => return usage_error("--lead", err),
    };
    let event = match args.event.as_deref().map(read_json_file).transpose() {
        Ok(event) => event,
        Err(err) => return usage_error("--event", err),
    };
    let (store, gateway) = match ctx.open_gateway().await {
        Ok(opened) => opened,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let request = PreviewRequest {
        lead: Some(lead),
        transaction_id: None,
        event,
    };
    let now = signalpost_gateway::time::now_secs();
    let result = preview(&gateway, &ctx.pixels, &ctx.identifiers, request, now).await;
    store.close().await;
    match result {
        Ok(answer) => {
            super::print_json(&answer);
            ExitCode::SUCCESS
        }
        Err(err) => {
            let problem = err.problem();
            let flag = match problem.field.as_deref() {
                Some(f) if f.starts_with("event") => "--event",
                _ => "--lead",
            };
            let at = problem.field.unwrap_or_default();
            eprintln!("error: {flag}: {at}: {}", problem.detail);
            ExitCode::from(EXIT_USAGE)
        }
    }
}
