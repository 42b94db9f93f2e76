//! `signalpost sandbox`: runs the strict TikTok Events API, Meta Conversions API and Google Ads
//! click conversions sandbox until Ctrl-C / SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use signalpost_sandbox::{Latency, SandboxConfig};

use super::usage_error;

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9400")]
    listen: SocketAddr,
    /// A pixel and its access token, `CODE=TOKEN` (repeatable).
    #[arg(long = "pixel", value_name = "CODE=TOKEN")]
    pixels: Vec<String>,
    /// A Meta pixel (dataset) id and its access token, `ID=TOKEN` (repeatable), served on
    /// `POST /{version}/{pixel_id}/events`.
    #[arg(long = "meta-pixel", value_name = "ID=TOKEN")]
    meta_pixels: Vec<String>,
    /// A Google Ads customer id (10 digits, no dashes) and its developer token,
    /// `CUSTOMER_ID=DEVELOPER_TOKEN` (repeatable), served on `POST /token` and
    /// `POST /v{N}/customers/{customer_id}:uploadClickConversions`.
    #[arg(long = "google-ads", value_name = "CUSTOMER_ID=DEVELOPER_TOKEN")]
    google_ads: Vec<String>,
    /// Relax only the checks TikTok's own examples contradict (e.g. `page.url` for web events).
    #[arg(long)]
    lenient: bool,
    /// Oldest accepted `event_time`, in seconds before now.
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    max_past_secs: u64,
    /// Newest accepted `event_time`, in seconds after now (clock skew).
    #[arg(long, default_value_t = 300)]
    max_future_secs: u64,
    /// Answer code 40100 above this many requests per second.
    #[arg(long)]
    max_rps: Option<u32>,
    /// How long the `hang` fault holds a request, in seconds.
    #[arg(long, default_value_t = 60)]
    hang_secs: u64,
    /// Hold every Events API answer for a delay drawn from a log-normal distribution with this
    /// median and 99th percentile, in milliseconds (`150`: always 150 ms; `100:300`: median 100 ms,
    /// 1 % above 300 ms; `0`: no delay). Real TikTok answers in 100–300 ms.
    #[arg(long = "latency-ms", value_name = "P50[:P99]", default_value_t = Latency::NONE)]
    latency: Latency,
}

/// Starts the sandbox and serves until interrupted.
pub async fn run(args: SandboxArgs) -> ExitCode {
    let mut pixels = Vec::new();
    for spec in &args.pixels {
        match signalpost_sandbox::parse_pixel_spec(spec) {
            Ok(pixel) => pixels.push(pixel),
            Err(err @ signalpost_sandbox::InvalidPixel::Spec(_)) => {
                return usage_error("--pixel", err);
            }
            Err(err) => return usage_error("--pixel", format!("{err} (in {:?})", redact(spec))),
        }
    }
    let mut meta_pixels = Vec::new();
    for spec in &args.meta_pixels {
        match signalpost_sandbox::parse_pixel_spec(spec) {
            Ok(pixel) => meta_pixels.push(pixel),
            Err(err @ signalpost_sandbox::InvalidPixel::Spec(_)) => {
                return usage_error("--meta-pixel", err);
            }
            Err(err) => {
                return usage_error("--meta-pixel", format!("{err} (in {:?})", redact(spec)));
            }
        }
    }
    let mut google_ads = Vec::new();
    for spec in &args.google_ads {
        match signalpost_sandbox::parse_google_ads_spec(spec) {
            Ok(customer) => google_ads.push(customer),
            Err(err @ signalpost_sandbox::InvalidPixel::Spec(_)) => {
                return usage_error("--google-ads", err);
            }
            Err(err) => {
                return usage_error("--google-ads", format!("{err} (in {:?})", redact(spec)));
            }
        }
    }
    let config = SandboxConfig {
        pixels,
        meta_pixels,
        google_ads,
        strict: !args.lenient,
        max_past: Duration::from_secs(args.max_past_secs),
        max_future: Duration::from_secs(args.max_future_secs),
        max_rps: args.max_rps,
        hang: Duration::from_secs(args.hang_secs),
        latency: args.latency,
        ..SandboxConfig::default()
    };
    let running = match signalpost_sandbox::spawn(config, args.listen).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("error: --listen: cannot listen on {}: {err}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        addr = %running.addr,
        latency_ms = %args.latency,
        "SANDBOX: strict TikTok Events API sandbox listening; POST {}/open_api/v1.3/event/track/",
        running.base_url()
    );
    if !args.meta_pixels.is_empty() {
        tracing::info!(
            "SANDBOX: strict Meta Conversions API sandbox listening; POST {}/{}/{{pixel_id}}/events",
            running.base_url(),
            signalpost_sandbox::META_DEFAULT_API_VERSION
        );
    }
    if !args.google_ads.is_empty() {
        tracing::info!(
            "SANDBOX: strict Google Ads click conversions sandbox listening; POST {base}/token, POST {base}/{}/customers/{{customer_id}}:uploadClickConversions",
            signalpost_sandbox::GOOGLE_ADS_DEFAULT_API_VERSION,
            base = running.base_url(),
        );
    }
    shutdown_signal().await;
    tracing::info!("sandbox stopping");
    ExitCode::SUCCESS
}

