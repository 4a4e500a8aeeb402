//! The port to durable usage accounting.

use async_trait::async_trait;

use crate::domain::{UsageQuery, UsageRecord};
use crate::error::Result;

/// Records and reads usage rows.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Writes one record durably before returning.
    ///
    /// Writing a record whose `request_id` already exists MUST succeed without creating a
    /// second row (retried writes are never counted twice).
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn record(&self, record: &UsageRecord) -> Result<()>;

    /// Reads records matching the query, newest first.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn list(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>>;
}
