//! The one error type of this crate and its mapping into the core error.

use std::path::PathBuf;

/// Everything that can go wrong inside a storage adapter.
///
/// Callers on the request path see these only as `internal_error` (see the `From` impl below);
/// the variant and its source chain are kept for the logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed a query.
    #[error("database query failed")]
    Database(#[from] sqlx::Error),

    /// The SQLite usage writer's connection refused or failed a statement.
    #[error("database write failed")]
    Sqlite(#[from] rusqlite::Error),

    /// Redis refused or failed a command (or could not be reached).
    #[error("redis command failed")]
    Redis(#[from] redis::RedisError),

    /// The schema migrations could not be applied.
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),

    /// The object store (S3) refused or failed a request, or could not be reached.
    #[error("object store request failed")]
    ObjectStore(#[from] object_store::Error),

    /// A file operation failed.
    #[error("file operation failed on {}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A stored image's metadata file could not be read or written as JSON.
    #[error("image metadata is not valid JSON")]
    Json(#[from] serde_json::Error),

    /// A stored value cannot be turned back into a domain value.
    #[error("stored {field} is corrupt: {reason}")]
    Corrupt {
        /// What was being read.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// A value does not fit the storage type (e.g. a `u64` above `i64::MAX`).
    #[error("{field} is out of range for storage")]
    OutOfRange {
        /// The value's name.
        field: &'static str,
    },

    /// A file operation handed to the blocking pool panicked or was cancelled.
    #[error("a file task stopped before finishing")]
    Task(#[source] tokio::task::JoinError),

    /// A freshly generated key's public id collided with existing keys on every attempt.
    #[error("could not generate a unique API key id")]
    KeyIdCollision,

    /// An image id handed to the store is not a well-formed image id.
    #[error("malformed image id")]
    InvalidImageId,

    /// Adapter configuration is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The task that writes usage has stopped (the store was closed).
    #[error("the usage writer has stopped")]
    WriterStopped,

    /// The usage spool has no room for a write the database may refuse: the spool holds
    /// writes the database refused, plus room reserved for the requests in flight.
    #[error("the usage spool is full ({capacity} records)")]
    SpoolFull {
        /// The spool's capacity in records.
        capacity: usize,
    },

    /// The database cannot be reached (connection refused or lost, no connection in time,
    /// the server shutting down), and the write has no room to wait in a spool.
    #[error("the database is unreachable")]
    Unreachable(#[source] sqlx::Error),

    /// The database refused a write that cannot wait in the spool.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),

    /// Another blob already holds the database slot a blob's hash names (two hashes with the
    /// same first 8 bytes); the blob belongs in another store.
    #[error("another blob holds the database slot of blob {sha256}")]
    BlobSlotTaken {
        /// The blob that could not be kept.
        sha256: String,
    },
}

impl From<StoreError> for artgen_core::Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::SpoolFull { .. } | StoreError::Unreachable(_) => artgen_core::Error::new(
                artgen_core::ErrorCode::StorageUnavailable,
                "usage accounting is unavailable; retry shortly",
            )
            .with_retry_after(std::time::Duration::from_secs(1))
            .with_source(err),
            err => artgen_core::Error::internal(err),
        }
    }
}

/// Turns an I/O error on `path` into [`StoreError::Io`] naming it (for `map_err`).
pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Converts a `u64` into the `i64` SQL integers hold, refusing values that do not fit.
pub(crate) fn to_db(value: u64, field: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { field })
}

/// Converts a stored `i64` back into a `u64`, refusing negative values.
pub(crate) fn from_db(value: i64, field: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        field,
        reason: format!("negative value {value}"),
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use artgen_core::ErrorCode;

    use super::*;

    #[test]
    fn store_errors_become_internal_errors_keeping_the_source() {
        let err = artgen_core::Error::from(StoreError::KeyIdCollision);
        assert_eq!(err.code(), ErrorCode::Internal);
        assert_eq!(err.message(), "internal error");
        let source = err.source().expect("the store error is kept as the source");
        assert_eq!(source.to_string(), "could not generate a unique API key id");
    }

    #[test]
    fn integer_conversions_refuse_values_that_do_not_fit() {
        assert_eq!(to_db(7, "n").expect("fits"), 7);
        assert!(matches!(
            to_db(u64::MAX, "cost"),
            Err(StoreError::OutOfRange { field: "cost" })
        ));
        assert_eq!(from_db(i64::MAX, "n").expect("fits"), i64::MAX as u64);
        assert!(matches!(
            from_db(-1, "cost"),
            Err(StoreError::Corrupt { field: "cost", .. })
        ));
    }
}
