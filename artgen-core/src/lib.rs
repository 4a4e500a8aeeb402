//! # artgen-core
//!
//! The transport-free heart of ArtGen: the model catalogue and its rules, request validation,
//! pricing in integer micro-dollars, the error type with stable codes, the ports (object-safe
//! `async-trait` traits) and the [`ArtGen`] service that runs one request through them.
//!
//! ```
//! use std::sync::Arc;
//! use artgen_core::domain::{Catalog, GenerateParams, Principal, RequestId, Role};
//! use artgen_core::testing::MockProvider;
//! use artgen_core::{ArtGen, Ports, RequestContext};
//!
//! # tokio_test_block_on(async {
//! let service = ArtGen::new(Catalog::default(), Ports::in_memory(Arc::new(MockProvider::new())));
//! let ctx = RequestContext::new(
//!     RequestId::generate(),
//!     Principal::new("lisa", Role::User),
//! );
//! let params = GenerateParams {
//!     model: "dall-e-2".into(),
//!     prompt: "a castle on a cliff at dawn".into(),
//!     size: Some("256x256".into()),
//!     ..Default::default()
//! };
//! let generation = service.generate(&ctx, params).await.expect("mock generates");
//! assert_eq!(generation.images[0].dimensions.to_string(), "256x256");
//! assert_eq!(generation.cost.micros(), 16_000);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
//! # }
//! ```

pub mod decorators;
pub mod domain;
pub mod error;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
pub mod ports;
pub mod service;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{Error, ErrorCode, ErrorKind, Result};
pub use service::{
    ArtGen, EventSink, GeneratedImage, Generation, ImageAccess, ImageDelivery, ImageDetails,
    ImageReader, OpenStream, OwnUsage, Ports, PurgeReport, RequestContext, ServiceEvent,
    GALLERY_PAGE_DEFAULT, GALLERY_PAGE_MAX,
};
