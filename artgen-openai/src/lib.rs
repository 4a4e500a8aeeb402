//! # artgen-openai
//!
//! The [`ImageProvider`](artgen_core::ports::ImageProvider) that sends ArtGen's validated jobs
//! to OpenAI's Image API, to Azure OpenAI, or to a server that speaks the same API.
//!
//! - **Generations** go as JSON to `images/generations`; **edits** and **variations** as
//!   `multipart/form-data` to `images/edits` and `images/variations`, each input image with its
//!   file name, the MIME type of its content and its bytes unchanged (one image as part
//!   `image`, several as repeated `image[]` parts, the mask as `mask`).
//! - Bodies carry only the parameters the model family accepts; DALL·E is always asked for
//!   `b64_json`, because upstream URLs expire and ArtGen stores every image.
//! - **Streaming** (`ImageProvider::stream`, GPT image generations and edits) asks for
//!   `stream: true` and `partial_images` and parses the `text/event-stream` answer as it
//!   arrives: partial and completed images become `StreamEvent`s, an error event becomes an
//!   error item. The stream spawns no task: dropping it closes the upstream connection.
//! - Answers are read in chunks up to [`OpenAiConfig::max_response_bytes`] (for a stream: per
//!   event) and parsed leniently; an image given only as a URL is refused, never fetched. At
//!   most [`OpenAiConfig::max_concurrent_reads`] answers are read, decoded and held at once.
//! - Failures map to the core's error codes as the `ImageProvider::run` contract says:
//!   safety refusals carry the upstream's reason, `Retry-After`, `retry-after-ms` and
//!   `x-should-retry` steer retries, the upstream's own words stay in the error's cause.
//! - **Azure OpenAI** is configuration ([`ApiFlavor::Azure`], serde `kind = "azure"`): calls go
//!   to `{base_url}/openai/deployments/{deployment}/images/...?api-version=...`, the deployment
//!   taken from [`OpenAiConfig::deployments`].
//! - The upstream's **rate-limit headers** (`x-ratelimit-*`) of every answer reach an optional
//!   [`QuotaObserver`] as a [`QuotaReading`].
//! - The key is sent as `Authorization: Bearer <key>` (Azure: `api-key: <key>`) in a header
//!   marked sensitive, and never logged: [`SecretString`] (from the `secrecy`
//!   crate, shared by the workspace) prints `[REDACTED]` and is zeroed on drop.
//!
//! The library never reads the environment; the binary fills in an [`OpenAiConfig`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use artgen_core::domain::{Catalog, GenerateParams};
//! use artgen_core::ports::ImageProvider;
//! use artgen_openai::{OpenAiConfig, OpenAiProvider, QuotaObserver, QuotaReading};
//!
//! let config = OpenAiConfig::default()
//!     .with_api_key("sk-example")
//!     .with_timeout(Duration::from_secs(120));
//! assert!(!format!("{config:?}").contains("sk-example"));
//!
//! let provider: Arc<dyn ImageProvider> = Arc::new(OpenAiProvider::new(config)?);
//! assert_eq!(provider.name(), "openai");
//!
//! // Azure OpenAI, reporting the upstream's rate-limit headers.
//! struct Quota;
//! impl QuotaObserver for Quota {
//!     fn observe(&self, reading: &QuotaReading) {
//!         tracing::debug!(remaining = ?reading.remaining_requests, "upstream quota");
//!     }
//! }
//! let azure = OpenAiConfig::azure("https://my-resource.openai.azure.com", "azure-key")
//!     .with_deployment("gpt-image-1", "images-prod");
//! let azure = OpenAiProvider::new(azure)?.with_quota_observer(Arc::new(Quota));
//! assert_eq!(azure.name(), "azure");
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

mod api_error;
mod body;
mod client;
mod config;
mod endpoint;
mod error;
mod headers;
mod multipart;
mod quota;
mod seconds;
mod slots;
mod sse;
mod stream;
mod types;

pub use client::OpenAiProvider;
pub use config::{ApiFlavor, OpenAiConfig};
pub use error::{ApiError, OpenAiError};
pub use quota::{parse_go_duration, QuotaObserver, QuotaReading};
/// The redacting secret type of the workspace (re-exported so callers need not name the crate).
pub use secrecy::{ExposeSecret, SecretString};
