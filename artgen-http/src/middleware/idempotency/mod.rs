//! `Idempotency-Key`: a retried request gets the first answer instead of a second upstream
//! call and a second charge.
//!
//! Runs inside authentication (records are scoped by user) on POST routes. Without the header
//! a request passes through untouched. With it:
//!
//! - the key must be 1 to 255 visible ASCII characters, else 400 `invalid_request` naming
//!   `Idempotency-Key`;
//! - the request is fingerprinted (SHA-256 of method, route, path and query, media type and the
//!   whole body, read within the route's body limit; multipart boundaries are ignored);
//! - the first request with a `(user, key)` runs; its answer is stored and replayed for
//!   24 h after the first request, byte for byte (status, `Content-Type`, body) and marked
//!   `Idempotent-Replayed: true`. Other response headers are not replayed. The images an
//!   answer carries inline (listed by the handler in [`InlineImages`]) are not stored a
//!   second time: the record keeps the rest of the body and the image ids, and a replay reads
//!   the images back from the image store;
//! - answers that invite a retry (5xx, 408, 429, 499) are not stored: the claim is abandoned
//!   and the next request with the key runs afresh. So is a request whose client went away;
//! - event streams (`text/event-stream`) are never replayed: the claim is abandoned as soon as
//!   the stream starts, so a retry of a streamed request runs (and is charged) again;
//! - the same key with a different request is 409 `conflict`;
//! - a duplicate arriving while the first still runs waits for it (woken at once in this
//!   process, polling for other replicas) and then gets the replay; after the wait it is 409
//!   `idempotency_in_progress` with `Retry-After: 1`. If the first is abandoned meanwhile, the
//!   waiter runs the request itself.

mod config;
mod inline;
mod request;
mod waiters;

use std::fmt;
use std::sync::Arc;

use artgen_core::domain::RequestId;
use artgen_core::ports::{Begin, Clock, IdempotencyStore, ImageIndex, ImageStore, StoredResponse};
use artgen_core::{Error, ErrorCode, RequestContext};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

pub use self::config::IdempotencyConfig;
pub use self::inline::InlineImages;
pub use self::request::IDEMPOTENCY_KEY;
use self::request::{buffer, idempotency_key, PARAM};
use self::waiters::{ClaimId, Waiters};
use crate::error::ApiError;

/// The response header marking a replayed answer (Stripe's name).
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// What the [`idempotency`] middleware needs: the store, a clock, the timings and (to keep
/// answers without their images) the image store. Cheap to clone; clones share the
/// in-process wake-ups, so build one per application.
#[derive(Clone)]
pub struct IdempotencyLayerState {
    store: Arc<dyn IdempotencyStore>,
    clock: Arc<dyn Clock>,
    config: IdempotencyConfig,
    waiters: Arc<Waiters>,
    images: Option<inline::ImageSource>,
}

impl IdempotencyLayerState {
    /// The middleware's state around a store and a clock (for the stored timestamps).
    pub fn new(
        store: Arc<dyn IdempotencyStore>,
        clock: Arc<dyn Clock>,
        config: IdempotencyConfig,
    ) -> Self {
        Self {
            store,
            clock,
            config,
            waiters: Arc::new(Waiters::default()),
            images: None,
        }
    }

    /// Keeps answers without the images they carry inline ([`InlineImages`]), rebuilding
    /// replays from each image's row in `index` and its blob in `blobs`, where every answered
    /// image is stored. Without it, answers are kept whole.
    #[must_use]
    pub fn with_images(mut self, index: Arc<dyn ImageIndex>, blobs: Arc<dyn ImageStore>) -> Self {
        self.images = Some(inline::ImageSource { index, blobs });
        self
    }

    /// The timings in use.
    pub fn config(&self) -> &IdempotencyConfig {
        &self.config
    }
}

impl fmt::Debug for IdempotencyLayerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyLayerState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A claimed `(user, key)` and the request it belongs to.
#[derive(Debug, Clone)]
struct Claim {
    id: ClaimId,
    fingerprint: [u8; 32],
    request_id: RequestId,
}

/// The middleware; wire it with `from_fn_with_state(state, idempotency)` inside the auth layer.
pub async fn idempotency(
    State(layer): State<IdempotencyLayerState>,
    request: Request,
    next: Next,
) -> Response {
    let context = request.extensions().get::<RequestContext>().cloned();
    let request_id = context
        .as_ref()
        .map(|c| c.request_id.clone())
        .or_else(|| request.extensions().get::<RequestId>().cloned());
    let key = match idempotency_key(request.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(request).await,
        Err(err) => return ApiError::new(err, request_id).into_response(),
    };
    let Some(context) = context else {
        let err = Error::internal("the idempotency layer runs outside authentication");
        return ApiError::new(err, request_id).into_response();
    };
    let (request, fingerprint) = match buffer(request).await {
        Ok(buffered) => buffered,
        Err(err) => return ApiError::new(err, request_id).into_response(),
    };
    let claim = Claim {
        id: (context.principal.user, key),
        fingerprint,
        request_id: context.request_id,
    };
    layer.run(claim, request, next).await
}

