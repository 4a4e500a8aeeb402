//! The provider: builds the upstream request for a validated [`GenerateRequest`], sends it with
//! the key, reads a size-capped answer and maps every failure to the core's error codes.

use std::time::Instant;

use artgen_core::domain::ImageJob;
use artgen_core::ports::{ImageEventStream, ImageProvider, ProviderResponse};
use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::{redirect, RequestBuilder, Response, Url};

use crate::config::OpenAiConfig;
use crate::error::{error_from_response, OpenAiError};
use crate::headers;
use crate::types::{parse_images, CreateImageRequest};

/// Path of the generations endpoint, relative to the base URL.
const GENERATIONS: &str = "images/generations";

/// Most of an error answer that is read: enough for OpenAI's `error` object, and a hostile
/// upstream cannot make ArtGen buffer more.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

const USER_AGENT: &str = concat!("artgen-openai/", env!("CARGO_PKG_VERSION"));

/// An [`ImageProvider`] for OpenAI's Image API (`POST {base_url}/images/generations`) and
/// servers that speak it.
///
/// Cheap to clone (the HTTP client is reference-counted) and safe to share as
/// `Arc<dyn ImageProvider>`.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    http: reqwest::Client,
    /// `config.base_url` without a trailing `/`, checked to be an http(s) URL.
    base_url: String,
}

impl OpenAiProvider {
    /// A provider with its own HTTP client: rustls, `config.connect_timeout`, no redirects
    /// (an API answer is never a redirect, and a key must not follow one).
    ///
    /// # Errors
    /// [`OpenAiError::InvalidConfig`] when the base URL is not http(s), the key or name is
    /// empty or a timeout is zero; [`OpenAiError::Client`] when the TLS backend cannot start.
    pub fn new(config: OpenAiConfig) -> Result<Self, OpenAiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(OpenAiError::Client)?;
        Self::with_client(config, http)
    }

    /// A provider over an injected HTTP client (shared pools, proxies, tests). The client's own
    /// connect timeout and redirect policy apply; `config.timeout` is set on every request.
    ///
    /// # Errors
    /// [`OpenAiError::InvalidConfig`] as for [`OpenAiProvider::new`].
    pub fn with_client(config: OpenAiConfig, http: reqwest::Client) -> Result<Self, OpenAiError> {
        let base_url = check(&config)?;
        Ok(Self {
            config,
            http,
            base_url,
        })
    }

    /// The configuration (its key stays redacted in `Debug`).
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// A POST to `path` under the base URL, with the key and the deadline.
    fn post(&self, path: &str) -> RequestBuilder {
        self.http
            .post(format!("{}/{path}", self.base_url))
            .bearer_auth(self.config.api_key.expose_secret())
            .timeout(self.config.timeout)
    }

    /// Sends a prepared request and returns the body of a success answer, read up to
    /// `max_response_bytes`. Error answers become the core error their status, headers and
    /// body mean. Logs status, time and the upstream request id, never the headers we send.
    async fn send(&self, model: &str, request: RequestBuilder) -> artgen_core::Result<Bytes> {
        let started = Instant::now();
        let response = request.send().await.map_err(OpenAiError::Transport)?;
        let status = response.status();
        tracing::debug!(
            provider = %self.config.name,
            status = status.as_u16(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            upstream_request_id = headers::request_id(response.headers()).as_deref().unwrap_or("-"),
            "upstream answered"
        );
        if status.is_success() {
            let limit = self.config.max_response_bytes;
            return match read_capped(response, limit).await {
                Ok(Some(body)) => Ok(body),
                Ok(None) => Err(OpenAiError::TooLarge { limit }.into()),
                Err(err) => Err(OpenAiError::Transport(err).into()),
            };
        }
        let headers = response.headers().clone();
        let limit = MAX_ERROR_BODY_BYTES.min(self.config.max_response_bytes);
        // An unreadable or oversized error body still leaves the status and headers to go by.
        let body = read_capped(response, limit)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        Err(error_from_response(model, status, &headers, &body))
    }
}

