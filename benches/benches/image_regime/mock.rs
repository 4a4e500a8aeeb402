//! A fast mock of OpenAI's `POST /images/generations` on loopback, answering canned
//! `ImagesResponse` bodies: a tiny PNG or one whose base64 is about 1.5 MB.
//!
//! The PNGs are noise, so PNG does not compress them and the sizes are real. Every answer
//! carries a different image (a counter is written into the middle of the base64 text, inside
//! the compressed pixel data), so ArtGen's content-addressed image store writes each one as a
//! new file, as it would real images; the body is sent as three shared buffers around those
//! few bytes, so the mock copies nothing per answer.
//!
//! Modes, set between measurements: which answer, a latency before answering, and "hold until
//! N requests wait, then release them all" for the peak-memory case.

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use tokio::sync::Notify;

/// Which canned answer the mock gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A tiny PNG.
    Small,
    /// A PNG whose base64 is about 1.5 MB.
    Large,
}

impl Answer {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Large => "1.5 MB",
        }
    }
}

/// One canned body, split around the bytes each answer changes.
struct Canned {
    head: Bytes,
    tail: Bytes,
    /// Length of the base64 text of the image.
    b64_len: usize,
    /// Length of the whole body.
    len: usize,
}

/// Base64 characters rewritten per answer (a multiple of 4: whole groups, no padding).
const STAMP: usize = 8;

impl Canned {
    fn new(png: &[u8]) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD.encode(png);
        // The middle of the text, aligned to a base64 group: far from the PNG header (which
        // ArtGen reads) and from the end (padding).
        let at = (b64.len() / 2) & !3;
        let body = format!(
            r#"{{"created":1767225600,"background":"opaque","output_format":"png","quality":"low","size":"1024x1024","data":[{{"b64_json":"{b64}"}}],"usage":{{"input_tokens":12,"input_tokens_details":{{"image_tokens":0,"text_tokens":12}},"output_tokens":272,"total_tokens":284}}}}"#
        );
        let start = body.find(&b64).unwrap_or(0) + at;
        let bytes = Bytes::from(body);
        Self {
            head: bytes.slice(..start),
            tail: bytes.slice(start + STAMP..),
            b64_len: b64.len(),
            len: bytes.len(),
        }
    }

    /// The body for answer number `n`: the same image with `STAMP` characters set from `n`.
    fn body(&self, n: u64) -> Body {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let stamp: Vec<u8> = (0..STAMP)
            .map(|i| ALPHABET[usize::try_from((n >> (6 * i)) & 63).unwrap_or(0)])
            .collect();
        let parts = [self.head.clone(), Bytes::from(stamp), self.tail.clone()];
        Body::from_stream(futures_util::stream::iter(
            parts.into_iter().map(Ok::<_, std::convert::Infallible>),
        ))
    }
}

/// A PNG of `width`x`height` whose first `noisy_rows` rows are random (incompressible) and the
/// rest one colour.
fn noisy_png(width: u32, height: u32, noisy_rows: u32, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let img = image::RgbImage::from_fn(width, height, |_, y| {
        if y < noisy_rows {
            image::Rgb([rng.u8(..), rng.u8(..), rng.u8(..)])
        } else {
            image::Rgb([40, 90, 160])
        }
    });
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("a PNG encodes into memory");
    png
}

/// The large answer's base64, bytes (a 1024x1024 PNG of about 1.1 MB).
const LARGE_B64_BYTES: usize = 1_500_000;

/// A 1024x1024 PNG whose base64 is about `b64_len` bytes: noisy rows are incompressible, so the
/// size follows their number (measured once, then scaled).
fn sized_png(b64_len: usize) -> Vec<u8> {
    let target = b64_len * 3 / 4;
    let mut rows = 256;
    let mut png = noisy_png(1024, 1024, rows, 7);
    for _ in 0..3 {
        let scaled = (rows as usize * target / png.len().max(1)).clamp(1, 1024);
        if scaled == rows as usize {
            break;
        }
        rows = u32::try_from(scaled).unwrap_or(1024);
        png = noisy_png(1024, 1024, rows, 7);
    }
    png
}

