//! A deadline on reading a request body, so a client that sends it at a trickle (1 byte/s)
//! cannot hold a connection or an upload slot for hours.
//!
//! The rule is Apache `mod_reqtimeout`'s `MinRate`: the body gets a grace period, extended by
//! one second for every `min_bytes_per_sec` bytes that arrive. A client that keeps up that
//! average never times out, however large its upload, while a trickle is cut off shortly after
//! the grace. The clock starts at the first read of the body, so an upload waiting for its slot
//! is not timed while it waits. A body that times out fails with [`BodyReadTimedOut`], which
//! the extractors answer with 408 `request_timeout`; the connection is then closed.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use artgen_core::{Error, ErrorCode};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::state::AppState;

/// How fast a request body must arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyReadTimeout {
    /// Time allowed before any rate applies.
    pub grace: Duration,
    /// The slowest average accepted after the grace, in bytes per second (0: the grace is a
    /// deadline for the whole body).
    pub min_bytes_per_sec: u64,
}

impl Default for BodyReadTimeout {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            min_bytes_per_sec: 16 * 1024,
        }
    }
}

impl BodyReadTimeout {
    /// When a body whose first read was at `started` and of which `received` bytes arrived
    /// times out.
    fn deadline(self, started: Instant, received: u64) -> Instant {
        let earned = match self.min_bytes_per_sec {
            0 => Duration::ZERO,
            rate => Duration::from_millis(received.saturating_mul(1000) / rate),
        };
        started + self.grace.saturating_add(earned)
    }
}

/// The error of a body that did not arrive in time.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within the read timeout")]
pub struct BodyReadTimedOut;

/// Whether `err`, or any error in its chain of causes, is a [`BodyReadTimedOut`].
pub fn is_read_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if err.is::<BodyReadTimedOut>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// The error answered for a body that did not arrive in time.
pub fn read_timeout_error() -> Error {
    Error::new(
        ErrorCode::RequestTimeout,
        "the request body did not arrive in time (it came too slowly or stalled)",
    )
}

/// Middleware: puts the configured deadline on the request's body, and closes the connection
/// after a 408 (the rest of the body is never read).
pub async fn read_timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limit) = state.config().body_read_timeout else {
        return next.run(request).await;
    };
    let request = request.map(|body| Body::new(TimedBody::new(body, limit)));
    let mut response = next.run(request).await;
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A body that fails with [`BodyReadTimedOut`] once it falls behind its [`BodyReadTimeout`].
#[derive(Debug)]
pub struct TimedBody {
    inner: Body,
    limit: BodyReadTimeout,
    started: Option<Instant>,
    received: u64,
    timer: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    /// Wraps `inner`; its clock starts at the first read.
    pub fn new(inner: Body, limit: BodyReadTimeout) -> Self {
        Self {
            inner,
            limit,
            started: None,
            received: 0,
            timer: None,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let started = *this.started.get_or_insert_with(Instant::now);
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
                    this.received = this.received.saturating_add(len);
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(other) => return Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => {}
        }
        let deadline = this.limit.deadline(started, this.received);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyReadTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::FromRequest as _;
    use futures_util::{stream, StreamExt as _};

    /// A body that sends `first`, then nothing more for an hour.
    fn stalled(first: &'static [u8]) -> Body {
        let chunks = stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(first))]).chain(
            stream::once(async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Bytes::new())
            }),
        );
        Body::from_stream(chunks)
    }

    #[test]
    fn each_byte_earns_time_at_the_minimum_rate() {
        let limit = BodyReadTimeout {
            grace: Duration::from_secs(30),
            min_bytes_per_sec: 1000,
        };
        let start = Instant::now();

        assert_eq!(limit.deadline(start, 0), start + Duration::from_secs(30));
        assert_eq!(limit.deadline(start, 5000), start + Duration::from_secs(35));
        let whole = BodyReadTimeout {
            min_bytes_per_sec: 0,
            ..limit
        };
        assert_eq!(whole.deadline(start, 5000), start + Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_with_a_timeout_that_the_extractors_can_recognise() {
        let limit = BodyReadTimeout {
            grace: Duration::from_secs(2),
            min_bytes_per_sec: 1000,
        };
        let body = Body::new(TimedBody::new(stalled(b"{\"a\":"), limit));
        let request = Request::new(body);
        let started = Instant::now();

        let rejection = Bytes::from_request(request, &())
            .await
            .expect_err("the body stalls");

        assert!(is_read_timeout(&rejection), "{rejection:?}");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(2), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_up_is_read_whole() {
        let limit = BodyReadTimeout {
            grace: Duration::from_secs(2),
            min_bytes_per_sec: 10,
        };
        // 10 chunks of 20 bytes, one every 1.5 s: 15 s in all, each chunk earning 2 s.
        let chunks = stream::iter(0..10).then(|_| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok::<_, std::io::Error>(Bytes::from_static(&[b'x'; 20]))
        });
        let body = Body::new(TimedBody::new(Body::from_stream(chunks), limit));

        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("read whole");

        assert_eq!(bytes.len(), 200);
    }
}
