//! [`ImageIndex`](artgen_core::ports::ImageIndex) on Postgres. Rows are written with a
//! request's finish (see `usage::apply`, also when a spooled finish is applied); reads,
//! deletes and the import go through the pool. The statements are the SQLite backend's too
//! ([`crate::images::sql_image_index`]).

crate::images::sql_image_index!(super::PostgresStore, sqlx::Postgres, sqlx::PgConnection);

impl super::PostgresStore {
    /// Nothing to commit first: a finish's image rows are committed before it returns.
    #[allow(clippy::unused_async)]
    async fn before_image_access(&self) {}
}
