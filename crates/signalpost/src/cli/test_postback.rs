//! `signalpost test-postback`: the Test Postback from the command line, with the pixels of a config
//! file and no server. Prints TikTok's answer and the exact body sent as JSON (the same document as
//! `POST /v1/test-postback`); exits 0 when TikTok accepted the event, 1 when it refused (e.g. 40105
//! for a revoked token), 2 on bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{EXIT_USAGE, read_json_file, usage_error};
use crate::ops::context::OpsContext;
use crate::ops::test_postback::{TestPostbackRequest, fire};

#[derive(Debug, Args)]
pub struct TestPostbackArgs {
    /// Configuration file (TOML) holding the pixel and its token.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    config: PathBuf,
    /// Pixel code of a configured pixel.
    #[arg(long)]
    pixel: String,
    /// TikTok event name (default CompleteRegistration).
    #[arg(long)]
    event: Option<String>,
    /// Events Manager test code (default: the pixel's).
    #[arg(long)]
    test_event_code: Option<String>,
    /// A lead as JSON (the body of POST /v1/leads); the built-in sample lead otherwise.
    #[arg(long)]
    lead: Option<PathBuf>,
    /// `properties.value`.
    #[arg(long)]
    value: Option<f64>,
    /// `properties.currency`.
    #[arg(long)]
    currency: Option<String>,
}

/// Runs the command.
pub async fn run(args: TestPostbackArgs) -> ExitCode {
    let ctx = match OpsContext::load_with_store(Some(&args.config)).await {
        Ok(ctx) => ctx,
        Err(err) => return usage_error("--config", format!("{err:#}")),
    };
    let lead = match args.lead.as_deref().map(read_json_file).transpose() {
        Ok(lead) => lead,
        Err(err) => return usage_error("--lead", err),
    };
    let request = TestPostbackRequest {
        pixel: args.pixel,
        event: args.event,
        test_event_code: args.test_event_code,
        lead,
        value: args.value,
        currency: args.currency,
    };
    let now = signalpost_gateway::time::now_secs();
    match fire(
        &ctx.pixels,
        &ctx.rules,
        &crate::admin::destinations::Destinations::from_config(&ctx.config),
        &ctx.identifiers,
        request,
        now,
    )
    .await
    {
        Ok(answer) => {
            super::print_json(&answer);
            if answer.delivered() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            let problem = err.problem();
            let flag = match problem.field.as_deref() {
                Some(field) => format!("--{}", field.replace('_', "-")),
                None => "--pixel".to_owned(),
            };
            eprintln!("error: {flag}: {}", problem.detail);
            ExitCode::from(EXIT_USAGE)
        }
    }
}
