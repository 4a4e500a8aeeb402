//! The provider: builds the upstream request for a validated [`ImageJob`], sends it with the
//! key, reports the rate-limit headers, reads a size-capped answer (or a stream of events)
//! and maps every failure to the core's error codes.

use std::sync::Arc;
use std::time::Instant;

use artgen_core::domain::{ImageJob, ModelSpec};
use artgen_core::ports::{ImageEventStream, ImageProvider, ProviderResponse};
use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{redirect, RequestBuilder, Response};

use crate::body::CreateImageRequest;
use crate::config::OpenAiConfig;
use crate::endpoint::{Endpoint, Target};
use crate::error::{error_from_response, OpenAiError};
use crate::quota::{Observer, QuotaObserver};
use crate::slots::ReadSlots;
use crate::{headers, multipart, stream};

/// Most of an error answer that is read: enough for OpenAI's `error` object, and a hostile
/// upstream cannot make ArtGen buffer more.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Idle connections kept per upstream host. An HTTP/1.1 connection that has read a large answer
/// keeps a read buffer of a few hundred KiB while idle; after a thousand calls ended together,
/// keeping them all would hold hundreds of MiB. (HTTP/2 upstreams use one connection anyway.)
const MAX_IDLE_CONNECTIONS: usize = 32;

const USER_AGENT: &str = concat!("artgen-openai/", env!("CARGO_PKG_VERSION"));

/// An [`ImageProvider`] for OpenAI's Image API (generations, edits, variations, streaming),
/// Azure OpenAI and servers that speak the same API.
///
/// Cheap to clone (the HTTP client is reference-counted) and safe to share as
/// `Arc<dyn ImageProvider>`.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    http: reqwest::Client,
    target: Target,
    observer: Observer,
    /// Bounds the success answers read, decoded and held at once (clones share it).
    read_slots: ReadSlots,
}

