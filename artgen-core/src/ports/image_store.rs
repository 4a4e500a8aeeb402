//! The port to image storage.

use std::pin::Pin;
use std::time::Duration;

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

/// What [`ImageStore::head`] knows without reading the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHead {
    /// The image's metadata.
    pub meta: ImageMeta,
    /// Length of the stored bytes.
    pub len: u64,
}

/// The bytes of an image as a stream of chunks, in order.
pub type ImageBody = Pin<Box<dyn futures_core::Stream<Item = Result<Bytes>> + Send>>;

/// An opened image: what it is, and its bytes still to be read.
pub struct ImageReader {
    /// Metadata and length.
    pub head: ImageHead,
    /// The bytes, `head.len` of them in all. The stream checks the bytes' integrity as they
    /// pass: when what was read does not match what was stored, its last item is an error
    /// instead of a clean end, so a consumer that sees an error item MUST discard (or abort
    /// sending) what it got.
    pub body: ImageBody,
}

impl ImageReader {
    /// Reads the whole body into one buffer (for small images, and tests).
    ///
    /// # Errors
    /// The body's first error item.
    pub async fn read_all(mut self) -> Result<Bytes> {
        let mut out = Vec::with_capacity(usize::try_from(self.head.len).unwrap_or(0));
        while let Some(chunk) = std::future::poll_fn(|cx| self.body.as_mut().poll_next(cx)).await {
            out.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(out))
    }
}

impl std::fmt::Debug for ImageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageReader")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
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

    /// An image's metadata and length, without reading its bytes; `Ok(None)` when there is
    /// none (or the id is malformed).
    ///
    /// # Errors
    /// `internal_error` when the backend fails or the stored metadata is damaged.
    async fn head(&self, id: &ImageId) -> Result<Option<ImageHead>>;

    /// Opens an image for reading as a stream of chunks, so that a large image is never held
    /// whole; `Ok(None)` when there is none. The bytes are checked against the hash they were
    /// stored under as they stream (see [`ImageReader::body`]).
    ///
    /// # Errors
    /// `internal_error` when the backend fails or the stored metadata is damaged; failures
    /// while streaming are error items of the body.
    async fn open(&self, id: &ImageId) -> Result<Option<ImageReader>>;

    /// Removes an image: once this returned, `get`, `head`, `open` and `presign` of the id
    /// find nothing. Deleting an id that is not stored is a no-op. Bytes shared with other
    /// images (stores may keep identical bytes once) stay for those.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn delete(&self, id: &ImageId) -> Result<()>;

    /// A URL from which anyone holding it can `GET` the image's bytes directly from the
    /// backend, valid for `expires_in`. `Ok(None)` when the store cannot sign URLs (the
    /// default; the caller then serves the bytes itself, e.g. from [`ImageStore::open`]) or
    /// has no such image.
    ///
    /// # Errors
    /// `internal_error` when the backend fails or cannot sign for that long.
    async fn presign(&self, id: &ImageId, expires_in: Duration) -> Result<Option<String>> {
        let _ = (id, expires_in);
        Ok(None)
    }
}
