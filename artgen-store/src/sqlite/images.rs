//! [`ImageIndex`](artgen_core::ports::ImageIndex) on SQLite. Rows are written by the usage
//! writer with a request's finish (see `usage::finish`); reads, deletes and the start-up
//! import go through the pool. The statements are the Postgres backend's too
//! ([`crate::images::sql_image_index`]).

crate::images::sql_image_index!(super::SqliteStore, sqlx::Sqlite, sqlx::SqliteConnection);
