//! Backend-independent parts of the image index: the `images` row both SQL backends store,
//! and the listing limits.

use std::str::FromStr as _;

use artgen_core::domain::{Dimensions, ImageId, OutputFormat, RequestId};
use artgen_core::ports::ImageMeta;

use crate::error::{from_db, StoreError};

/// The columns of an `images` row, in the order every statement names them.
pub(crate) const IMAGE_COLUMNS: &str = "id, owner, org, request_id, prompt, model, format, \
    width, height, sha256, len, created_at_ms";

/// The most rows one gallery listing returns, whatever limit it asks for.
pub(crate) const MAX_IMAGE_LIMIT: u32 = 1000;

/// An `images` row as a database returns it (SQLite and Postgres store the same columns).
#[derive(sqlx::FromRow)]
pub(crate) struct ImageRow {
    id: String,
    owner: String,
    org: Option<String>,
    request_id: String,
    prompt: String,
    model: String,
    format: String,
    width: i64,
    height: i64,
    sha256: String,
    len: i64,
    created_at_ms: i64,
}

fn corrupt(field: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        field,
        reason: format!("unreadable value {value:?}"),
    }
}

impl TryFrom<ImageRow> for ImageMeta {
    type Error = StoreError;

    fn try_from(row: ImageRow) -> Result<Self, StoreError> {
        let dimension = |value: i64, field| {
            u32::try_from(value).map_err(|_| corrupt(field, &value.to_string()))
        };
        Ok(ImageMeta {
            id: ImageId::parse(&row.id).ok_or_else(|| corrupt("images.id", &row.id))?,
            owner: row.owner,
            org: row.org,
            request_id: RequestId::parse(&row.request_id)
                .ok_or_else(|| corrupt("images.request_id", &row.request_id))?,
            prompt: row.prompt,
            model: row.model,
            format: OutputFormat::from_str(&row.format)
                .map_err(|_| corrupt("images.format", &row.format))?,
            dimensions: Dimensions::new(
                dimension(row.width, "images.width")?,
                dimension(row.height, "images.height")?,
            ),
            sha256: row.sha256,
            len: from_db(row.len, "images.len")?,
            created_at_ms: row.created_at_ms,
        })
    }
}
