//! The HTTP server: an accept loop over a tokio listener serving the router on hyper's HTTP/1
//! connections, with the limits `axum::serve` lacks.
//!
//! - **Connection cap** (`max_connections`): the loop takes a permit before it accepts, so
//!   connections beyond the cap wait in the kernel's listen backlog while the ones already
//!   open are served.
//! - **Header read and keep-alive timeouts**: each connection has a watchdog (see
//!   `connection.rs`) that closes it when a request head takes longer than the header timeout
//!   (counted from the accept, or from the head's first byte on a reused connection), or when it
//!   sits idle between requests longer than the keep-alive timeout.
//! - **Send timeout**: the same watchdog closes a connection whose writes have been blocked
//!   longer than the send timeout (a client that stopped reading its answer), so such an
//!   answer's memory is given back.
//! - **Accept errors**: when the process is out of file descriptors (`EMFILE`, `ENFILE`) or
//!   memory, accepting again at once would spin, and giving up would take the server down; the
//!   loop waits 50 ms and tries again, while open connections finish and free descriptors.
//! - **Shutdown with a deadline**: when `shutdown` resolves, the listener is closed, every
//!   connection is told to finish its current request and close (idle ones close at once), and
//!   after the grace period the connections still open are dropped with whatever they were
//!   reading. A request answered before then has had its usage recorded: the service writes
//!   the usage row before it returns the answer.

mod connection;

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::settings::Settings;
use connection::Timeouts;

/// How long the accept loop waits after an accept error that is not the client's.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accept errors are logged at most this often (they come every 50 ms while they last).
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(1);

/// Connection limits and the shutdown deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a request head may take (`None`: no limit).
    pub header_read_timeout: Option<Duration>,
    /// How long a connection may sit idle between requests (`None`: no limit).
    pub keep_alive_timeout: Option<Duration>,
    /// How long a write to a client may stay blocked before the connection is closed
    /// (`None`: no limit).
    pub send_timeout: Option<Duration>,
    /// How long in-flight requests may take to finish after the shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::from_settings(&Settings::default())
    }
}

impl ServerConfig {
    /// The server part of the settings (a timeout of 0 seconds turns it off).
    pub fn from_settings(settings: &Settings) -> Self {
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        Self {
            max_connections: settings.max_connections.max(1),
            header_read_timeout: secs(settings.header_read_timeout_secs),
            keep_alive_timeout: secs(settings.keep_alive_timeout_secs),
            send_timeout: secs(settings.send_timeout_secs),
            shutdown_grace: Duration::from_secs(settings.shutdown_grace_secs),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains the connections for
/// at most [`ServerConfig::shutdown_grace`] and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let timeouts = Timeouts {
        header: config.header_read_timeout,
        idle: config.keep_alive_timeout,
        send: config.send_timeout,
    };
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let mut errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = accept(&listener, &permits) => accepted,
        };
        match accepted {
            Ok((stream, permit)) => {
                let task = connection::serve(stream, router.clone(), timeouts, stopped.clone());
                connections.spawn(async move {
                    task.await;
                    drop(permit);
                });
            }
            Err(err) if is_client_error(&err) => {}
            Err(err) => {
                errors.log(&err);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    let open = connections.len();
    tracing::info!(
        connections = open,
        "no longer accepting; finishing in-flight requests"
    );
    // Receivers only wait for the value to change; none can be gone while tasks run.
    let _ = stop.send(true);
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            grace_secs = config.shutdown_grace.as_secs(),
            "shutdown grace period over; dropping the connections still open"
        );
        connections.shutdown().await;
    }
}

/// Waits for a connection permit, then accepts.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> io::Result<(TcpStream, OwnedSemaphorePermit)> {
    // The semaphore is never closed.
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .map_err(io::Error::other)?;
    let (stream, _) = listener.accept().await?;
    Ok((stream, permit))
}

/// An accept error caused by one client (it left before it was accepted): nothing to wait for.
fn is_client_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Logs accept errors at most once per [`ACCEPT_ERROR_LOG_EVERY`], counting the others.
#[derive(Debug, Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    fn log(&mut self, err: &io::Error) {
        let now = Instant::now();
        if self
            .last_logged
            .is_some_and(|at| now.duration_since(at) < ACCEPT_ERROR_LOG_EVERY)
        {
            self.unlogged += 1;
            return;
        }
        tracing::error!(
            error = %err,
            since_last = self.unlogged,
            "accept error (out of file descriptors?); retrying every 50 ms"
        );
        self.last_logged = Some(now);
        self.unlogged = 0;
    }
}
