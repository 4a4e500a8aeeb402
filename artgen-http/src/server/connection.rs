//! One connection: hyper's HTTP/1 state machine plus a watchdog for the header read and
//! keep-alive timeouts.
//!
//! hyper's own `header_read_timeout` starts whenever a connection waits for a request head,
//! idle time included, so it would also close keep-alive connections after the (short)
//! header timeout: a proxy in front that keeps idle connections for a minute would then race
//! our closes. So hyper's is off, and the watchdog tells the phases apart: a connection is
//! *reading a head* from its accept, or on a reused connection from the first byte after the
//! previous answer; *busy* while a request is being served (its body streaming out included);
//! *idle* in between. Only the first and the last are timed (a slow body has its own deadline,
//! see [`read_timeout`](crate::middleware::read_timeout)).

use std::convert::Infallible;
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower::ServiceExt as _;

/// The watchdog's limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    /// Longest a request head may take.
    pub(super) header: Option<Duration>,
    /// Longest a connection may sit idle between requests.
    pub(super) idle: Option<Duration>,
}

/// Serves one connection until the client closes it, the watchdog does, or (after `stop`
/// turns true) its last request is answered.
pub(super) async fn serve(
    stream: TcpStream,
    router: Router,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) {
    // Answers are written whole by hyper; waiting for more to send only adds latency.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let on_request = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let guard = on_request.request_started();
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await?;
            Ok::<_, Infallible>(response.map(|inner| Finished {
                inner,
                _guard: guard,
            }))
        }
    });
    let mut builder = http1::Builder::new();
    builder.header_read_timeout(None::<Duration>);
    let mut connection = pin!(builder.serve_connection(io, service).with_upgrades());
    let mut watchdog = pin!(watchdog(&activity, timeouts));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            () = &mut watchdog => {
                tracing::debug!("closing a connection past its header or keep-alive timeout");
                return;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves when the connection has been reading a head, or idle, for too long.
async fn watchdog(activity: &Activity, timeouts: Timeouts) {
    loop {
        // Made before the phase is read, so no change in between is missed.
        let changed = activity.changed.notified();
        match activity.deadline(timeouts) {
            Some(deadline) if deadline <= Instant::now() => return,
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = changed => {}
                }
            }
            None => changed.await,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Reading a request head since then.
    Head(Instant),
    /// Serving this many requests.
    Busy(usize),
    /// Idle since then.
    Idle(Instant),
}

/// What a connection is doing, shared by its reader, its service and its watchdog.
#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, phase: Phase) {
        *self.phase() = phase;
        self.changed.notify_waiters();
    }

    /// Bytes came in: on an idle connection, that starts a head.
    fn bytes_arrived(&self) {
        let idle = matches!(*self.phase(), Phase::Idle(_));
        if idle {
            self.set(Phase::Head(Instant::now()));
        }
    }

    fn request_started(self: &Arc<Self>) -> RequestGuard {
        let busy = match *self.phase() {
            Phase::Busy(n) => n + 1,
            Phase::Head(_) | Phase::Idle(_) => 1,
        };
        self.set(Phase::Busy(busy));
        RequestGuard(Arc::clone(self))
    }

    fn request_finished(&self) {
        let next = match *self.phase() {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        self.set(next);
    }

    fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
        match *self.phase() {
            Phase::Head(since) => timeouts.header.map(|limit| since + limit),
            Phase::Idle(since) => timeouts.idle.map(|limit| since + limit),
            Phase::Busy(_) => None,
        }
    }
}

/// Marks a request as served when dropped: with its answer's body, or with its handler when
/// the connection goes away first.
#[derive(Debug)]
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// An answer's body, holding its request's guard until hyper has written it.
#[derive(Debug)]
struct Finished {
    inner: Body,
    _guard: RequestGuard,
}

impl http_body::Body for Finished {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, telling the connection's [`Activity`] when bytes come in.
#[derive(Debug)]
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_arrived();
        }
        read
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Timeouts = Timeouts {
        header: Some(Duration::from_secs(10)),
        idle: Some(Duration::from_secs(75)),
    };

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_has_the_header_timeout_and_a_served_one_the_idle_timeout() {
        let activity = Arc::new(Activity::new());
        let accepted = Instant::now();
        assert_eq!(
            activity.deadline(LIMITS),
            Some(accepted + LIMITS.header.expect("set"))
        );

        let guard = activity.request_started();
        assert_eq!(
            activity.deadline(LIMITS),
            None,
            "a request in flight is not timed"
        );
        tokio::time::advance(Duration::from_secs(300)).await;
        drop(guard);
        let answered = Instant::now();
        assert_eq!(
            activity.deadline(LIMITS),
            Some(answered + LIMITS.idle.expect("set"))
        );

        tokio::time::advance(Duration::from_secs(30)).await;
        activity.bytes_arrived();
        let next_head = Instant::now();
        assert_eq!(
            activity.deadline(LIMITS),
            Some(next_head + LIMITS.header.expect("set"))
        );
        activity.bytes_arrived();
        assert_eq!(
            activity.deadline(LIMITS),
            Some(next_head + LIMITS.header.expect("set")),
            "more bytes of the same head earn no time"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_fires_only_once_a_phase_outlasts_its_limit() {
        let activity = Arc::new(Activity::new());
        let guard = activity.request_started();
        let mut watchdog = pin!(watchdog(&activity, LIMITS));

        let early = tokio::time::timeout(Duration::from_secs(600), watchdog.as_mut()).await;
        assert!(
            early.is_err(),
            "a busy connection is never closed by the watchdog"
        );
        drop(guard);
        let started = Instant::now();
        watchdog.await;
        assert_eq!(started.elapsed(), LIMITS.idle.expect("set"));
    }
}
