//! # artgen-store
//!
//! Storage adapters for ArtGen's ports:
//!
//! - [`SqliteStore`]: the [`UsageStore`](artgen_core::ports::UsageStore) (one row per request,
//!   started before the upstream call and finished after it, idempotent on the request id,
//!   money in integer micro-dollars; concurrent writes share one commit, and writes the
//!   database refuses wait in a spool file) and the API-key store with its
//!   [`Authenticator`](artgen_core::ports::Authenticator) (only SHA-256 hashes stored,
//!   constant-time comparison, malformed keys refused without a query, a key's last use
//!   written at most once a minute, off the response path);
//! - [`PostgresStore`]: the same ports (and the
//!   [`IdempotencyStore`](artgen_core::ports::IdempotencyStore)) on Postgres, shared by every
//!   replica: usage partitioned by month with a daily roll-up, writes kept in a spool file
//!   while the database is unreachable;
//! - both SQL stores are also the [`UserStore`](artgen_core::ports::UserStore) (users' and
//!   organisations' limits, disabling) and the [`AuditLog`](artgen_core::ports::AuditLog)
//!   (admin actions, append-only);
//! - [`GovernorRateLimiter`]: an in-memory per-key [`RateLimiter`](artgen_core::ports::RateLimiter);
//! - [`RedisRateLimiter`]: the same limit shared by every replica, one atomic GCRA script on
//!   Redis, with [`FailoverLimiter`] applying the policy while Redis is unreachable;
//! - [`FsImageStore`]: a content-addressed [`ImageStore`](artgen_core::ports::ImageStore) on
//!   local disk with atomic writes (fsynced only with [`Durability::PowerLoss`]);
//! - [`ObjectImageStore`]: the same store on S3 or an S3-compatible server (same layout,
//!   presigned `GET` links), selected by an [`ImagesUrl`];
//! - [`TieredImageStore`]: small blobs in one image store, the others in another; the
//!   reference server keeps small images as rows of the [`SqliteStore`] (which is an
//!   image store too) in front of the folder.
//!
//! Every adapter error is a [`StoreError`], which becomes `internal_error` in the core (the
//! cause is kept for the logs). Backend-independent rules (key generation and hashing, listing
//! limits) live outside the backend folders so a Postgres backend can reuse them.
//!
//! ```
//! use artgen_core::domain::{KeyEnv, Role};
//! use artgen_core::ports::Authenticator;
//! use artgen_store::SqliteStore;
//!
//! # tokio_block_on(async {
//! let store = SqliteStore::in_memory().await.expect("in-memory database opens");
//! let key = store.create_key("lisa", Role::User, KeyEnv::Test).await.expect("key issued");
//! // The key text is shown once; the database keeps only its hash.
//! let principal = store.authenticate(key.expose_secret()).await.expect("key is valid");
//! assert_eq!(principal.user, "lisa");
//! assert_eq!(principal.credential_id.as_deref(), Some(key.public_id()));
//! # });
//! # fn tokio_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

pub mod config;
pub mod error;
pub mod fs_images;
pub mod governor;
mod idempotency;
mod image_layout;
mod images;
pub mod keys;
mod ledger;
pub mod object_images;
pub mod postgres;
pub mod redis;
mod retention;
mod spool;
pub mod sqlite;
mod tiered_images;
pub mod usage;
mod users;
mod verify;

pub use crate::config::{DatabaseConfig, Durability, RateLimitConfig};
pub use crate::error::StoreError;
pub use crate::fs_images::FsImageStore;
pub use crate::governor::GovernorRateLimiter;
pub use crate::keys::{KeyInfo, INVALID_KEY_MESSAGE};
pub use crate::object_images::{ImagesUrl, ObjectImageStore, ObjectStoreConfig};
pub use crate::postgres::{redact_url, DatabaseUrl, PostgresConfig, PostgresStore};
pub use crate::redis::{FailoverLimiter, RedisFailure, RedisRateLimiter};
pub use crate::sqlite::SqliteStore;
pub use crate::tiered_images::TieredImageStore;
pub use crate::usage::{DEFAULT_USAGE_LIMIT, MAX_USAGE_LIMIT};
