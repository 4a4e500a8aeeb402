//! Hostile clients against the real server loop: slow uploads, dribbled headers, idle
//! keep-alive sockets and more connections than the cap. Raw sockets on 127.0.0.1, each test
//! bounded in time and in sockets.

use std::time::{Duration, Instant};

use artgen_core::domain::{Dimensions, OutputFormat};
use artgen_core::testing::render;
use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::helpers::assert_error;

const BOUNDARY: &str = "artgen-test-boundary";

fn png() -> Vec<u8> {
    render(Dimensions::new(64, 64), OutputFormat::Png, false, 3)
        .expect("renders")
        .to_vec()
}

/// A variation form, for reqwest.
fn variation_form() -> Form {
    let image = Part::bytes(png())
        .file_name("a.png")
        .mime_str("image/png")
        .expect("valid mime");
    Form::new().text("size", "256x256").part("image", image)
}

/// The same form as raw bytes, with its `Content-Type`.
fn variation_bytes() -> (String, Vec<u8>) {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"size\"\r\n\r\n256x256\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend(png());
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").into_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

fn host(app: &TestApp) -> &str {
    app.address.trim_start_matches("http://")
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(host(app)).await.expect("connects")
}

/// Sends a whole request head, then its body one byte a second from a background task (which
/// ends when the server stops reading). Returns the read half and the task.
async fn trickle(
    app: &TestApp,
    path: &str,
    key: &str,
    (content_type, body): (String, Vec<u8>),
) -> (OwnedReadHalf, JoinHandle<()>) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        host(app),
        body.len()
    );
    let (reader, mut writer) = connect(app).await.into_split();
    writer.write_all(head.as_bytes()).await.expect("head sent");
    let task = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    (reader, task)
}

/// Reads one answer (status and body, by its `Content-Length`); `None` when the server closes
/// the connection first.
async fn read_answer(reader: &mut (impl AsyncRead + Unpin)) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                return Some((status, body));
            }
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether the server closes the connection within `limit` (reading and dropping anything
/// it still sends).
async fn closes_within(reader: &mut (impl AsyncRead + Unpin), limit: Duration) -> bool {
    let mut chunk = [0u8; 1024];
    timeout(limit, async {
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// `GET /health` on an open connection, kept alive.
async fn health_on(stream: &mut TcpStream) -> Option<(u16, String)> {
    let request = "GET /health HTTP/1.1\r\nHost: artgen\r\n\r\n";
    stream.write_all(request.as_bytes()).await.ok()?;
    read_answer(stream).await
}

#[tokio::test]
async fn sixteen_slow_uploads_by_one_user_do_not_block_another_users_upload() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..16 {
        slow.push(trickle(&app, "/variation", &app.user_key, variation_bytes()).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let other = timeout(
        Duration::from_secs(10),
        app.post_form("/variation", &app.other_key, variation_form()),
    )
    .await
    .expect("another user's upload is not held up by lisa's");

    assert_eq!(other.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for (_, task) in slow {
        task.abort();
    }
}

#[tokio::test]
async fn an_upload_that_trickles_in_is_answered_408_and_frees_its_slot() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        tweak: |s| {
            s.max_concurrent_uploads = 1;
            s.body_read_timeout_secs = 1;
        },
        ..TestOptions::default()
    })
    .await;
    let started = Instant::now();
    let (mut reader, task) = trickle(&app, "/variation", &app.user_key, variation_bytes()).await;

    let (status, body) = timeout(Duration::from_secs(10), read_answer(&mut reader))
        .await
        .expect("answered in time")
        .expect("an answer");

    let waited = started.elapsed();
    assert_eq!(status, 408, "{body}");
    let body: Value = serde_json::from_str(&body).expect("the JSON error envelope");
    assert_error(&body, "request_timeout", None);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "cut off after the 1 s grace: {waited:?}"
    );
    assert!(closes_within(&mut reader, Duration::from_secs(2)).await);
    task.abort();
    // The only slot is free again.
    let next = timeout(
        Duration::from_secs(10),
        app.post_form("/variation", &app.user_key, variation_form()),
    )
    .await
    .expect("the slot was released");
    assert_eq!(next.status(), 200);
}

#[tokio::test]
async fn a_json_body_that_trickles_in_is_answered_408() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        tweak: |s| s.body_read_timeout_secs = 1,
        ..TestOptions::default()
    })
    .await;
    let json = br#"{"model":"dall-e-2","prompt":"a slow kite","size":"256x256"}"#.to_vec();
    let (mut reader, task) = trickle(
        &app,
        "/generate",
        &app.user_key,
        ("application/json".to_owned(), json),
    )
    .await;

    let (status, body) = timeout(Duration::from_secs(10), read_answer(&mut reader))
        .await
        .expect("answered in time")
        .expect("an answer");

    assert_eq!(status, 408, "{body}");
    assert_error(
        &serde_json::from_str(&body).expect("JSON"),
        "request_timeout",
        None,
    );
    assert_eq!(app.upstream_calls().await, 0);
    task.abort();
}