impl IdempotencyLayerState {
    /// Claims, replays or waits until one of them settles the request.
    async fn run(&self, claim: Claim, request: Request, next: Next) -> Response {
        let deadline = Instant::now() + self.config.wait();
        let (user, key) = &claim.id;
        loop {
            let now_ms = self.clock.now_ms();
            let begun = {
                let subscription = self.waiters.subscribe(&claim.id);
                let notified = subscription.notify().notified();
                tokio::pin!(notified);
                // Enabled before asking the store, so a wake-up in between is not lost.
                notified.as_mut().enable();
                let begun = self
                    .store
                    .begin(
                        user,
                        key,
                        &claim.fingerprint,
                        now_ms,
                        self.config.lease_ms(),
                    )
                    .await;
                let remaining = deadline.saturating_duration_since(Instant::now());
                match begun {
                    Ok(Begin::InProgress) if !remaining.is_zero() => {
                        tokio::select! {
                            () = &mut notified => {}
                            () = tokio::time::sleep(self.config.poll().min(remaining)) => {}
                        }
                        continue;
                    }
                    settled => settled,
                }
            };
            let error = |e: Error| ApiError::new(e, Some(claim.request_id.clone()));
            return match begun {
                Ok(Begin::Started) => self.first(claim, now_ms, request, next).await,
                Ok(Begin::Replay(stored)) => self
                    .replay(stored)
                    .await
                    .unwrap_or_else(|e| error(e).into_response()),
                Ok(Begin::Mismatch) => {
                    let message = "Idempotency-Key was used with a different request";
                    let err = Error::new(ErrorCode::Conflict, message).with_param(PARAM);
                    error(err).into_response()
                }
                Ok(Begin::InProgress) => in_progress(error(
                    Error::new(
                        ErrorCode::IdempotencyInProgress,
                        "a request with this Idempotency-Key is still running; retry shortly",
                    )
                    .with_param(PARAM),
                )),
                Err(e) => error(e).into_response(),
            };
        }
    }

    /// Runs the request that holds the claim and settles the claim with its answer.
    async fn first(&self, claim: Claim, started_ms: i64, request: Request, next: Next) -> Response {
        let mut guard = ClaimGuard {
            layer: self.clone(),
            claim: Some(claim),
        };
        let response = next.run(request).await;
        let status = response.status();
        if is_event_stream(&response) || !is_final(status) {
            guard.abandon().await;
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(err) => {
                let request_id = guard.claim.as_ref().map(|c| c.request_id.clone());
                guard.abandon().await;
                return ApiError::new(Error::internal(err), request_id).into_response();
            }
        };
        let inline = parts.extensions.remove::<InlineImages>();
        let (body, images) = match (&self.images, inline) {
            (Some(_), Some(inline)) => inline::cut_out(&bytes, &inline).unwrap_or_else(|| {
                tracing::warn!("an answer's inline images were not found in it; kept whole");
                (Vec::from(bytes.clone()), Vec::new())
            }),
            _ => (Vec::from(bytes.clone()), Vec::new()),
        };
        let content_type = parts.headers.get(header::CONTENT_TYPE);
        let stored = StoredResponse {
            status: status.as_u16(),
            content_type: content_type
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
            body,
            images,
            created_at_ms: self.clock.now_ms(),
        };
        let expires_at_ms = started_ms.saturating_add(self.config.ttl_ms());
        guard.complete(&stored, expires_at_ms).await;
        Response::from_parts(parts, Body::from(bytes))
    }

    /// The kept answer again, its inline images read back from the image store.
    async fn replay(&self, stored: StoredResponse) -> Result<Response, Error> {
        let body = match (&self.images, stored.images.is_empty()) {
            (_, true) => stored.body,
            (Some(images), false) => inline::put_back(&stored.body, &stored.images, images).await?,
            (None, false) => {
                return Err(Error::internal(
                    "a kept answer refers to images, but no image store is configured",
                ))
            }
        };
        let status = StatusCode::from_u16(stored.status).map_err(Error::internal)?;
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if let Ok(content_type) = HeaderValue::from_str(&stored.content_type) {
            if !stored.content_type.is_empty() {
                headers.insert(header::CONTENT_TYPE, content_type);
            }
        }
        headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
        Ok(response)
    }

    /// Ends a claim without an answer and wakes its waiters (they will claim it themselves).
    async fn abandon(&self, claim: Claim) {
        let (user, key) = &claim.id;
        if let Err(err) = self.store.abandon(user, key).await {
            tracing::warn!(
                request_id = %claim.request_id, error = %err,
                "could not release an idempotency claim; it lapses after its lease"
            );
        }
        self.waiters.wake(&claim.id);
    }
}

/// Whether an answer is final, i.e. replayed rather than retried.
fn is_final(status: StatusCode) -> bool {
    let retry_invited = matches!(status.as_u16(), 408 | 429 | 499);
    !(status.is_server_error() || retry_invited)
}

fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

fn in_progress(error: ApiError) -> Response {
    let mut response = error.into_response();
    let one_second = HeaderValue::from_static("1");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, one_second);
    response
}

/// Holds a claim while its request runs; if the request future is dropped (the client went
/// away), the claim is abandoned in the background so the key is not blocked for the lease.
struct ClaimGuard {
    layer: IdempotencyLayerState,
    claim: Option<Claim>,
}

impl ClaimGuard {
    async fn abandon(&mut self) {
        if let Some(claim) = self.claim.take() {
            self.layer.abandon(claim).await;
        }
    }

    /// Stores the answer. If that fails the claim is left to lapse (not abandoned): the work
    /// was done and paid for, so a retry must not run it again within the lease.
    async fn complete(&mut self, stored: &StoredResponse, expires_at_ms: i64) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        let (user, key) = &claim.id;
        let store = &self.layer.store;
        if let Err(err) = store.complete(user, key, stored, expires_at_ms).await {
            tracing::error!(
                request_id = %claim.request_id, error = %err,
                "could not store an idempotent answer; its key stays claimed until the lease ends"
            );
        }
        self.layer.waiters.wake(&claim.id);
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let layer = self.layer.clone();
            runtime.spawn(async move { layer.abandon(claim).await });
        }
    }
}

#[cfg(test)]
mod tests;
