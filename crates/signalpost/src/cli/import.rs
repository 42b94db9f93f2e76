//! `signalpost import`: streams a CSV of past leads or sales through the rules into the store `serve`
//! uses (see `ops::import` for columns, validation and re-run semantics). The file is read record by
//! record, never whole; valid rows are stored in batches through the group commit (`submit_batch`,
//! so a lead and its event share one commit); rows that fail validation, and rows too old for TikTok,
//! go to a per-row error file and are not sent. `serve` delivers what was queued (at its next poll
//! when it is running, else when it starts).
//!
//! Exit code: 0 when every row was imported or already had been, 1 when some rows were refused (see
//! the error file) or the store failed, 2 on bad input (flags, file, header).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use signalpost_gateway::domain::RefusedConversion;
use signalpost_gateway::store::StoreError;
use signalpost_gateway::{BatchItem, Gateway, GatewayError, IngestResult};

use super::usage_error;
use crate::ops::context::OpsContext;
use crate::ops::import::{Columns, ImportTrigger, RowRefusal, ValidRow};
use crate::wire::IdentifierPolicy;
use crate::wire::problem::{ApiError, FieldError};

/// Rows per commit (a row is up to two batch items; the gateway takes 1,000 at most).
const DEFAULT_BATCH_ROWS: usize = 500;

#[derive(Debug, Args)]
#[command(
    after_help = "Columns named like these fields need no --map: transaction_id (required), email, phone, \
external_id, ip, user_agent, landing_url, referrer, ttclid, ttp, fbclid, fbc, fbp, gclid, gbraid, wbraid, \
meta_lead_id, tiktok_lead_id, source, country, occurred_at; for lifecycle events \
also buyer, offer, revenue, payout, currency, name (custom) and idempotency_key; fields.<name> for custom lead \
fields. Other columns must be mapped or skipped (--map COLUMN=-). Empty cells are absent values.\n\n\
Exit status: 0 all rows imported (or imported before), 1 some rows refused (see the error file) or the \
store failed, 2 bad flags, file or header."
)]
pub struct ImportArgs {
    /// The CSV file (first line: column names).
    file: PathBuf,
    /// The lifecycle step of every row: form_submit (leads only), lead_sold, offer_click,
    /// offer_conversion, buyer_routed or custom (with a `name` column).
    #[arg(long)]
    trigger: String,
    /// Configuration file (TOML): its data_dir, pixels, rules and identifier policy. Demo defaults
    /// without one.
    #[arg(long, short = 'c', env = "SIGNALPOST_CONFIG")]
    config: Option<PathBuf>,
    /// COLUMN=FIELD: read COLUMN as FIELD (e.g. `--map "E-mail=email"`, `--map status=fields.status`);
    /// FIELD `-` skips the column. Repeatable.
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    maps: Vec<String>,
    /// Where to write refused rows (row, transaction_id, field, problem); default FILE.errors.csv,
    /// written only when a row is refused.
    #[arg(long)]
    errors: Option<PathBuf>,
    /// Rows per commit.
    #[arg(long, default_value_t = DEFAULT_BATCH_ROWS)]
    batch: usize,
}

/// What the import did, for the summary.
#[derive(Debug, Default)]
struct Tally {
    read: u64,
    imported: u64,
    duplicates: u64,
    invalid: u64,
    too_old: u64,
    queued: u64,
    already_queued: u64,
    warnings: u64,
    /// Conversions TikTok would refuse (kept as undeliverable, or not stored): listed in the error
    /// file with their field.
    undeliverable: u64,
}

/// A valid row waiting for its batch's commit.
struct Pending {
    row: u64,
    transaction_id: String,
    /// Index of its first item in the batch, and whether an event item follows the lead item.
    first_item: usize,
    has_event: bool,
}

