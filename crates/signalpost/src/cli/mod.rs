//! Command-line interface: parses arguments (clap) and dispatches to one module per subcommand.

mod check;
mod sandbox;
mod send;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
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
        }
    })
}

/// Logs go to stderr (stdout stays clean for machine-readable output); `RUST_LOG` filters them.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints a one-line error naming the flag at fault and returns the usage exit code.
pub fn usage_error(flag: &str, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {flag}: {message}");
    ExitCode::from(EXIT_USAGE)
}
