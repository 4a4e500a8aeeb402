//! Retention on SQLite ([`crate::retention`]).

crate::retention::sql_retention!(super::SqliteStore, sqlx::Sqlite);
