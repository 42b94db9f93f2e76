//! `signalpost erase`: deletes one person from the store `serve` uses (same data_dir or database):
//! every lead with this transaction id, email or phone, with its lifecycle events, conversions,
//! payloads and attempt log. The email and phone are normalized and hashed here exactly as at
//! ingest, so a person is found without signalpost ever having stored the address or number. Safe
//! while `serve` runs (one short write transaction).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use signalpost_gateway::store::EraseRequest;
use signalpost_tiktok::identity::{self, Region};

use super::{print_json, usage_error};
use crate::ops::context::OpsContext;

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// Configuration file (TOML): its data_dir or database_url. Defaults without one.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    config: Option<PathBuf>,
    /// The lead's transaction id.
    #[arg(long)]
    transaction_id: Option<String>,
    /// The person's email (or its SHA-256).
    #[arg(long)]
    email: Option<String>,
    /// The person's phone (or its SHA-256); national numbers are read with --region.
    #[arg(long)]
    phone: Option<String>,
    /// Region of a national-format --phone (ISO alpha-2); default: [server] default_region.
    #[arg(long)]
    region: Option<String>,
}

/// Runs the command: prints what was deleted; exit 0, 1 when the store failed, 2 on bad input.
pub async fn run(args: EraseArgs) -> ExitCode {
    if args.transaction_id.is_none() && args.email.is_none() && args.phone.is_none() {
        return usage_error(
            "--transaction-id",
            "say whom to erase: --transaction-id, --email or --phone",
        );
    }
    let ctx = match OpsContext::load_with_store(args.config.as_deref()).await {
        Ok(ctx) => ctx,
        Err(err) => return usage_error("--config", format!("{err:#}")),
    };
    let email = match args.email.as_deref().map(identity::hash_email).transpose() {
        Ok(hash) => hash.map(|h| h.into_string()),
        Err(err) => return usage_error("--email", err),
    };
    let region = match args.region.as_deref().map(Region::parse).transpose() {
        Ok(region) => region.unwrap_or(ctx.identifiers.default_region),
        Err(err) => return usage_error("--region", err),
    };
    let phone = match args
        .phone
        .as_deref()
        .map(|raw| identity::hash_phone(raw, region))
        .transpose()
    {
        Ok(hash) => hash.map(|h| h.into_string()),
        Err(err) => return usage_error("--phone", err),
    };
    let who = EraseRequest {
        transaction_id: args.transaction_id,
        email,
        phone,
    };
    let (store, gateway) = match ctx.open_gateway().await {
        Ok(opened) => opened,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = gateway.store().erase(&who).await;
    store.close().await;
    match result {
        Ok(erased) => {
            print_json(&erased);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: erase failed: {err}");
            ExitCode::FAILURE
        }
    }
}
