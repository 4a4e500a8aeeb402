//! One connection: hyper's HTTP/1 state machine plus a watchdog for the header read,
//! keep-alive and send timeouts.
//!
//! hyper's own `header_read_timeout` starts whenever a connection waits for a request head,
//! idle time included, so it would also close keep-alive connections after the (short)
//! header timeout: a proxy in front that keeps idle connections for a minute would then race
//! our closes. So hyper's is off, and the watchdog tells the phases apart: a connection is
//! *reading a head* from its accept, or on a reused connection from the first byte after the
//! previous answer; *busy* while a request is being served (its body streaming out included);
//! *idle* in between. Only the first and the last are timed (a slow body has its own deadline,
//! see [`read_timeout`](crate::middleware::read_timeout)).
//!
//! Whatever the phase, a write to the socket that stays blocked (the client reads nothing,
//! its receive window and our send buffer are full) longer than the send timeout closes the
//! connection: an answer held for a client that stopped reading is memory (1.5 MB per image)
//! that nothing else would ever free. Only a stall counts: a client that reads slowly but
//! keeps reading, and a busy connection waiting for its answer (a 60 s upstream), are never
//! cut off by it.

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
    /// Longest a write to the client may stay blocked.
    pub(super) send: Option<Duration>,
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
                tracing::debug!(
                    "closing a connection past its header, keep-alive or send timeout"
                );
                return;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves when the connection has been reading a head, idle, or blocked on a write, for too
/// long.
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

/// What a connection is doing.
#[derive(Debug, Clone, Copy)]
struct State {
    phase: Phase,
    /// Since when a write to the socket has been blocked, if one is.
    blocked_since: Option<Instant>,
}

