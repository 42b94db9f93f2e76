//! PostgreSQL errors as [`StoreError`]s, so the HTTP layer answers the same way for both stores: a full
//! disk, an unreachable or overloaded server and a lost deadlock race are 503 (the client retries),
//! a refused constraint is a conflict, anything else a 500 that names no internals.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::store::StoreError;

/// Maps a driver error to the store error the callers understand.
pub(crate) fn from_pg(e: &tokio_postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Busy(format!("the database connection was lost: {e}"));
    }
    let Some(code) = e.code() else {
        // No SQLSTATE: an I/O or protocol error on the socket.
        return StoreError::Busy(format!("database unreachable: {}", with_causes(e)));
    };
    let text = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), code.code()),
        None => e.to_string(),
    };
    if *code == SqlState::DISK_FULL {
        return StoreError::DiskFull(text);
    }
    if is_transient(code) {
        return StoreError::Busy(text);
    }
    if code.code().starts_with("23") {
        return StoreError::Conflict(text);
    }
    StoreError::Io(text)
}

/// `e` and the errors beneath it ("error performing TLS handshake: invalid peer certificate:
/// UnknownIssuer"): the top line alone does not say what to fix.
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// Whether a failure is worth one more try of the same transaction (another node won a lock race, or
/// the server is briefly short of resources or restarting).
pub(crate) fn is_transient(code: &SqlState) -> bool {
    let c = code.code();
    *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || (c.starts_with("53") && *code != SqlState::DISK_FULL)
        || c.starts_with("08")
}

/// A failed write transaction, with what the writer needs to decide whether to try again.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: StoreError,
    /// The server reported the error, so the transaction was rolled back and nothing was written:
    /// trying the same units again cannot write them twice. `false` when the connection was lost
    /// (a COMMIT may or may not have happened).
    pub rolled_back: bool,
    /// Another transaction won a lock race (deadlock or serialization failure): the same work will
    /// most likely succeed when tried again.
    pub lost_race: bool,
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        let code = e.code();
        Failure {
            error: from_pg(&e),
            rolled_back: code.is_some() && !e.is_closed(),
            lost_race: code.is_some_and(|c| {
                *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
            }),
        }
    }
}

impl From<StoreError> for Failure {
    /// Our own refusal, raised before COMMIT: the transaction is dropped, so it rolls back.
    fn from(error: StoreError) -> Self {
        Failure {
            error,
            rolled_back: true,
            lost_race: false,
        }
    }
}

impl From<PoolError> for Failure {
    /// No connection: nothing was sent.
    fn from(e: PoolError) -> Self {
        Failure {
            error: e.into(),
            rolled_back: true,
            lost_race: false,
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        from_pg(&e)
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => from_pg(&e),
            PoolError::Closed => StoreError::Closed,
            other => StoreError::Busy(format!("no database connection available: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_races_and_resource_shortages_are_transient_but_a_full_disk_is_not() {
        assert!(is_transient(&SqlState::T_R_DEADLOCK_DETECTED));
        assert!(is_transient(&SqlState::T_R_SERIALIZATION_FAILURE));
        assert!(is_transient(&SqlState::TOO_MANY_CONNECTIONS));
        assert!(is_transient(&SqlState::CONNECTION_FAILURE));
        assert!(!is_transient(&SqlState::DISK_FULL));
        assert!(!is_transient(&SqlState::UNIQUE_VIOLATION));
        assert!(!is_transient(&SqlState::UNDEFINED_TABLE));
    }
}
