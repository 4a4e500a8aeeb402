//! The port to image metadata: one row per image, in the same SQL store as usage.
//!
//! The rows are written by [`UsageStore::finish`](crate::ports::UsageStore::finish), in the
//! same transaction as the request's finished usage row, so an answered image always has its
//! row and a gallery lists without touching blobs. This port reads and removes them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{Dimensions, ImageId, OutputFormat, RequestId};
use crate::error::Result;
use crate::ports::BlobRef;

/// What ArtGen knows about a stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    /// The image's id.
    pub id: ImageId,
    /// The user who owns it.
    pub owner: String,
    /// The owner's organisation, when the credential named one.
    #[serde(default)]
    pub org: Option<String>,
    /// The request that produced it.
    pub request_id: RequestId,
    /// The prompt it was made from (empty for images imported from before prompts were kept).
    #[serde(default)]
    pub prompt: String,
    /// The model that made it (empty for images imported from before models were kept).
    #[serde(default)]
    pub model: String,
    /// Encoding.
    pub format: OutputFormat,
    /// Pixel size.
    pub dimensions: Dimensions,
    /// Lower-case hex SHA-256 of the bytes (names the blob).
    pub sha256: String,
    /// Length of the bytes.
    pub len: u64,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
}

impl ImageMeta {
    /// The blob holding the image's bytes.
    pub fn blob(&self) -> BlobRef {
        BlobRef {
            sha256: self.sha256.clone(),
            len: self.len,
            format: self.format,
        }
    }
}

/// A position in an owner's newest-first gallery: the `(created_at_ms, id)` of the last
/// image of a page. On the wire it is an opaque string ([`ImageCursor::encode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCursor {
    /// The last image's time (Unix ms).
    pub created_at_ms: i64,
    /// The last image's id.
    pub id: String,
}

impl ImageCursor {
    /// The position just after `image`.
    pub fn after(image: &ImageMeta) -> Self {
        Self {
            created_at_ms: image.created_at_ms,
            id: image.id.as_str().to_owned(),
        }
    }

    /// Whether `image` comes after this position in the newest-first order.
    pub fn precedes(&self, image: &ImageMeta) -> bool {
        (image.created_at_ms, image.id.as_str()) < (self.created_at_ms, self.id.as_str())
    }

    /// The opaque string form: lower-case hex of `<created_at_ms>:<id>`, safe in a query
    /// string.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.created_at_ms, self.id)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Reads a string [`ImageCursor::encode`] made; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if text.is_empty() || !text.len().is_multiple_of(2) || text.len() > 256 {
            return None;
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let plain = String::from_utf8(bytes).ok()?;
        let (ms, id) = plain.split_once(':')?;
        let id = ImageId::parse(id)?;
        Some(Self {
            created_at_ms: ms.parse().ok()?,
            id: id.as_str().to_owned(),
        })
    }
}

/// One page of a gallery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePage {
    /// The images, newest first.
    pub images: Vec<ImageMeta>,
    /// Where the next page starts, when this one was full (there may be more).
    pub next_cursor: Option<ImageCursor>,
}

impl ImagePage {
    /// The page of `images` a listing with `limit` returned.
    pub fn new(images: Vec<ImageMeta>, limit: usize) -> Self {
        let next_cursor = (limit > 0 && images.len() >= limit)
            .then(|| images.last().map(ImageCursor::after))
            .flatten();
        Self {
            images,
            next_cursor,
        }
    }
}

/// Reads and removes image metadata rows.
#[async_trait]
pub trait ImageIndex: Send + Sync {
    /// The row of `id`; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// `internal_error` when the backend fails or the row is damaged.
    async fn get_image(&self, id: &ImageId) -> Result<Option<ImageMeta>>;

    /// `owner`'s images newest first: by `created_at_ms` descending, then `id` descending;
    /// with `after`, only those strictly after that position, so paging with the cursor of
    /// each page's last image neither repeats nor skips one. At most `limit` rows.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn list_images(
        &self,
        owner: &str,
        after: Option<&ImageCursor>,
        limit: u32,
    ) -> Result<Vec<ImageMeta>>;

    /// Removes the row of `id`; `true` when there was one. The blob stays (it may be shared:
    /// see [`ImageIndex::blob_in_use`]).
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn delete_image(&self, id: &ImageId) -> Result<bool>;

    /// Whether any row names the blob `sha256` (identical bytes are stored once, so several
    /// images may share one).
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn blob_in_use(&self, sha256: &str) -> Result<bool>;

    /// Images created before `before_ms` (Unix ms), oldest first (by `created_at_ms`, then
    /// `id`), at most `limit`: what retention removes next.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn list_expired(&self, before_ms: i64, limit: u32) -> Result<Vec<ImageMeta>>;

    /// Inserts rows that are not there yet (by id; an existing row is kept as it is), for
    /// images stored before the rows existed; how many were new.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn import_images(&self, images: &[ImageMeta]) -> Result<u64>;
}
