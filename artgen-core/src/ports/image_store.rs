//! The port to image bytes: a content-addressed blob store.
//!
//! What an image *is* (owner, request, prompt, size, when) lives in the
//! [`ImageIndex`](crate::ports::ImageIndex), a SQL row written with the request's finished
//! usage row; the store only keeps bytes under their hash, so each new image costs one blob and
//! identical bytes are kept once.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::domain::OutputFormat;
use crate::error::Result;

/// Where a blob is: the hash and length of its bytes, and their encoding (which names the
/// blob's extension). Only [`ImageStore::put`] makes one; an index row keeps its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Length of the bytes.
    pub len: u64,
    /// Encoding.
    pub format: OutputFormat,
}

impl BlobRef {
    /// Whether `sha256` can name a blob: 64 lower-case hex digits (never a path).
    pub fn is_well_formed(&self) -> bool {
        self.sha256.len() == 64
            && self
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}

/// The bytes of an image as a stream of chunks, in order.
pub type ImageBody = Pin<Box<dyn futures_core::Stream<Item = Result<Bytes>> + Send>>;

/// Reads a whole body into one buffer (for small images, replays and tests).
///
/// # Errors
/// The body's first error item.
pub async fn read_body(mut body: ImageBody, len_hint: u64) -> Result<Bytes> {
    let mut out = Vec::with_capacity(usize::try_from(len_hint).unwrap_or(0));
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        out.extend_from_slice(&chunk?);
    }
    Ok(Bytes::from(out))
}

/// Stores and serves image bytes, content-addressed.
#[async_trait]
pub trait ImageStore: Send + Sync {
    /// Stores `bytes` (encoded as `format`) under their SHA-256, which the store computes, and
    /// returns where they are. Atomic: a reader sees all of the blob or none of it, never
    /// part. It MUST survive a crash of the process once this returned; whether it also
    /// survives a power loss is the adapter's documented setting. Storing bytes that are
    /// already stored is a no-op that returns the same reference (identical bytes are kept
    /// once); a blob found cut short (of the wrong length) is written again.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn put(&self, format: OutputFormat, bytes: Bytes) -> Result<BlobRef>;

    /// Opens a blob for reading as a stream of chunks, so that a large image is never held
    /// whole; `Ok(None)` when there is no such blob (or the reference is malformed). The
    /// stream checks the bytes against `blob.len` and `blob.sha256` as they pass: when they
    /// do not match, its last item is an error instead of a clean end, so a consumer that
    /// sees an error item MUST discard (or abort sending) what it got.
    ///
    /// # Errors
    /// `internal_error` when the backend fails; failures while streaming are error items of
    /// the body.
    async fn open(&self, blob: &BlobRef) -> Result<Option<ImageBody>>;

    /// Removes a blob: once this returned, `open` of it is `Ok(None)` (until it is `put`
    /// again). Removing a blob that is not stored, or a malformed reference, is a no-op.
    ///
    /// A blob may back several images, so a caller removes only a blob no index row names
    /// any more ([`ArtGen::delete_image`](crate::ArtGen::delete_image) asks
    /// [`ImageIndex::blob_in_use`](crate::ports::ImageIndex::blob_in_use) first).
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn delete(&self, blob: &BlobRef) -> Result<()>;

    /// A URL from which anyone holding it can `GET` the blob directly from the backend,
    /// valid for `expires_in`. `Ok(None)` when the store cannot sign URLs (the default; the
    /// caller then serves the bytes itself, from [`ImageStore::open`]).
    ///
    /// # Errors
    /// `internal_error` when the backend fails or cannot sign for that long.
    async fn presign(&self, blob: &BlobRef, expires_in: Duration) -> Result<Option<String>> {
        let _ = (blob, expires_in);
        Ok(None)
    }
}
