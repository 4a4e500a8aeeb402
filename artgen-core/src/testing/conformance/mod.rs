//! Conformance suites: each port's contract written once as scenarios, which every adapter's
//! tests run against a store of their backend (`docs/adapters.md` says how).
//!
//! The usage suite includes values beyond what a database column holds (`u64::MAX`
//! micro-dollars), which a storage adapter must refuse; the in-memory fake keeps them.
//!
//! A suite takes a factory that returns a fresh, empty store for each scenario, e.g.
//!
//! ```
//! use std::sync::Arc;
//! use artgen_core::ports::IdempotencyStore;
//! use artgen_core::testing::{conformance, InMemoryIdempotencyStore};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! conformance::idempotency::idempotency_store_suite(|| async {
//!     Arc::new(InMemoryIdempotencyStore::default()) as Arc<dyn IdempotencyStore>
//! })
//! .await;
//! # });
//! ```

pub mod audit;
pub mod idempotency;
pub mod images;
pub mod keys;
pub mod rate_limiter;
pub mod usage;
pub mod usage_pages;
pub mod users;
