//! `loadgen`: drives a running signalpost over HTTP with many keep-alive connections, at a fixed rate
//! or flat out, with single leads (a share of them later sold) or batches; records throughput and a
//! latency histogram; then asks the sandbox what arrived and checks that every acknowledged conversion
//! was delivered exactly once per event_id. Prints a summary table and writes the figures as JSON.
//!
//! `workload` makes the bodies, `conn` is one keep-alive connection, `drive` runs the load, `verify`
//! does the delivery check, `report` renders the figures. It never talks to TikTok: only to the server
//! under test and to the sandbox.

pub mod acked;
pub mod conn;
pub mod drive;
pub mod report;
pub mod verify;
pub mod workload;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Parser, ValueEnum};

use conn::Target;
use drive::{LoadSpec, Mode};
use report::{CheckReport, DeliveryReport, Report, Timing};

/// Command-line arguments.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadgen",
    about = "Load generator for signalpost: throughput, latency and a delivery check against the sandbox"
)]
pub struct Args {
    /// The signalpost server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// API key (`Authorization: Bearer`).
    #[arg(
        long,
        env = "SIGNALPOST_API_KEY",
        required_unless_present = "check_acked"
    )]
    pub key: Option<String>,
    /// The sandbox the server delivers to; without it nothing is verified.
    #[arg(long)]
    pub sandbox: Option<String>,
    /// Single leads (`POST /v1/leads` + `lead_sold` events), batches (`POST /v1/batch`), or `GET`s of
    /// a static route (`--path`): the HTTP ceiling the other figures are quoted against.
    #[arg(long, value_enum, default_value_t = ModeArg::Lead)]
    pub mode: ModeArg,
    /// Keep-alive connections (one task each).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// How long to send, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many requests (whichever comes first with --duration).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Total requests per second; absent or 0: flat out.
    #[arg(long)]
    pub rate: Option<f64>,
    /// The route `--mode static` gets (no key needed, nothing stored).
    #[arg(long, default_value = "/capture.js")]
    pub path: String,
    /// Items per batch in batch mode (at most 1,000).
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Share of leads followed by a `lead_sold` event.
    #[arg(long, default_value_t = 0.3)]
    pub sold_share: f64,
    /// Prefix of every transaction id (default: random), so runs never collide.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Make the sandbox fail (HTTP 500) during the load and release it afterwards, so the delivery
    /// rate is measured draining a backlog rather than keeping up with ingest.
    #[arg(long)]
    pub hold_delivery: bool,
    /// The sandbox fault played while delivery is held (`--hold-delivery`): http_500, http_502, hang,
    /// rate_limit, server_error, ...
    #[arg(long, default_value = "http_500")]
    pub hold_fault: String,
    /// Also write every acknowledged conversion to this file (`pixel<TAB>event<TAB>event_id` lines),
    /// for a later `--check-acked` spanning several runs.
    #[arg(long)]
    pub acked_out: Option<PathBuf>,
    /// Send no load: check that the conversions listed in these files (written by `--acked-out`)
    /// arrived at `--sandbox` exactly once per event_id. `--run-id` is the common prefix of their
    /// event ids.
    #[arg(long, num_args = 1.., requires_all = ["sandbox", "run_id"])]
    pub check_acked: Vec<PathBuf>,
    /// How long to wait for deliveries, seconds.
    #[arg(long, default_value_t = 300.0)]
    pub verify_timeout: f64,
    /// Give up waiting when nothing new arrived for this long, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub verify_stall: f64,
    /// Write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Runtime worker threads (the tool shares the machine with the server).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Lead,
    Batch,
    Static,
}

/// Runs the load and the check; `Ok(false)` when the delivery check failed.
pub async fn run(args: &Args) -> anyhow::Result<(Report, bool)> {
    let key = args
        .key
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("--key (or SIGNALPOST_API_KEY) is needed to send load"))?;
    let target = Target::parse(&args.target, Some(key))?;
    anyhow::ensure!(
        (1..=1000).contains(&args.batch_size),
        "--batch-size must be 1 to 1000"
    );
    anyhow::ensure!(
        args.duration.is_finite() && args.duration > 0.0,
        "--duration must be a positive number of seconds"
    );
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("lg{:08x}", rand::random::<u32>()));
    let spec = LoadSpec {
        target,
        mode: match args.mode {
            ModeArg::Lead => Mode::Lead,
            ModeArg::Batch => Mode::Batch,
            ModeArg::Static => Mode::Static,
        },
        connections: args.connections.max(1),
        duration: Some(Duration::from_secs_f64(args.duration)),
        requests: args.requests,
        rate: args.rate.filter(|r| *r > 0.0),
        batch_size: args.batch_size,
        sold_share: args.sold_share,
        run_id,
        path: args.path.clone(),
    };

    let mut sandbox = match &args.sandbox {
        Some(url) => Some(verify::Sandbox::new(Target::parse(url, None)?)),
        None => None,
    };
    anyhow::ensure!(
        sandbox.is_some() || !args.hold_delivery,
        "--hold-delivery needs --sandbox"
    );
    let baseline = match sandbox.as_mut() {
        Some(s) => s.accepted_events().await?,
        None => 0,
    };
    if args.hold_delivery
        && let Some(s) = sandbox.as_mut()
    {
        s.inject_fault(&args.hold_fault, 86_400).await?;
    }

    let outcome = drive::run(&spec).await;
    let load_end = SystemTime::now();

    let mut released = None;
    if args.hold_delivery
        && let Some(s) = sandbox.as_mut()
    {
        s.clear_faults().await?;
        released = Some(SystemTime::now());
    }
    let mut verification = None;
    let mut waited = Duration::ZERO;
    if let Some(s) = sandbox.as_mut() {
        let (v, w) = verify::verify(
            s,
            &outcome.acked,
            &spec.run_id,
            baseline,
            Duration::from_secs_f64(args.verify_timeout.max(0.0)),
            Duration::from_secs_f64(args.verify_stall.max(1.0)),
        )
        .await?;
        verification = Some(v);
        waited = w;
    }
    let report = Report::new(
        &spec,
        &outcome,
        verification.as_ref(),
        Timing {
            released,
            load_end,
            waited,
        },
    );
    if let Some(path) = &args.acked_out {
        acked::write(path, &outcome.acked)?;
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let passed = verification
        .as_ref()
        .is_none_or(verify::Verification::passed);
    Ok((report, passed))
}

/// `--check-acked`: the delivery check alone, over acknowledgement files of earlier runs; `Ok(false)`
/// when it failed.
pub async fn check(args: &Args) -> anyhow::Result<(CheckReport, bool)> {
    let (Some(url), Some(run_id)) = (&args.sandbox, &args.run_id) else {
        anyhow::bail!("--check-acked needs --sandbox and --run-id");
    };
    let mut expected = Vec::new();
    for path in &args.check_acked {
        expected.extend(acked::read(path)?);
    }
    let mut sandbox = verify::Sandbox::new(Target::parse(url, None)?);
    let (v, waited) = verify::verify(
        &mut sandbox,
        &expected,
        run_id,
        0,
        Duration::from_secs_f64(args.verify_timeout.max(0.0)),
        Duration::from_secs_f64(args.verify_stall.max(1.0)),
    )
    .await?;
    let report = CheckReport {
        run_id: run_id.clone(),
        files: args.check_acked.len(),
        delivery: DeliveryReport::of(&v, v.first_received, None, false, waited),
    };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok((report, v.passed()))
}
