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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
