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

/// The image index of one SQL backend: `insert` (for the backend's finish, inside its
/// transaction) and `impl ImageIndex` for its store, which calls the store's
/// `before_image_access` first (the writes it must see committed first). Both backends keep the same table and
/// run the same statements (built with `QueryBuilder`, which writes each backend's bind
/// markers, `?` or `$1`), so they share one definition; invoked as
/// `sql_image_index!(Store, Database, Connection)` in each backend's `images` module.
macro_rules! sql_image_index {
    ($store:ty, $db:ty, $conn:ty) => {
        use artgen_core::domain::ImageId;
        use artgen_core::ports::{ImageCursor, ImageIndex, ImageMeta};
        use async_trait::async_trait;
        use sqlx::QueryBuilder;

        use crate::error::{to_db, StoreError};
        use crate::images::{ImageRow, IMAGE_COLUMNS, MAX_IMAGE_LIMIT};

        /// Inserts `images` that are not there yet, on `conn` (inside the caller's
        /// transaction); how many were new. An existing row of the same id is kept.
        pub(super) async fn insert(
            conn: &mut $conn,
            images: &[ImageMeta],
        ) -> Result<u64, StoreError> {
            let mut new = 0;
            for image in images {
                let mut sql = QueryBuilder::<$db>::new("INSERT INTO images (");
                sql.push(IMAGE_COLUMNS).push(") VALUES (");
                let mut values = sql.separated(", ");
                values
                    .push_bind(image.id.as_str())
                    .push_bind(&image.owner)
                    .push_bind(image.org.as_deref())
                    .push_bind(image.request_id.as_str())
                    .push_bind(&image.prompt)
                    .push_bind(&image.model)
                    .push_bind(image.format.as_str())
                    .push_bind(i64::from(image.dimensions.width))
                    .push_bind(i64::from(image.dimensions.height))
                    .push_bind(&image.sha256)
                    .push_bind(to_db(image.len, "images.len")?)
                    .push_bind(image.created_at_ms);
                sql.push(") ON CONFLICT (id) DO NOTHING");
                new += sql.build().execute(&mut *conn).await?.rows_affected();
            }
            Ok(new)
        }

        impl $store {
            async fn select_image(&self, id: &ImageId) -> Result<Option<ImageMeta>, StoreError> {
                let mut sql = QueryBuilder::<$db>::new("SELECT ");
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
                let mut sql = QueryBuilder::<$db>::new("SELECT ");
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

            async fn delete_row(&self, id: &ImageId) -> Result<bool, StoreError> {
                let mut sql = QueryBuilder::<$db>::new("DELETE FROM images WHERE id = ");
                sql.push_bind(id.as_str());
                Ok(sql.build().execute(&self.pool).await?.rows_affected() > 0)
            }

            async fn select_expired(
                &self,
                before_ms: i64,
                limit: u32,
            ) -> Result<Vec<ImageMeta>, StoreError> {
                let mut sql = QueryBuilder::<$db>::new("SELECT ");
                sql.push(IMAGE_COLUMNS)
                    .push(" FROM images WHERE created_at_ms < ")
                    .push_bind(before_ms)
                    .push(" ORDER BY created_at_ms, id LIMIT ")
                    .push_bind(i64::from(limit.min(MAX_IMAGE_LIMIT)));
                let rows: Vec<ImageRow> = sql.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map(ImageMeta::try_from).collect()
            }

            async fn names_blob(&self, sha256: &str) -> Result<bool, StoreError> {
                let mut sql =
                    QueryBuilder::<$db>::new("SELECT EXISTS (SELECT 1 FROM images WHERE sha256 = ");
                sql.push_bind(sha256).push(")");
                Ok(sql.build_query_scalar().fetch_one(&self.pool).await?)
            }
        }

        #[async_trait]
        impl ImageIndex for $store {
            async fn get_image(&self, id: &ImageId) -> artgen_core::Result<Option<ImageMeta>> {
                self.before_image_access().await;
                Ok(self.select_image(id).await?)
            }

            async fn list_images(
                &self,
                owner: &str,
                after: Option<&ImageCursor>,
                limit: u32,
            ) -> artgen_core::Result<Vec<ImageMeta>> {
                self.before_image_access().await;
                Ok(self.select_images(owner, after, limit).await?)
            }

            async fn delete_image(&self, id: &ImageId) -> artgen_core::Result<bool> {
                self.before_image_access().await;
                Ok(self.delete_row(id).await?)
            }

            async fn blob_in_use(&self, sha256: &str) -> artgen_core::Result<bool> {
                self.before_image_access().await;
                Ok(self.names_blob(sha256).await?)
            }

            async fn list_expired(
                &self,
                before_ms: i64,
                limit: u32,
            ) -> artgen_core::Result<Vec<ImageMeta>> {
                self.before_image_access().await;
                Ok(self.select_expired(before_ms, limit).await?)
            }

            async fn import_images(&self, images: &[ImageMeta]) -> artgen_core::Result<u64> {
                Ok(self.import(images).await?)
            }
        }
    };
}

pub(crate) use sql_image_index;
