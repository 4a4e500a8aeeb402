//! Test doubles (feature `testing`): in-memory fakes of every port, and (re-exported from
//! [`crate::mock`]) the scriptable mock provider that draws real images.

mod admin;
pub mod conformance;
mod fakes;
mod idempotency;
pub mod image_store;
mod summary;

pub use crate::mock::{draw, render, seed_for, MockCall, MockProvider, MockStep};
pub use admin::{InMemoryAuditLog, InMemoryUserStore};
pub use fakes::{InMemoryImageStore, InMemoryUsageStore, StaticAuthenticator};
pub use idempotency::InMemoryIdempotencyStore;
pub use image_store::{image_store_conformance, sample_bytes, sample_meta, Presign};