/// What a connection is doing, shared by its socket, its service and its watchdog.
#[derive(Debug)]
struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(State {
                phase: Phase::Head(Instant::now()),
                blocked_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, phase: Phase) {
        self.state().phase = phase;
        self.changed.notify_waiters();
    }

    /// Bytes came in: on an idle connection, that starts a head.
    fn bytes_arrived(&self) {
        let idle = matches!(self.state().phase, Phase::Idle(_));
        if idle {
            self.set(Phase::Head(Instant::now()));
        }
    }

    /// A write to the socket could not go on (`true`) or went on (`false`). Only the start
    /// and the end of a stall wake the watchdog, not every write.
    fn write_blocked(&self, blocked: bool) {
        let mut state = self.state();
        let changed = match (blocked, state.blocked_since) {
            (true, None) => {
                state.blocked_since = Some(Instant::now());
                true
            }
            (false, Some(_)) => {
                state.blocked_since = None;
                true
            }
            _ => false,
        };
        drop(state);
        if changed {
            self.changed.notify_waiters();
        }
    }

    fn request_started(self: &Arc<Self>) -> RequestGuard {
        let busy = match self.state().phase {
            Phase::Busy(n) => n + 1,
            Phase::Head(_) | Phase::Idle(_) => 1,
        };
        self.set(Phase::Busy(busy));
        RequestGuard(Arc::clone(self))
    }

    fn request_finished(&self) {
        let next = match self.state().phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        self.set(next);
    }

    /// When the watchdog closes the connection unless something changes first: the end of
    /// its phase's limit or of a blocked write's, whichever comes first.
    fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
        let state = *self.state();
        let phase = match state.phase {
            Phase::Head(since) => timeouts.header.map(|limit| since + limit),
            Phase::Idle(since) => timeouts.idle.map(|limit| since + limit),
            Phase::Busy(_) => None,
        };
        let stall = state
            .blocked_since
            .zip(timeouts.send)
            .map(|(since, limit)| since + limit);
        phase.into_iter().chain(stall).min()
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

/// The socket, telling the connection's [`Activity`] when bytes come in and when writes block.
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
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.activity.write_blocked(written.is_pending());
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.activity.write_blocked(written.is_pending());
        written
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
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::task::JoinHandle;

    use super::*;

    const LIMITS: Timeouts = Timeouts {
        header: Some(Duration::from_secs(10)),
        idle: Some(Duration::from_secs(75)),
        send: Some(Duration::from_secs(60)),
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

    #[tokio::test(start_paused = true)]
    async fn a_blocked_write_is_timed_from_its_start_in_any_phase() {
        let send = LIMITS.send.expect("set");
        let activity = Arc::new(Activity::new());
        let guard = activity.request_started();
        activity.write_blocked(true);
        let blocked = Instant::now();
        tokio::time::advance(Duration::from_secs(20)).await;
        activity.write_blocked(true);
        assert_eq!(
            activity.deadline(LIMITS),
            Some(blocked + send),
            "a stall is timed from its first blocked write"
        );
        activity.write_blocked(false);
        assert_eq!(
            activity.deadline(LIMITS),
            None,
            "a write that goes on ends the stall"
        );

        // The answer's last frame is handed over while its bytes still wait for the client:
        // the stall's limit (60 s) ends before the idle one (75 s).
        activity.write_blocked(true);
        let again = Instant::now();
        drop(guard);
        assert_eq!(activity.deadline(LIMITS), Some(again + send));
        activity.write_blocked(false);
        assert_eq!(
            activity.deadline(LIMITS),
            Some(again + LIMITS.idle.expect("set"))
        );
    }

    /// Serves one connection on a loopback port whose every request is answered with
    /// `size` bytes; the task ends when the connection does.
    async fn serve_one(size: usize, send: Duration) -> (std::net::SocketAddr, JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let address = listener.local_addr().expect("bound");
        let body = Bytes::from(vec![b'x'; size]);
        let router = Router::new().route(
            "/",
            axum::routing::get(move || {
                let body = body.clone();
                async move { body }
            }),
        );
        let timeouts = Timeouts {
            send: Some(send),
            ..LIMITS
        };
        let task = tokio::spawn(async move {
            let (keep, stop) = watch::channel(false);
            let (stream, _) = listener.accept().await.expect("accepts");
            serve(stream, router, timeouts, stop).await;
            drop(keep);
        });
        (address, task)
    }

    /// A client with a small receive buffer that has sent `GET /`.
    async fn ask(address: std::net::SocketAddr) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(16 * 1024).expect("buffer size");
        let mut stream = socket.connect(address).await.expect("connects");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: artgen\r\n\r\n")
            .await
            .expect("request sent");
        stream
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_its_answer_is_cut_off_after_the_send_timeout() {
        let send = Duration::from_secs(1);
        let (address, served) = serve_one(64 * 1024 * 1024, send).await;
        let client = ask(address).await;
        let asked = std::time::Instant::now();

        tokio::time::timeout(Duration::from_secs(30), served)
            .await
            .expect("the connection is closed while the client still holds it")
            .expect("the connection's task ends cleanly");
        assert!(asked.elapsed() >= send, "not before the send timeout");
        drop(client);
    }

    #[tokio::test]
    async fn a_client_that_pauses_shorter_than_the_send_timeout_gets_its_whole_answer() {
        const SIZE: usize = 16 * 1024 * 1024;
        let (address, served) = serve_one(SIZE, Duration::from_millis(1500)).await;
        let mut client = ask(address).await;

        let mut received = 0_usize;
        let mut since_pause = 0_usize;
        let mut buf = vec![0_u8; 256 * 1024];
        let whole = tokio::time::timeout(Duration::from_secs(30), async {
            // The head is a few dozen bytes; the body follows it.
            while received < SIZE {
                let n = client.read(&mut buf).await.expect("reads");
                assert!(n > 0, "closed after {received} bytes");
                received += n;
                since_pause += n;
                if since_pause >= 2 * 1024 * 1024 {
                    // The server's writes block for this long, then go on.
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    since_pause = 0;
                }
            }
        })
        .await;
        assert!(whole.is_ok(), "the answer arrives");
        assert!(!served.is_finished(), "the connection is still open");
        drop(client);
        served.await.expect("the connection's task ends cleanly");
    }
}
