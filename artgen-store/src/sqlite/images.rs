//! [`ImageIndex`] on SQLite. Rows are written by the usage writer with a request's finish
//! (see `usage::finish`); reads, deletes and the start-up import go through the pool.

use artgen_core::domain::ImageId;
use artgen_core::ports::{ImageCursor, ImageIndex, ImageMeta};
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::SqliteStore;
use crate::error::{to_db, StoreError};
use crate::images::{ImageRow, IMAGE_COLUMNS, MAX_IMAGE_LIMIT};

/// A new row; an existing one of the same id is kept.
const INSERT: &str = "INSERT INTO images (id, owner, org, request_id, prompt, model, format, \
    width, height, sha256, len, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
    ON CONFLICT(id) DO NOTHING";

/// Inserts `images` that are not there yet, on `conn` (inside the caller's transaction); how
/// many were new.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    images: &[ImageMeta],
) -> Result<u64, StoreError> {
    let mut new = 0;
    for image in images {
        let done = sqlx::query(INSERT)
            .bind(image.id.as_str())
            .bind(&image.owner)
            .bind(image.org.as_deref())
            .bind(image.request_id.as_str())
            .bind(&image.prompt)
            .bind(&image.model)
            .bind(image.format.as_str())
            .bind(i64::from(image.dimensions.width))
            .bind(i64::from(image.dimensions.height))
            .bind(&image.sha256)
            .bind(to_db(image.len, "images.len")?)
            .bind(image.created_at_ms)
            .execute(&mut *conn)
            .await?;
        new += done.rows_affected();
    }
    Ok(new)
}

impl SqliteStore {
    async fn select_image(&self, id: &ImageId) -> Result<Option<ImageMeta>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT ");
        sql.push(IMAGE_COLUMNS)
            .push(" FROM images WHERE id = ")
            .push_bind(id.as_str());
        let row: Option<ImageRow> = sql.build_query_as().fetch_optional(&self.pool).await?;
        row.map(ImageMeta::try_from).transpose()
    }

    async fn select_images(
        &self,
        owner: &str,
        after: Option<&ImageCursor>,
        limit: u32,
    ) -> Result<Vec<ImageMeta>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT ");
        sql.push(IMAGE_COLUMNS)
            .push(" FROM images WHERE owner = ")
            .push_bind(owner);
        if let Some(after) = after {
            sql.push(" AND (created_at_ms, id) < (")
                .push_bind(after.created_at_ms)
                .push(", ")
                .push_bind(&after.id)
                .push(")");
        }
        sql.push(" ORDER BY created_at_ms DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit.min(MAX_IMAGE_LIMIT)));
        let rows: Vec<ImageRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(ImageMeta::try_from).collect()
    }

    async fn import(&self, images: &[ImageMeta]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let new = insert(&mut tx, images).await?;
        tx.commit().await?;
        Ok(new)
    }
}

#[async_trait]
impl ImageIndex for SqliteStore {
    async fn get_image(&self, id: &ImageId) -> artgen_core::Result<Option<ImageMeta>> {
        Ok(self.select_image(id).await?)
    }

    async fn list_images(
        &self,
        owner: &str,
        after: Option<&ImageCursor>,
        limit: u32,
    ) -> artgen_core::Result<Vec<ImageMeta>> {
        Ok(self.select_images(owner, after, limit).await?)
    }

    async fn delete_image(&self, id: &ImageId) -> artgen_core::Result<bool> {
        let done = sqlx::query("DELETE FROM images WHERE id = ?")
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected() > 0)
    }

    async fn blob_in_use(&self, sha256: &str) -> artgen_core::Result<bool> {
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM images WHERE sha256 = ?)")
                .bind(sha256)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from)?;
        Ok(found)
    }

    async fn import_images(&self, images: &[ImageMeta]) -> artgen_core::Result<u64> {
        Ok(self.import(images).await?)
    }
}
