//! Integration tests of the storage adapters, one binary for the whole crate.
//!
//! Database scenarios are written once as helpers over the port (`&dyn UsageStore`) and run
//! against every backend; today that is SQLite only, each test on a fresh database from
//! `#[sqlx::test]`.

mod durability;
mod idempotency;
mod images;
mod keys;
mod limiter;
mod object_images;
mod redis_limiter;
mod sqlite;
mod usage;
