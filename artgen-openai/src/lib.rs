//! # artgen-openai
//!
//! The [`ImageProvider`](artgen_core::ports::ImageProvider) that sends ArtGen's validated
//! requests to OpenAI's Image API (`POST {base_url}/images/generations`) or a server that
//! speaks it.
//!
//! - The body carries only the parameters the model family accepts; DALL·E is always asked for
//!   `b64_json`, because upstream URLs expire and ArtGen stores every image.
//! - Answers are read in chunks up to [`OpenAiConfig::max_response_bytes`] and parsed
//!   leniently; an image given only as a URL is refused, never fetched.
//! - Failures map to the core's error codes as the `ImageProvider::generate` contract says:
//!   safety refusals carry the upstream's reason, `Retry-After`, `retry-after-ms` and
//!   `x-should-retry` steer retries, the upstream's own words stay in the error's cause.
//! - The key is sent as `Authorization: Bearer <key>` and never logged: [`SecretString`]
//!   prints `[redacted]`.
//!
//! The library never reads the environment; the binary fills in an [`OpenAiConfig`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use artgen_core::domain::{Catalog, GenerateParams};
//! use artgen_core::ports::ImageProvider;
//! use artgen_openai::{OpenAiConfig, OpenAiProvider};
//!
//! let config = OpenAiConfig::default()
//!     .with_api_key("sk-example")
//!     .with_timeout(Duration::from_secs(120));
//! assert!(!format!("{config:?}").contains("sk-example"));
//!
//! let provider: Arc<dyn ImageProvider> = Arc::new(OpenAiProvider::new(config)?);
//! assert_eq!(provider.name(), "openai");
//!
//! // What the service does with it (not run here: it would call OpenAI).
//! async fn draw(provider: &dyn ImageProvider) -> artgen_core::Result<usize> {
//!     let request = GenerateParams {
//!         model: "gpt-image-1".into(),
//!         prompt: "a lighthouse in a storm".into(),
//!         ..Default::default()
//!     }
//!     .validate(&Catalog::default())?;
//!     Ok(provider.run(&request.into()).await?.images.len())
//! }
//! # let _ = draw;
//! # Ok::<(), artgen_openai::OpenAiError>(())
//! ```

mod client;
mod config;
mod error;
mod headers;
mod types;

pub use client::OpenAiProvider;
pub use config::{OpenAiConfig, SecretString};
pub use error::{ApiError, OpenAiError};