/// Shows the code but never the token of a malformed `--pixel`, `--meta-pixel` or `--google-ads`
/// value.
fn redact(spec: &str) -> String {
    match spec.split_once('=') {
        Some((code, _)) => format!("{code}=…"),
        None => spec.chars().take(24).collect(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    fn parse(args: &[&str]) -> Result<SandboxArgs, String> {
        Cli::try_parse_from(std::iter::once("sandbox").chain(args.iter().copied()))
            .map(|cli| cli.args)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn meta_pixels_are_repeatable() {
        let args = parse(&["--meta-pixel", "123=a", "--meta-pixel", "456=b=c"]).unwrap();
        assert_eq!(args.meta_pixels, ["123=a", "456=b=c"]);
        assert!(parse(&[]).unwrap().meta_pixels.is_empty());
    }

    #[test]
    fn google_ads_customers_are_repeatable_and_checked_when_run() {
        let args = parse(&[
            "--google-ads",
            "1234567890=dev-a",
            "--google-ads",
            "2345678901=dev=b",
        ])
        .unwrap();
        assert_eq!(args.google_ads, ["1234567890=dev-a", "2345678901=dev=b"]);
        assert!(parse(&[]).unwrap().google_ads.is_empty());
        for spec in &args.google_ads {
            assert!(
                signalpost_sandbox::parse_google_ads_spec(spec).is_ok(),
                "{spec}"
            );
        }
        for (spec, reason) in [
            ("123-456-7890=dev", "10 digits"),
            ("1234567890", "expected CODE=TOKEN"),
            ("1234567890=", "access token"),
        ] {
            let err = signalpost_sandbox::parse_google_ads_spec(spec).unwrap_err();
            assert!(err.to_string().contains(reason), "{spec}: {err}");
        }
    }

    #[test]
    fn a_malformed_google_ads_value_is_shown_without_its_token() {
        assert_eq!(redact("123-456-7890=s3cret"), "123-456-7890=…");
    }

    #[test]
    fn latency_is_off_unless_asked_for() {
        assert_eq!(parse(&[]).map(|a| a.latency), Ok(Latency::NONE));
    }

    #[test]
    fn latency_takes_a_median_and_an_optional_p99() {
        for (flag, p50, p99) in [("150", 150, 150), ("100:300", 100, 300), ("0", 0, 0)] {
            let latency = parse(&["--latency-ms", flag]).map(|a| a.latency);
            assert_eq!(
                latency,
                Latency::new(p50, p99).map_err(|e| e.to_string()),
                "{flag}"
            );
        }
    }

    #[test]
    fn bad_latencies_are_usage_errors_naming_the_flag() {
        for (flag, reason) in [
            ("300:100", "P99 (100 ms) is below P50 (300 ms)"),
            ("fast", "expected P50 or P50:P99"),
            ("150ms", "expected P50 or P50:P99"),
            ("999999", "at most 60000 ms"),
        ] {
            let err = parse(&["--latency-ms", flag]).unwrap_err();
            assert!(err.contains("--latency-ms"), "{flag}: {err}");
            assert!(err.contains(reason), "{flag}: {err}");
        }
    }
}
