/// Errors of the storage layer. Callers map `NotFound` and `Conflict` to client errors; everything
/// else is a server fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
}

impl StoreError {
    /// A unique-constraint violation: another writer created the same row first.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// PostgreSQL aborted the transaction to break a deadlock (`40P01`) or a serialization
    /// conflict (`40001`): nothing of it was written, and running it again is the remedy.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("40P01" | "40001")))
    }

    /// The database could not be reached or could not write (connection lost, pool closed or
    /// timed out, disk full, I/O error, locked): the same statement may succeed later, and the
    /// data is not at fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Protocol(_) => true,
                sqlx::Error::Database(d) => {
                    let code = d.code().unwrap_or_default();
                    // PostgreSQL: connection (08), resources (53), operator intervention (57);
                    // SQLite: busy (5), locked (6), no memory (7), I/O (10), full (13).
                    // PostgreSQL's codes are five characters; SQLite's are (extended) numbers
                    // whose low byte is the primary code.
                    if code.len() == 5 {
                        ["08", "53", "57"].iter().any(|c| code.starts_with(c))
                    } else {
                        code.parse::<u32>()
                            .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 7 | 10 | 13))
                    }
                }
                _ => false,
            },
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