#[async_trait]
impl ImageProvider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn run(&self, job: &ImageJob) -> artgen_core::Result<ProviderResponse> {
        let ImageJob::Generate(request) = job else {
            return Err(not_supported(job));
        };
        let body =
            serde_json::to_vec(&CreateImageRequest::new(request)).map_err(OpenAiError::Encode)?;
        let call = self
            .post(GENERATIONS)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let answer = self.send(&request.model().id, call).await?;
        let (images, usage) = parse_images(&answer)?;
        Ok(ProviderResponse {
            images,
            usage,
            provider: self.config.name.clone(),
        })
    }

    async fn stream(&self, job: &ImageJob) -> artgen_core::Result<ImageEventStream> {
        Err(not_supported(job))
    }
}

fn not_supported(job: &ImageJob) -> artgen_core::Error {
    artgen_core::Error::new(
        artgen_core::ErrorCode::UpstreamError,
        format!(
            "the OpenAI adapter does not support {} requests yet",
            job.operation().as_str()
        ),
    )
}

/// Reads the body chunk by chunk; `None` as soon as it would exceed `limit` bytes (at once when
/// `Content-Length` already says so).
async fn read_capped(mut response: Response, limit: usize) -> reqwest::Result<Option<Bytes>> {
    let declared = response.content_length();
    if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Ok(None);
    }
    let capacity = declared
        .and_then(|len| usize::try_from(len).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(capacity);
    while let Some(chunk) = response.chunk().await? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(Bytes::from(body)))
}

/// Checks the config and returns the base URL without its trailing `/`.
fn check(config: &OpenAiConfig) -> Result<String, OpenAiError> {
    let invalid = |field, reason: String| OpenAiError::InvalidConfig { field, reason };
    let base_url = config.base_url.trim_end_matches('/');
    let url = Url::parse(base_url).map_err(|err| invalid("base_url", err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("base_url", "must be an http or https URL".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "base_url",
            "must not have a query or fragment".into(),
        ));
    }
    if config.api_key.is_empty() {
        return Err(invalid("api_key", "must not be empty".into()));
    }
    if config.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty".into()));
    }
    if config.timeout.is_zero() || config.connect_timeout.is_zero() {
        return Err(invalid(
            "timeout",
            "timeouts must be greater than zero".into(),
        ));
    }
    Ok(base_url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OpenAiConfig {
        OpenAiConfig::default().with_api_key("sk-test")
    }

    #[test]
    fn names_itself_after_the_config() {
        let provider = OpenAiProvider::new(config().with_name("primary")).expect("valid config");

        assert_eq!(provider.name(), "primary");
    }

    #[test]
    fn joins_the_endpoint_path_whatever_the_trailing_slash() {
        let provider = OpenAiProvider::new(config().with_base_url("http://localhost:9/v1/"))
            .expect("valid config");

        let request = provider.post(GENERATIONS).build().expect("request builds");

        assert_eq!(
            request.url().as_str(),
            "http://localhost:9/v1/images/generations"
        );
    }

    #[test]
    fn refuses_configs_that_cannot_work() {
        let cases = [
            (config().with_base_url("ftp://example.com"), "base_url"),
            (config().with_base_url("not a url"), "base_url"),
            (OpenAiConfig::default(), "api_key"),
            (config().with_name(" "), "name"),
            (config().with_timeout(std::time::Duration::ZERO), "timeout"),
        ];
        for (config, expected) in cases {
            match OpenAiProvider::new(config) {
                Err(OpenAiError::InvalidConfig { field, .. }) => assert_eq!(field, expected),
                other => panic!("expected InvalidConfig({expected}), got {other:?}"),
            }
        }
    }

    #[test]
    fn debug_of_the_provider_never_contains_the_key() {
        let provider =
            OpenAiProvider::new(config().with_api_key("sk-secret-42")).expect("valid config");

        assert!(!format!("{provider:?}").contains("sk-secret-42"));
    }
}