#[tokio::test]
async fn a_caller_without_a_key_or_over_their_rate_limit_is_refused_before_waiting_for_a_slot() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        rate_limit: artgen_store::RateLimitConfig {
            per_minute: 1,
            burst: 1,
            ..artgen_store::RateLimitConfig::default()
        },
        tweak: |s| s.max_concurrent_uploads = 1,
        ..TestOptions::default()
    })
    .await;
    // Lisa's trickling upload spends her one unit and holds the only slot.
    let (_reader, task) = trickle(&app, "/variation", &app.user_key, variation_bytes()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let anonymous = timeout(
        Duration::from_secs(2),
        app.client
            .post(format!("{}/variation", app.address))
            .multipart(variation_form())
            .send(),
    )
    .await
    .expect("refused at once")
    .expect("answered");
    let limited = timeout(
        Duration::from_secs(2),
        app.post_form("/variation", &app.user_key, variation_form()),
    )
    .await
    .expect("refused at once, not queued behind the slot");

    assert_eq!(anonymous.status(), 401);
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    let body: Value = limited.json().await.expect("JSON");
    assert_error(&body, "rate_limit_exceeded", None);
    task.abort();
}

#[tokio::test]
async fn a_client_dribbling_its_headers_is_cut_off_after_the_header_timeout() {
    let app = spawn_app(TestOptions {
        tweak: |s| s.header_read_timeout_secs = 1,
        ..TestOptions::default()
    })
    .await;
    let (mut reader, mut writer) = connect(&app).await.into_split();
    let started = Instant::now();
    let dribble = tokio::spawn(async move {
        let head = b"GET /health HTTP/1.1\r\nHost: artgen\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
        for byte in head {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let silent = connect(&app).await;

    assert!(closes_within(&mut reader, Duration::from_secs(5)).await);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let mut silent = silent;
    assert!(
        closes_within(&mut silent, Duration::from_secs(3)).await,
        "a connection that sends nothing is closed too"
    );
    dribble.abort();
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_keep_alive_timeout() {
    let app = spawn_app(TestOptions {
        tweak: |s| {
            s.header_read_timeout_secs = 1;
            s.keep_alive_timeout_secs = 3;
        },
        ..TestOptions::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut stream = connect(&app).await;
        let (status, _) = health_on(&mut stream).await.expect("answered");
        assert_eq!(status, 200);
        idle.push(stream);
    }

    // Idle for longer than the header timeout: still open, and reused.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = health_on(&mut idle[0]).await.expect("kept alive");
    assert_eq!(status, 200);
    let answered = Instant::now();

    for stream in &mut idle {
        assert!(closes_within(stream, Duration::from_secs(6)).await);
    }
    assert!(answered.elapsed() >= Duration::from_millis(2500));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_while_open_ones_are_still_served() {
    let app = spawn_app(TestOptions {
        tweak: |s| s.max_connections = 3,
        ..TestOptions::default()
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&app).await;
        assert_eq!(health_on(&mut stream).await.map(|a| a.0), Some(200));
        open.push(stream);
    }

    let mut fourth = connect(&app).await;
    let request = "GET /health HTTP/1.1\r\nHost: artgen\r\n\r\n";
    fourth.write_all(request.as_bytes()).await.expect("sent");
    let waiting = timeout(Duration::from_millis(700), read_answer(&mut fourth)).await;
    assert!(waiting.is_err(), "the fourth connection waits");
    let again = timeout(Duration::from_secs(2), health_on(&mut open[0])).await;
    assert_eq!(again.expect("in time").map(|a| a.0), Some(200));

    drop(open.remove(1));
    let served = timeout(Duration::from_secs(3), read_answer(&mut fourth))
        .await
        .expect("served once a connection closed");
    assert_eq!(served.map(|a| a.0), Some(200));
}