/// Runs the command.
pub async fn run(args: ImportArgs) -> ExitCode {
    let trigger = match ImportTrigger::parse(&args.trigger) {
        Ok(t) => t,
        Err(e) => return usage_error("--trigger", e),
    };
    let mut maps = Vec::with_capacity(args.maps.len());
    for map in &args.maps {
        match map.split_once('=') {
            Some((column, field)) if !column.trim().is_empty() && !field.trim().is_empty() => {
                maps.push((column.trim().to_owned(), field.trim().to_owned()));
            }
            _ => return usage_error("--map", format!("{map:?} is not COLUMN=FIELD")),
        }
    }
    let ctx = match OpsContext::load_with_store(args.config.as_deref()).await {
        Ok(ctx) => ctx,
        Err(err) => return usage_error("--config", format!("{err:#}")),
    };
    let file = match File::open(&args.file) {
        Ok(f) => f,
        Err(e) => return usage_error("FILE", format!("cannot open {}: {e}", args.file.display())),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 16, file));
    let headers: Vec<String> = match reader.byte_headers() {
        Ok(h) => h
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect(),
        Err(e) => return usage_error("FILE", format!("cannot read the header line: {e}")),
    };
    let columns = match Columns::new(&headers, &maps, trigger) {
        Ok(c) => c,
        Err(e) => return usage_error("FILE", e),
    };
    let (store, gateway) = match ctx.open_gateway().await {
        Ok(opened) => opened,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let errors_path = args
        .errors
        .clone()
        .unwrap_or_else(|| default_errors_path(&args.file));
    let mut run = Import {
        gateway: Arc::new(gateway),
        in_flight: None,
        policy: ctx.identifiers.clone(),
        max_age_secs: i64::try_from(ctx.config.delivery.policy().max_event_age.as_secs())
            .unwrap_or(i64::MAX),
        errors_path,
        errors: None,
        tally: Tally::default(),
        items: Vec::new(),
        pending: Vec::new(),
    };
    let bar = progress_bar(size);
    let started = Instant::now();
    let outcome = run
        .read_all(&mut reader, &columns, args.batch.max(1), &bar)
        .await;
    bar.finish_and_clear();
    store.close().await;
    let elapsed = started.elapsed();
    let flushed = run.close_errors();
    run.print_summary(elapsed);
    match (outcome, flushed) {
        (Err(e), _) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        (_, Err(e)) => {
            eprintln!("error: cannot write {}: {e}", run.errors_path.display());
            ExitCode::FAILURE
        }
        _ if run.tally.invalid + run.tally.too_old > 0 => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

/// Commits one batch; a saturated or locked store is waited for (with backoff, up to ~30 s).
async fn commit(
    gateway: &Gateway,
    items: Vec<BatchItem>,
) -> Result<Vec<Result<IngestResult, GatewayError>>, String> {
    let mut wait = Duration::from_millis(100);
    loop {
        match gateway.submit_batch(items.clone()).await {
            Ok(answers) => return Ok(answers),
            Err(GatewayError::Store(StoreError::Backpressure { .. } | StoreError::Busy(_)))
                if wait < Duration::from_secs(30) =>
            {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(format!("the store refused a batch: {e}")),
        }
    }
}

fn default_errors_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".errors.csv");
    file.with_file_name(name)
}

fn progress_bar(size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "import {bar:40} {bytes}/{total_bytes} {msg} ({bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The answers to one committed batch, with the rows they belong to.
type Committed = (
    Vec<Pending>,
    Result<Vec<Result<IngestResult, GatewayError>>, String>,
);

struct Import {
    gateway: Arc<Gateway>,
    /// The batch being committed while the next one is read and validated (commits stay in order:
    /// at most one is in flight).
    in_flight: Option<tokio::task::JoinHandle<Committed>>,
    policy: IdentifierPolicy,
    max_age_secs: i64,
    errors_path: PathBuf,
    errors: Option<csv::Writer<File>>,
    tally: Tally,
    items: Vec<BatchItem>,
    pending: Vec<Pending>,
}

impl Import {
    async fn read_all(
        &mut self,
        reader: &mut csv::Reader<BufReader<File>>,
        columns: &Columns,
        batch_rows: usize,
        bar: &ProgressBar,
    ) -> Result<(), String> {
        let mut record = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) if e.is_io_error() => return Err(format!("reading the file failed: {e}")),
                Err(e) => {
                    self.tally.read += 1;
                    let row = e.position().map_or(self.tally.read + 1, |p| p.line());
                    self.refuse(
                        row,
                        "",
                        vec![FieldError::new("", format!("unreadable row: {e}"))],
                    )?;
                    continue;
                }
            }
            self.tally.read += 1;
            let row = record.position().map_or(self.tally.read + 1, |p| p.line());
            self.row(row, &record, columns)?;
            if self.pending.len() >= batch_rows {
                self.flush().await?;
                bar.set_position(reader.position().byte());
                bar.set_message(format!("{} rows", self.tally.read));
            }
        }
        self.flush().await?;
        self.settle().await?;
        bar.set_position(reader.position().byte());
        Ok(())
    }

    /// Validates one record and queues it for the next commit, or reports it.
    fn row(&mut self, row: u64, record: &csv::ByteRecord, columns: &Columns) -> Result<(), String> {
        if record.len() != columns.len() {
            let transaction_id = columns.transaction_id(record).unwrap_or_default();
            return self.refuse(
                row,
                &transaction_id,
                vec![FieldError::new(
                    "",
                    format!(
                        "the row has {} cells, the header {}",
                        record.len(),
                        columns.len()
                    ),
                )],
            );
        }
        let mut cells = Vec::with_capacity(record.len());
        for cell in record {
            match std::str::from_utf8(cell) {
                Ok(text) => cells.push(text),
                Err(_) => {
                    let transaction_id = columns.transaction_id(record).unwrap_or_default();
                    return self.refuse(
                        row,
                        &transaction_id,
                        vec![FieldError::new("", "the row is not UTF-8")],
                    );
                }
            }
        }
        let requests = columns.requests(&cells);
        let transaction_id = requests.lead.transaction_id.clone().unwrap_or_default();
        let now = signalpost_gateway::time::now_secs();
        match requests.validate(&self.policy, now, self.max_age_secs) {
            Ok(valid) => {
                self.queue(row, valid);
                Ok(())
            }
            Err(RowRefusal::Invalid(errors)) => self.refuse(row, &transaction_id, errors),
            Err(RowRefusal::TooOld(error)) => {
                self.tally.too_old += 1;
                self.write_errors(row, &transaction_id, &[error])
            }
        }
    }

    fn queue(&mut self, row: u64, valid: ValidRow) {
        if !valid.lead.warnings.is_empty() {
            self.tally.warnings += 1;
        }
        self.pending.push(Pending {
            row,
            transaction_id: valid.transaction_id.clone(),
            first_item: self.items.len(),
            has_event: valid.event.is_some(),
        });
        self.items.push(BatchItem::Lead(valid.lead));
        if let Some(event) = valid.event {
            self.items.push(BatchItem::Event {
                transaction_id: valid.transaction_id,
                event,
            });
        }
    }

    /// Hands the queued rows to the store (after the previous batch's commit is tallied), so the next
    /// rows are validated while this batch commits.
    async fn flush(&mut self) -> Result<(), String> {
        self.settle().await?;
        if self.items.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(&mut self.items);
        let pending = std::mem::take(&mut self.pending);
        let gateway = self.gateway.clone();
        self.in_flight = Some(tokio::spawn(async move {
            (pending, commit(&gateway, items).await)
        }));
        Ok(())
    }

    /// Waits for the batch in flight and tallies each row's answer.
    async fn settle(&mut self) -> Result<(), String> {
        let Some(task) = self.in_flight.take() else {
            return Ok(());
        };
        let (pending, answers) = task
            .await
            .map_err(|e| format!("the commit task failed: {e}"))?;
        let answers = answers?;
        for p in pending {
            let lead = answers.get(p.first_item);
            let event = p.has_event.then(|| answers.get(p.first_item + 1)).flatten();
            let outcome: Result<(bool, Vec<&IngestResult>), &GatewayError> = match (lead, event) {
                (Some(Err(e)), _) | (_, Some(Err(e))) => Err(e),
                (Some(Ok(lead)), None) if !p.has_event => Ok((lead.event_created, vec![lead])),
                (Some(Ok(lead)), Some(Ok(event))) => Ok((event.event_created, vec![lead, event])),
                _ => return Err("the gateway answered fewer items than it was given".into()),
            };
            match outcome {
                Ok((created, results)) => {
                    if created {
                        self.tally.imported += 1;
                    } else {
                        self.tally.duplicates += 1;
                    }
                    for r in results.into_iter().filter(|r| r.event_created) {
                        let refused: Vec<RefusedConversion> = r
                            .conversions
                            .iter()
                            .filter_map(RefusedConversion::of_stored)
                            .chain(r.refused.iter().cloned())
                            .collect();
                        let stored_refused = refused.iter().filter(|x| x.stored).count();
                        self.tally.queued += (r.conversions.len() - stored_refused) as u64;
                        self.tally.already_queued += r.duplicates.len() as u64;
                        self.tally.undeliverable += refused.len() as u64;
                        let errors: Vec<FieldError> = refused
                            .iter()
                            .map(|x| {
                                FieldError::new(
                                    x.field.clone(),
                                    format!("rule {:?} (pixel {}): {}", x.rule, x.pixel, x.problem),
                                )
                            })
                            .collect();
                        if !errors.is_empty() {
                            self.write_errors(p.row, &p.transaction_id, &errors)?;
                        }
                        crate::http::record_ingest(r);
                    }
                }
                Err(e) => {
                    let problem = ApiError::from(e.clone()).problem();
                    let error = FieldError::new(problem.field.unwrap_or_default(), problem.detail);
                    self.refuse(p.row, &p.transaction_id, vec![error])?;
                }
            }
        }
        Ok(())
    }

    fn refuse(
        &mut self,
        row: u64,
        transaction_id: &str,
        errors: Vec<FieldError>,
    ) -> Result<(), String> {
        self.tally.invalid += 1;
        self.write_errors(row, transaction_id, &errors)
    }

    fn write_errors(
        &mut self,
        row: u64,
        transaction_id: &str,
        errors: &[FieldError],
    ) -> Result<(), String> {
        if self.errors.is_none() {
            let mut writer = csv::Writer::from_path(&self.errors_path)
                .map_err(|e| format!("cannot create {}: {e}", self.errors_path.display()))?;
            writer
                .write_record(["row", "transaction_id", "field", "problem"])
                .map_err(|e| e.to_string())?;
            self.errors = Some(writer);
        }
        if let Some(writer) = self.errors.as_mut() {
            let row = row.to_string();
            for e in errors {
                writer
                    .write_record([
                        row.as_str(),
                        transaction_id,
                        e.field.as_str(),
                        e.detail.as_str(),
                    ])
                    .map_err(|e| format!("cannot write the error file: {e}"))?;
            }
        }
        Ok(())
    }

    fn close_errors(&mut self) -> std::io::Result<()> {
        match self.errors.as_mut() {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }

    fn print_summary(&self, elapsed: Duration) {
        let t = &self.tally;
        let secs = elapsed.as_secs_f64().max(1e-6);
        println!(
            "import: {} rows read in {:.2} s ({:.0} rows/s)",
            t.read,
            secs,
            t.read as f64 / secs
        );
        println!(
            "  imported    {:>9}  ({} conversions queued{})",
            t.imported,
            t.queued,
            if t.already_queued > 0 {
                format!(", {} already queued before", t.already_queued)
            } else {
                String::new()
            }
        );
        println!(
            "  duplicates  {:>9}  (imported before: nothing queued)",
            t.duplicates
        );
        let file = if self.errors.is_some() {
            format!("  → {}", self.errors_path.display())
        } else {
            String::new()
        };
        println!("  invalid     {:>9}{file}", t.invalid);
        println!(
            "  too old     {:>9}  (older than TikTok accepts; not sent){file}",
            t.too_old
        );
        if t.undeliverable > 0 {
            println!(
                "  undeliverable {:>7}  conversions TikTok would refuse (e.g. no page.url: give the pixel a site_url, then replay --state undeliverable){file}",
                t.undeliverable
            );
        }
        if t.warnings > 0 {
            println!(
                "  ({} imported rows had identifiers dropped as unusable, as the API does)",
                t.warnings
            );
        }
    }
}
