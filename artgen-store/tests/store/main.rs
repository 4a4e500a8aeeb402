//! Integration tests of the storage adapters, one binary for the whole crate.
//!
//! Database scenarios are written once as helpers over the port (`&dyn UsageStore`) and run
//! against every backend: SQLite (each test on a fresh database from `#[sqlx::test]`) and
//! Postgres when `ARTGEN_TEST_DATABASE_URL` is set (each store in a schema of its own). The
//! port-wide suites live in `artgen_core::testing::conformance`.

mod admin;
mod durability;
mod idempotency;
mod images;
mod keys;
mod ledger;
mod limiter;
mod limiter_conformance;
mod object_images;
mod postgres;
mod redis_limiter;
mod sqlite;
mod tiered_images;
mod usage;
