//! An [`ImageStore`] of two stores: small blobs in one (the database), the rest in the other
//! (a folder or a bucket).
//!
//! A blob of at most [`TieredImageStore::small_max`] bytes is put in the small store; a
//! larger one, or a small one the small store cannot take (it failed, or its slot is taken),
//! in the large store. Reads look where the blob's length says first and in the other store
//! next, so blobs written before the tiers existed, or under another threshold, are still
//! found; a delete removes the blob from both. Presigned URLs come from the large store, for
//! the blobs it holds.

use std::sync::Arc;
use std::time::Duration;

use artgen_core::domain::OutputFormat;
use artgen_core::ports::{BlobRef, ImageBody, ImageStore};
use async_trait::async_trait;
use bytes::Bytes;

/// Small blobs in one store, the others in another.
#[derive(Clone)]
pub struct TieredImageStore {
    small: Arc<dyn ImageStore>,
    large: Arc<dyn ImageStore>,
    small_max: u64,
}

impl std::fmt::Debug for TieredImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredImageStore")
            .field("small_max", &self.small_max)
            .finish_non_exhaustive()
    }
}

impl TieredImageStore {
    /// Blobs of at most `small_max` bytes in `small`, the others in `large`.
    pub fn new(small: Arc<dyn ImageStore>, large: Arc<dyn ImageStore>, small_max: u64) -> Self {
        Self {
            small,
            large,
            small_max,
        }
    }

    /// The largest blob the small store is given, in bytes.
    pub fn small_max(&self) -> u64 {
        self.small_max
    }

    fn is_small(&self, len: u64) -> bool {
        len <= self.small_max
    }

    /// The two stores in the order a blob of `len` bytes is looked for.
    fn lookup_order(&self, len: u64) -> [&Arc<dyn ImageStore>; 2] {
        if self.is_small(len) {
            [&self.small, &self.large]
        } else {
            [&self.large, &self.small]
        }
    }
}

#[async_trait]
impl ImageStore for TieredImageStore {
    async fn put(&self, format: OutputFormat, bytes: Bytes) -> artgen_core::Result<BlobRef> {
        if self.is_small(bytes.len() as u64) {
            match self.small.put(format, bytes.clone()).await {
                Ok(blob) => return Ok(blob),
                Err(err) => tracing::warn!(
                    error = &err as &dyn std::error::Error,
                    len = bytes.len(),
                    "a small image goes to the large image store: the small one did not take it"
                ),
            }
        }
        self.large.put(format, bytes).await
    }

    async fn open(&self, blob: &BlobRef) -> artgen_core::Result<Option<ImageBody>> {
        let [first, second] = self.lookup_order(blob.len);
        if let Some(body) = first.open(blob).await? {
            return Ok(Some(body));
        }
        second.open(blob).await
    }

    async fn delete(&self, blob: &BlobRef) -> artgen_core::Result<()> {
        let [first, second] = self.lookup_order(blob.len);
        first.delete(blob).await?;
        second.delete(blob).await
    }

    async fn presign(
        &self,
        blob: &BlobRef,
        expires_in: Duration,
    ) -> artgen_core::Result<Option<String>> {
        if self.is_small(blob.len) {
            // Most likely in the small store, which signs nothing; served by ArtGen.
            return Ok(None);
        }
        self.large.presign(blob, expires_in).await
    }
}
