//! The port to API-key management: issue, list, revoke, note a key's use, count.
//!
//! Verifying a presented key is the [`Authenticator`](crate::ports::Authenticator)'s job; a
//! backend usually implements both over the same table. A key's secret exists only in the
//! [`ApiKey`] that [`KeyStore::create`] returns: a store keeps a hash of it, and nothing it
//! returns afterwards ([`KeyInfo`]) holds more than the public id and the last four characters.

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::{ApiKey, KeyEnv, Role};
use crate::error::Result;

/// What may be shown about an API key after it was issued: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Prefix plus the first eight body characters (e.g. `ag_live_Ab12Cd34`).
    pub public_id: String,
    /// The owner.
    pub user: String,
    /// The role the key grants.
    pub role: Role,
    /// The key's last four characters, for recognition.
    pub last_four: String,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
    /// When the key was revoked (Unix ms), if it was.
    pub revoked_at_ms: Option<i64>,
    /// When the key last authenticated a request (Unix ms), if ever.
    pub last_used_at_ms: Option<i64>,
}

/// Issues, lists and revokes API keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Issues a new key for `user` with `role` in environment `env`, and stores only its hash.
    ///
    /// The returned key is the only time its secret is available (the caller shows it once).
    /// Its public id MUST be unique among all keys, revoked ones included; an adapter draws
    /// again when the id is taken.
    ///
    /// # Errors
    /// `internal_error` when the backend fails, or when every attempt drew a taken public id.
    async fn create(&self, user: &str, role: Role, env: KeyEnv) -> Result<ApiKey>;

    /// Lists keys (revoked ones included), newest first (ties by public id), optionally only
    /// `user`'s.
    ///
    /// # Errors
    /// `internal_error` when the backend fails or a stored row cannot be read back.
    async fn list(&self, user: Option<&str>) -> Result<Vec<KeyInfo>>;

    /// Revokes the key with this public id: from now on the authenticator refuses it. Returns
    /// `true` when a live key was revoked, `false` when there is no such key or it was revoked
    /// already (the first revocation time is kept).
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn revoke(&self, public_id: &str) -> Result<bool>;

    /// Notes that the key was used at `at_ms` (Unix ms). `last_used_at_ms` never moves back: an
    /// older time than the one stored changes nothing. An unknown id changes nothing and
    /// succeeds. It is an operator's hint, so an adapter may apply it after returning.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn touch(&self, public_id: &str, at_ms: i64) -> Result<()>;

    /// How many keys exist (revoked ones included); a server bootstraps an admin key when
    /// there are none.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn count(&self) -> Result<u64>;
}