impl OpenAiProvider {
    /// A provider with its own HTTP client: rustls, `config.connect_timeout`, no redirects
    /// (an API answer is never a redirect, and a key must not follow one).
    ///
    /// # Errors
    /// [`OpenAiError::InvalidConfig`] when the base URL is not http(s), the key is empty or
    /// not sendable in a header, the name is empty, a timeout is zero, or Azure's
    /// `api_version` or a deployment name is empty; [`OpenAiError::Client`] when the TLS
    /// backend cannot start.
    pub fn new(config: OpenAiConfig) -> Result<Self, OpenAiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(redirect::Policy::none())
            .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
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
        let target = Target::new(&config)?;
        check(&config)?;
        Ok(Self {
            read_slots: ReadSlots::new(config.max_concurrent_reads),
            config,
            http,
            target,
            observer: Observer::default(),
        })
    }

    /// Reports the `x-ratelimit-*` headers of every upstream answer (success or error) that
    /// carries them to `observer`.
    #[must_use]
    pub fn with_quota_observer(mut self, observer: Arc<dyn QuotaObserver>) -> Self {
        self.observer = Observer(Some(observer));
        self
    }

    /// The configuration (its key stays redacted in `Debug`).
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// A POST to `endpoint` for `model`, with the key and the deadline.
    fn post(&self, endpoint: Endpoint, model: &ModelSpec) -> RequestBuilder {
        let (name, value) = self.target.auth();
        self.http
            .post(self.target.url(endpoint, model))
            .header(name, value)
            .timeout(self.config.timeout)
    }

    /// The request for `job`; with `stream`, asking for events.
    fn request(&self, job: &ImageJob, stream: bool) -> Result<RequestBuilder, OpenAiError> {
        let call = match job {
            ImageJob::Generate(request) => {
                let mut body = CreateImageRequest::new(request);
                if stream {
                    body = body.streaming(request.partial_images());
                }
                self.post(Endpoint::Generations, request.model())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_json()?)
            }
            ImageJob::Edit(edit) => self
                .post(Endpoint::Edits, edit.base().model())
                .multipart(multipart::edit_form(edit, stream)?),
            ImageJob::Variation(variation) => self
                .post(Endpoint::Variations, variation.model())
                .multipart(multipart::variation_form(variation)?),
        };
        Ok(if stream {
            call.header(ACCEPT, "text/event-stream")
        } else {
            call
        })
    }

    /// Sends a prepared request and returns a success answer, its body unread. Reports the
    /// rate-limit headers of any answer; error answers become the core error their status,
    /// headers and body mean. Logs status, time and the upstream request id, never the
    /// headers we send.
    async fn send(&self, model: &str, request: RequestBuilder) -> artgen_core::Result<Response> {
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
        self.observer
            .report(&self.config.name, model, response.headers());
        if status.is_success() {
            return Ok(response);
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

    /// Reads a success answer's body up to `max_response_bytes`.
    async fn read_body(&self, response: Response) -> artgen_core::Result<Bytes> {
        let limit = self.config.max_response_bytes;
        match read_capped(response, limit).await {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err(OpenAiError::TooLarge { limit }.into()),
            Err(err) => Err(OpenAiError::Transport(err).into()),
        }
    }
}

#[async_trait]
impl ImageProvider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn run(&self, job: &ImageJob) -> artgen_core::Result<ProviderResponse> {
        let model = &job.model().id;
        let response = self.send(model, self.request(job, false)?).await?;
        // The body is read only with a slot; the decoded images keep it until dropped.
        let slot = self.read_slots.acquire().await;
        let body = self.read_body(response).await?;
        let answer = crate::types::parse_images(&body, &slot)?;
        drop(body);
        Ok(ProviderResponse {
            images: answer.images,
            usage: answer.usage,
            provider: self.config.name.clone(),
            echo: answer.echo,
            extra: answer.extra,
        })
    }

    async fn stream(&self, job: &ImageJob) -> artgen_core::Result<ImageEventStream> {
        let model = job.model();
        let reason = match job {
            ImageJob::Variation(_) => Some("variations cannot be streamed".to_owned()),
            _ if !model.streaming => Some(format!("model '{}' does not stream", model.id)),
            _ => None,
        };
        if let Some(reason) = reason {
            return Err(OpenAiError::NotStreamable { reason }.into());
        }
        let response = self.send(&model.id, self.request(job, true)?).await?;
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if is_sse {
            let limit = self.config.max_response_bytes;
            return Ok(stream::sse_events(response, model.id.clone(), limit));
        }
        let body = self.read_body(response).await?;
        Ok(stream::json_events(&body)?)
    }
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

/// Checks what [`Target::new`] does not: the name and the timeouts.
fn check(config: &OpenAiConfig) -> Result<(), OpenAiError> {
    let invalid = |field, reason: &str| OpenAiError::InvalidConfig {
        field,
        reason: reason.to_owned(),
    };
    if config.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    if config.timeout.is_zero() || config.connect_timeout.is_zero() {
        return Err(invalid("timeout", "timeouts must be greater than zero"));
    }
    if config.max_concurrent_reads == 0 {
        return Err(invalid("max_concurrent_reads", "must be at least 1"));
    }
    Ok(())
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
    fn refuses_configs_that_cannot_work() {
        let cases = [
            (config().with_base_url("ftp://example.com"), "base_url"),
            (config().with_base_url("not a url"), "base_url"),
            (config().with_base_url("http://h/v1?x=1"), "base_url"),
            (OpenAiConfig::default(), "api_key"),
            (config().with_name(" "), "name"),
            (config().with_timeout(std::time::Duration::ZERO), "timeout"),
            (
                config().with_max_concurrent_reads(0),
                "max_concurrent_reads",
            ),
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
        for config in [
            config().with_api_key("sk-secret-42"),
            OpenAiConfig::azure("https://r.openai.azure.com", "sk-secret-42"),
        ] {
            let provider = OpenAiProvider::new(config).expect("valid config");

            assert!(!format!("{provider:?}").contains("sk-secret-42"));
        }
    }
}
