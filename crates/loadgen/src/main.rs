//! The `loadgen` binary: see the library's documentation. Exit code 0 when the load ran and (with
//! `--sandbox`) every acknowledged conversion arrived; 1 when the delivery check failed; 2 on an error.

use std::process::ExitCode;

use clap::Parser;
use signalpost_loadgen::{Args, check, run};

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if args.check_acked.is_empty() {
        runtime
            .block_on(run(&args))
            .map(|(report, passed)| (report.table(), passed))
    } else {
        runtime.block_on(check(&args)).map(|(report, passed)| {
            let text = format!(
                "check of {} file(s), run id {}\n{}\n",
                report.files,
                report.run_id,
                report.delivery.summary()
            );
            (text, passed)
        })
    };
    match result {
        Ok((text, passed)) => {
            print!("{text}");
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
