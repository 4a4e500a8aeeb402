//! [`ImageIndex`](artgen_core::ports::ImageIndex) on SQLite. Rows are written by the usage
//! writer with a request's finish (see `usage::finish` and [`write`]); reads, deletes and the
//! start-up import go through the pool. The statements are the Postgres backend's too
//! ([`crate::images::sql_image_index`]).

crate::images::sql_image_index!(super::SqliteStore, sqlx::Sqlite, sqlx::SqliteConnection);

impl super::SqliteStore {
    /// Commits the deferred finishes (and the image rows they carry) before the index is
    /// read or changed: an answer's image is in the index as soon as the answer is out.
    async fn before_image_access(&self) {
        self.commit_deferred().await;
    }
}

/// The statement of [`crate::images::sql_image_index`]'s `insert`, in SQLite's bind markers.
static INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let marks = vec!["?"; IMAGE_COLUMNS.split(',').count()].join(", ");
    format!("INSERT INTO images ({IMAGE_COLUMNS}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING")
});

/// Inserts `images` that are not there yet, on the usage writer's connection (inside its
/// transaction); how many were new. An existing row of the same id is kept.
pub(super) fn write(conn: &rusqlite::Connection, images: &[ImageMeta]) -> Result<u64, StoreError> {
    if images.is_empty() {
        return Ok(0);
    }
    let mut statement = conn.prepare_cached(&INSERT)?;
    let mut new = 0;
    for image in images {
        let written = statement.execute(rusqlite::params![
            image.id.as_str(),
            image.owner,
            image.org.as_deref(),
            image.request_id.as_str(),
            image.prompt,
            image.model,
            image.format.as_str(),
            i64::from(image.dimensions.width),
            i64::from(image.dimensions.height),
            image.sha256,
            to_db(image.len, "images.len")?,
            image.created_at_ms,
        ])?;
        new += super::writer::rows(written);
    }
    Ok(new)
}
