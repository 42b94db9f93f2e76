//! Store errors, shaped for the HTTP layer: each variant maps to one answer (503 + Retry-After for
//! backpressure and for a full disk, 404 for an unknown lead, 500 otherwise).

use std::time::Duration;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The writer's queue stayed full for the whole wait: answer 503 with Retry-After.
    #[error("the store is saturated; retry after {retry_after:?}")]
    Backpressure { retry_after: Duration },
    /// A lifecycle event names a lead that does not exist.
    #[error("no lead with transaction_id {0:?}")]
    LeadNotFound(String),
    /// The disk (or the database's size limit) is full: nothing was written.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// The database is locked by another process beyond the busy timeout.
    #[error("database busy: {0}")]
    Busy(String),
    /// A uniqueness or consistency rule refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database or its files misbehaved.
    #[error("storage error: {0}")]
    Io(String),
    /// Stored data this build cannot read (e.g. an unknown state name).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database was migrated by a newer build than this one (schema versions only move forward).
    #[error("{0}")]
    SchemaTooNew(String),
    /// The store was closed (shutdown in progress).
    #[error("the store is closed")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull(e.to_string()),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Busy(e.to_string())
            }
            Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
            _ => StoreError::Io(e.to_string()),
        }
    }
}