/// The mock's shared state.
pub(crate) struct Mock {
    small: Canned,
    large: Canned,
    answer: AtomicU8,
    latency_ms: AtomicU64,
    /// Hold answers until this many requests wait (0: off).
    hold_for: AtomicUsize,
    held: AtomicUsize,
    released: AtomicBool,
    release: Notify,
    /// Requests received (numbers each answer's image).
    arrived: AtomicU64,
    /// Requests waiting (latency or hold) right now, and the most since the last `set`.
    waiting: AtomicUsize,
    peak_waiting: AtomicUsize,
}

/// Longest a held request waits for the others, so a run that never gathers them ends.
const HOLD_LIMIT: Duration = Duration::from_secs(90);

impl Mock {
    fn new() -> Self {
        let large = sized_png(LARGE_B64_BYTES);
        let small = noisy_png(16, 16, 16, 11);
        Self {
            small: Canned::new(&small),
            large: Canned::new(&large),
            answer: AtomicU8::new(0),
            latency_ms: AtomicU64::new(0),
            hold_for: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            released: AtomicBool::new(false),
            release: Notify::new(),
            arrived: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            peak_waiting: AtomicUsize::new(0),
        }
    }

    /// Sets the answer and the latency, and turns holding off.
    pub(crate) fn set(&self, answer: Answer, latency: Duration) {
        self.answer
            .store(u8::from(answer == Answer::Large), Ordering::SeqCst);
        self.latency_ms.store(
            u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
        self.hold_for.store(0, Ordering::SeqCst);
        self.held.store(0, Ordering::SeqCst);
        self.released.store(false, Ordering::SeqCst);
        self.peak_waiting.store(0, Ordering::SeqCst);
    }

    /// Holds every answer until `n` requests wait, then releases them all at once.
    pub(crate) fn hold_until(&self, n: usize) {
        self.released.store(false, Ordering::SeqCst);
        self.held.store(0, Ordering::SeqCst);
        self.hold_for.store(n, Ordering::SeqCst);
    }

    /// Ends every wait now (latency or hold) and stops holding.
    pub(crate) fn release_all(&self) {
        self.hold_for.store(0, Ordering::SeqCst);
        self.released.store(true, Ordering::SeqCst);
        self.release.notify_waiters();
    }

    /// Requests waiting right now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// The most requests that waited at once since the last [`Mock::set`].
    pub(crate) fn peak_waiting(&self) -> usize {
        self.peak_waiting.load(Ordering::SeqCst)
    }

    /// Length of the base64 text of the current answer's image.
    pub(crate) fn b64_len(&self, answer: Answer) -> usize {
        self.canned(answer).b64_len
    }

    fn canned(&self, answer: Answer) -> &Canned {
        match answer {
            Answer::Small => &self.small,
            Answer::Large => &self.large,
        }
    }

    /// Waits for the latency, or for the hold to be released, or for `release_all`.
    async fn wait(&self) {
        let latency = Duration::from_millis(self.latency_ms.load(Ordering::SeqCst));
        let hold_for = self.hold_for.load(Ordering::SeqCst);
        if latency.is_zero() && hold_for == 0 {
            return;
        }
        let now = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_waiting.fetch_max(now, Ordering::SeqCst);
        let released = self.release.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        if hold_for > 0 && !self.released.load(Ordering::SeqCst) {
            if self.held.fetch_add(1, Ordering::SeqCst) + 1 >= hold_for {
                self.released.store(true, Ordering::SeqCst);
                self.release.notify_waiters();
            } else {
                let _ = tokio::time::timeout(HOLD_LIMIT, released.as_mut()).await;
            }
        } else if !self.released.load(Ordering::SeqCst) {
            tokio::select! {
                () = tokio::time::sleep(latency) => {}
                () = released.as_mut() => {}
            }
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn generations(State(mock): State<Arc<Mock>>, _body: Bytes) -> Response {
    let n = mock.arrived.fetch_add(1, Ordering::SeqCst);
    mock.wait().await;
    let answer = if mock.answer.load(Ordering::SeqCst) == 1 {
        Answer::Large
    } else {
        Answer::Small
    };
    let canned = mock.canned(answer);
    let mut response = Response::new(canned.body(n));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(canned.len));
    response
}

/// Starts the mock on `127.0.0.1` and returns its state and address. Both
/// `/images/generations` and `/v1/images/generations` answer.
pub(crate) async fn start() -> (Arc<Mock>, SocketAddr) {
    let mock = Arc::new(Mock::new());
    let app = Router::new()
        .route("/images/generations", post(generations))
        .route("/v1/images/generations", post(generations))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the mock binds a loopback port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (mock, addr)
}
