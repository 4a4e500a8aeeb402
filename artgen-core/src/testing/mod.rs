//! Test doubles (feature `testing`): a scriptable mock provider that draws real images, and
//! in-memory fakes of every other port.

mod draw;
mod fakes;
mod idempotency;
mod mock;

pub use draw::{draw, render, seed_for};
pub use fakes::{InMemoryImageStore, InMemoryUsageStore, StaticAuthenticator};
pub use idempotency::InMemoryIdempotencyStore;
pub use mock::{MockCall, MockProvider, MockStep};
