//! Retention on Postgres ([`crate::retention`]).

crate::retention::sql_retention!(super::PostgresStore, sqlx::Postgres);
