//! [`ImageStore`] on SQLite: image bytes as rows of the `blobs` table, for small images.
//!
//! A new file per image is the dearest step of a small request on a local disk (the inode
//! and folder entry it allocates); a row is one more page in a commit the usage writer makes
//! anyway. Writes go through that writer (group-committed with the usage rows of concurrent
//! requests, never spooled); reads go through the pool. The rows survive what the database
//! does: a crash of the process with the default `synchronous = NORMAL`, a power loss with
//! [`Durability::PowerLoss`](crate::Durability::PowerLoss).
//!
//! A row's key is the first 8 bytes of the blob's SHA-256, so the table is a single B-tree;
//! `sha256` says which blob the row holds. Two blobs whose hashes share those 8 bytes cannot
//! both be kept: the second `put` fails with [`StoreError::BlobSlotTaken`], and the
//! tiered store ([`crate::TieredImageStore`]) then keeps it in its other store.

use artgen_core::domain::OutputFormat;
use artgen_core::ports::{BlobRef, ImageBody, ImageStore};
use async_trait::async_trait;
use bytes::Bytes;

use super::writer::{Op, Written};
use super::SqliteStore;
use crate::error::StoreError;
use crate::verify::{blob_ref, VerifiedBody};

/// The row key of a well-formed blob: its hash's first 8 bytes, as SQLite's signed rowid.
fn slot(sha256: &str) -> Option<i64> {
    let prefix = sha256.get(..16)?;
    let unsigned = u64::from_str_radix(prefix, 16).ok()?;
    Some(i64::from_be_bytes(unsigned.to_be_bytes()))
}

/// Stores a blob's row (on the writer's connection, in its transaction); the rows changed:
/// `1` when the row is new or held these very bytes already (written again, mending a damaged
/// row), `0` when another blob holds the slot.
pub(super) fn write(
    conn: &rusqlite::Connection,
    slot: i64,
    sha256: &str,
    bytes: &[u8],
) -> Result<u64, StoreError> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO blobs (id, sha256, bytes) VALUES (?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes \
             WHERE blobs.sha256 = excluded.sha256",
        )?
        .execute(rusqlite::params![slot, sha256, bytes])?;
    Ok(super::writer::rows(changed))
}

/// Removes a blob's row, if that slot holds that blob; the rows removed.
pub(super) fn delete(
    conn: &rusqlite::Connection,
    slot: i64,
    sha256: &str,
) -> Result<u64, StoreError> {
    let removed = conn
        .prepare_cached("DELETE FROM blobs WHERE id = ?1 AND sha256 = ?2")?
        .execute(rusqlite::params![slot, sha256])?;
    Ok(super::writer::rows(removed))
}

impl SqliteStore {
    async fn put_blob(&self, format: OutputFormat, bytes: Bytes) -> Result<BlobRef, StoreError> {
        let blob = blob_ref(format, &bytes);
        let Some(id) = slot(&blob.sha256) else {
            // A hash this function computed always has a slot.
            return Err(StoreError::BlobSlotTaken {
                sha256: blob.sha256,
            });
        };
        let op = Op::PutBlob {
            id,
            sha256: blob.sha256.clone(),
            bytes,
        };
        match self.writer.submit(op).await? {
            Written::Committed(0) => Err(StoreError::BlobSlotTaken {
                sha256: blob.sha256,
            }),
            Written::Committed(_) => Ok(blob),
            // Blob writes are never spooled; a refused one fails instead.
            Written::Spooled => Err(StoreError::Unavailable(
                "a blob write was spooled".to_owned(),
            )),
        }
    }

    async fn open_blob(&self, blob: &BlobRef) -> Result<Option<ImageBody>, StoreError> {
        let Some(id) = slot(&blob.sha256).filter(|_| blob.is_well_formed()) else {
            return Ok(None);
        };
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT sha256, bytes FROM blobs WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((sha256, bytes)) = row.filter(|(sha256, _)| *sha256 == blob.sha256) else {
            return Ok(None);
        };
        let chunk: Result<Bytes, StoreError> = Ok(Bytes::from(bytes));
        let body = VerifiedBody::new(
            Box::pin(futures_util::stream::iter([chunk])),
            blob.len,
            blob.sha256.clone(),
            format!("database blob {sha256}"),
        );
        Ok(Some(Box::pin(body)))
    }

    async fn delete_blob(&self, blob: &BlobRef) -> Result<(), StoreError> {
        let Some(id) = slot(&blob.sha256).filter(|_| blob.is_well_formed()) else {
            return Ok(());
        };
        let op = Op::DeleteBlob {
            id,
            sha256: blob.sha256.clone(),
        };
        self.writer.submit(op).await?;
        Ok(())
    }
}

/// Image bytes as rows of the database: for small images, behind [`crate::TieredImageStore`].
/// No presigned URLs (ArtGen serves the bytes itself).
#[async_trait]
impl ImageStore for SqliteStore {
    async fn put(&self, format: OutputFormat, bytes: Bytes) -> artgen_core::Result<BlobRef> {
        Ok(self.put_blob(format, bytes).await?)
    }

    async fn open(&self, blob: &BlobRef) -> artgen_core::Result<Option<ImageBody>> {
        Ok(self.open_blob(blob).await?)
    }

    async fn delete(&self, blob: &BlobRef) -> artgen_core::Result<()> {
        Ok(self.delete_blob(blob).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_the_hashs_first_eight_bytes() {
        let low = format!("{}{}", "00".repeat(8), "01".repeat(24));
        assert_eq!(slot(&low), Some(0));
        let one = format!("{}01{}", "00".repeat(7), "ff".repeat(24));
        assert_eq!(slot(&one), Some(1));
        let high = format!("ff{}", "ff".repeat(31));
        assert_eq!(slot(&high), Some(-1));
        assert_eq!(slot("abc"), None);
        assert_eq!(slot("zzzzzzzzzzzzzzzzzzzz"), None);
    }
}
