//! The SQLite WAL stays bounded under continuous load: the writer starts it over between commits when
//! the checkpointer asks, instead of letting it grow with everything ever written.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{demo_rules, lead};
use signalpost_gateway::store::sqlite::OpenMode;
use signalpost_gateway::{Gateway, SqliteStore, WriterConfig};

/// Bytes this process has written through write syscalls so far (`/proc/self/io`).
fn bytes_written_by_this_process() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_continuous_load_the_wal_is_started_over_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = WriterConfig {
        wal_restart_frames: Some(256),
        ..WriterConfig::default()
    };
    let store = Arc::new(SqliteStore::open_with(dir.path(), config, OpenMode::Tool).unwrap());
    let gateway = Arc::new(Gateway::new(store.clone(), demo_rules("PIXWAL")));
    let before = bytes_written_by_this_process();

    // 64 tasks keep the writer's queue full, so it never waits between two transactions: the
    // situation in which a checkpoint from another connection never gets to restart the WAL.
    let mut tasks = Vec::new();
    for task in 0..64 {
        let gateway = gateway.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..300 {
                let id = format!("wal-{task}-{n}");
                gateway.submit_lead(lead(&id)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let written = bytes_written_by_this_process() - before;
    let wal = std::fs::metadata(dir.path().join("signalpost.db-wal"))
        .unwrap()
        .len();
    store.close().await;
    eprintln!("written {written} bytes, WAL file {wal} bytes");

    // A restart reuses the WAL file from its start and never shrinks it, so its size now is the
    // largest it ever was. Unbounded, it would hold every page written (most of `written`); bounded,
    // it holds a few restart periods' worth.
    assert!(
        written > 20 * 1024 * 1024,
        "too little was written: {written} bytes"
    );
    assert!(
        wal * 4 < written,
        "the WAL grew to {wal} bytes of the {written} written"
    );
}
