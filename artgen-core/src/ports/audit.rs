//! The port to the audit trail: who did which admin action, when.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One admin action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When (Unix ms).
    pub at_ms: i64,
    /// Who did it: the acting user's id (`cli` for the command line).
    pub actor: String,
    /// The actor's credential's public id, when known (never the secret).
    pub credential_id: Option<String>,
    /// What was done, dotted (`user.limits.set`, `user.disabled`, `key.created`,
    /// `key.revoked`, `org.limits.set`, `retention.purged`, ...).
    pub action: String,
    /// What it was done to (a user id, a key's public id, ...).
    pub target: String,
    /// The change's details as JSON (new limits, ...). Never secrets.
    pub detail: serde_json::Value,
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only entries before this time (Unix ms).
    pub to_ms: Option<i64>,
    /// Only entries about this target.
    pub target: Option<String>,
    /// At most this many (newest first).
    pub limit: u32,
}

/// Appends to and reads the audit trail. Entries are never changed or removed by the
/// service (retention purges prompts and images, not the audit trail).
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `entry` durably before returning.
    ///
    /// # Errors
    /// `internal_error` when the backend fails; the admin action is then reported as failed.
    async fn append(&self, entry: &AuditEntry) -> Result<()>;

    /// Entries matching `query`, newest first.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>>;
}
