//! The port to idempotency records: the first answer to a request sent with an idempotency
//! key, kept so that a retry gets that answer instead of doing the work (and paying) again.
//!
//! # Contract
//!
//! A record is scoped by `(user, key)`: the same key sent by two users names two independent
//! records. Its life:
//!
//! 1. [`IdempotencyStore::begin`] atomically *claims* an absent or expired record for one
//!    request and answers [`Begin::Started`]; every other caller (in this process or another
//!    replica sharing the backend) sees [`Begin::InProgress`] until the claim ends. Callers that
//!    see `InProgress` *wait* by calling `begin` again (the HTTP middleware polls, and wakes
//!    early when the claim ends in the same process).
//! 2. The claimant ends the claim with [`IdempotencyStore::complete`], storing the answer to be
//!    replayed until an expiry it chooses (24 h after the first request, at the edge), or with
//!    [`IdempotencyStore::abandon`] when the answer must not be replayed (a failure the client
//!    should retry), which frees the key at once.
//! 3. A claim that is neither completed nor abandoned (the process died) lapses after its
//!    lease, so a crash blocks a key for at most the lease, not for the whole retention.
//! 4. Expired records behave as absent and are deleted by
//!    [`IdempotencyStore::purge_expired`].
//!
//! The request is identified by a caller-computed 32-byte fingerprint (a SHA-256 of what makes
//! two requests "the same"); reusing a key for a different fingerprint is
//! [`Begin::Mismatch`], whatever the state of the record.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::ImageId;
use crate::error::Result;

/// An answer kept for replay, byte for byte: its small fields as sent, and references to the
/// images it carried inline, which the [`ImageStore`](crate::ports::ImageStore) already holds.
/// Keeping an answer therefore never stores a second copy of its images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The transport's status code of the answer (opaque to the core).
    pub status: u16,
    /// The media type of `body`.
    pub content_type: String,
    /// The body as first sent, with the text of every image in `images` cut out.
    pub body: Vec<u8>,
    /// The images cut out of `body`, in order; the edge puts each back, encoded as it was in
    /// the first answer, to rebuild it exactly.
    pub images: Vec<StoredImage>,
    /// When the answer was produced, Unix milliseconds.
    pub created_at_ms: i64,
}

/// Where an image's text goes back into a kept answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredImage {
    /// Byte offset in [`StoredResponse::body`] (offsets do not decrease along the list).
    pub offset: usize,
    /// The image, in the image store.
    pub image_id: ImageId,
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The caller now holds the claim and must run the request, then call
    /// [`IdempotencyStore::complete`] or [`IdempotencyStore::abandon`].
    Started,
    /// The request already ran; send this answer again.
    Replay(StoredResponse),
    /// Another caller holds the claim for the same request; wait and call `begin` again.
    InProgress,
    /// The key was used with a different request (another fingerprint).
    Mismatch,
}

/// Claims, completes and replays idempotency records.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `(user, key)` for the request with `fingerprint`, atomically.
    ///
    /// A record whose expiry is at or before `now_ms` counts as absent. When the record is
    /// absent the store creates a claim expiring at `now_ms + lease_ms` and answers
    /// [`Begin::Started`]; two concurrent calls (even on different replicas) MUST NOT both get
    /// `Started`. A live record with another fingerprint gives [`Begin::Mismatch`]; a live claim
    /// with the same fingerprint gives [`Begin::InProgress`]; a completed record with the same
    /// fingerprint gives [`Begin::Replay`] with the stored answer.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn begin(
        &self,
        user: &str,
        key: &str,
        fingerprint: &[u8; 32],
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Begin>;

    /// Ends a claim by storing the answer to replay until `expires_at_ms`.
    ///
    /// Only a record still in progress is completed; when the claim is gone (lapsed and taken
    /// over, abandoned or purged) nothing is written and the call still succeeds.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn complete(
        &self,
        user: &str,
        key: &str,
        response: &StoredResponse,
        expires_at_ms: i64,
    ) -> Result<()>;

    /// Ends a claim without an answer, so the next `begin` for the key starts afresh.
    ///
    /// Only a record still in progress is removed; a completed record is kept. Abandoning a
    /// missing record succeeds.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn abandon(&self, user: &str, key: &str) -> Result<()>;

    /// Deletes every record (claim or answer) whose expiry is at or before `before_ms`, and
    /// returns how many went.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn purge_expired(&self, before_ms: i64) -> Result<u64>;
}
