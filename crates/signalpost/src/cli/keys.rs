//! `signalpost keys create|list|revoke`: API keys stored in the database. `create` prints the key
//! once; the database keeps only its digest.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use signalpost_gateway::store::settings::KeyScope;

use super::usage_error;
use crate::admin::views::KeyView;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Configuration file naming the store (`data_dir` or `database_url`); defaults otherwise.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print it (shown only this once).
    Create {
        /// `postback` (only GET /v1/postback, the key for postback URLs), `ingest` (leads, events)
        /// or `admin` (everything).
        #[arg(long)]
        scope: String,
        /// What the key is for.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the keys (never the keys themselves).
    List,
    /// Revoke a key by its id (`key_…`).
    Revoke {
        /// The key's id, as `keys list` shows it.
        id: String,
    },
}

/// Runs the command.
pub async fn run(args: KeysArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => return usage_error("--config", err),
    };
    if let KeysCommand::Create { scope, .. } = &args.command
        && KeyScope::parse(scope).is_none()
    {
        return usage_error("--scope", "must be postback, ingest or admin");
    }
    let (store, catalog) = match crate::ops::context::open_catalog(&config).await {
        Ok(opened) => opened,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.command {
        KeysCommand::Create { scope, label } => {
            let scope = KeyScope::parse(&scope).unwrap_or(KeyScope::Ingest);
            catalog.create_key(scope, &label).await.map(|created| {
                println!("{}", created.key);
                eprintln!(
                    "created {} key {} (shown only this once; send it as `Authorization: Bearer <key>`)",
                    scope.as_str(),
                    created.stored.id
                );
            })
        }
        KeysCommand::List => catalog.keys().await.map(|keys| {
            let views: Vec<KeyView> = keys.iter().map(KeyView::new).collect();
            super::print_json(&views);
        }),
        KeysCommand::Revoke { id } => catalog
            .revoke_key(&id)
            .await
            .map(|()| println!("revoked {id}")),
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
