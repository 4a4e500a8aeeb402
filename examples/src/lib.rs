//! # artgen-examples
//!
//! Runnable examples of embedding ArtGen as a library, with the mock provider and the in-memory
//! fakes of `artgen-core`'s `testing` feature (no network, no API key, no database):
//!
//! | Example | Shows | Run with |
//! |---|---|---|
//! | `embed_mock` | building an [`ArtGen`] over [`Ports::in_memory`] and generating with `dall-e-2` and `gpt-image-1`: image sizes, settled cost, token usage | `cargo run -p artgen-examples --example embed_mock` |
//! | `scripted_failures` | a scripted [`MockProvider`](artgen_core::testing::MockProvider) failing twice behind the retry decorator, a moderation block, and a validation error naming its parameter | `cargo run -p artgen-examples --example scripted_failures` |
//! | `price_estimates` | the estimate table of every catalogue model by quality and size, and the PRD's acceptance check that DALL·E 2 costs less than gpt-image-1 at medium quality | `cargo run -p artgen-examples --example price_estimates` |
//!
//! The library itself only holds what the examples share:
//!
//! ```
//! use std::sync::Arc;
//! use artgen_core::domain::{Catalog, GenerateParams};
//! use artgen_core::testing::MockProvider;
//! use artgen_core::{ArtGen, Ports};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime").block_on(async {
//! let service = ArtGen::new(Catalog::default(), Ports::in_memory(Arc::new(MockProvider::new())));
//! let params = GenerateParams {
//!     model: "dall-e-2".into(),
//!     prompt: "a paper boat on a pond".into(),
//!     size: Some("256x256".into()),
//!     ..Default::default()
//! };
//! let generation = service
//!     .generate(&artgen_examples::context("ada"), params)
//!     .await
//!     .expect("the mock generates");
//! assert_eq!(generation.cost.to_string(), "$0.016000");
//! # });
//! ```
//!
//! [`ArtGen`]: artgen_core::ArtGen
//! [`Ports::in_memory`]: artgen_core::Ports::in_memory

use artgen_core::domain::{Principal, RequestId, Role};
use artgen_core::RequestContext;

/// A request context for an ordinary (non-admin) user with a fresh request id, as the HTTP edge
/// would build after authenticating the caller.
pub fn context(user: &str) -> RequestContext {
    RequestContext::new(RequestId::generate(), Principal::new(user, Role::User))
}
