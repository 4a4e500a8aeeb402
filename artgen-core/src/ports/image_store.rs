//! The port to image storage.

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::domain::{Dimensions, ImageId, OutputFormat, RequestId};
use crate::error::Result;

/// What ArtGen knows about a stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    /// The image's id.
    pub id: ImageId,
    /// The user who owns it.
    pub owner: String,
    /// The request that produced it.
    pub request_id: RequestId,
    /// Encoding.
    pub format: OutputFormat,
    /// Pixel size.
    pub dimensions: Dimensions,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
}

/// Stores and serves image bytes.
#[async_trait]
pub trait ImageStore: Send + Sync {
    /// Stores an image before returning, atomically: a reader sees all of it or none of it,
    /// never part. It MUST survive a crash of the process once this returned; whether it also
    /// survives a power loss is the adapter's documented setting. Storing the same id twice
    /// is a no-op.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn put(&self, meta: &ImageMeta, bytes: Bytes) -> Result<()>;

    /// Fetches an image by id; `Ok(None)` when there is none. Ownership is checked by the
    /// service, not the store.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn get(&self, id: &ImageId) -> Result<Option<(ImageMeta, Bytes)>>;
}
