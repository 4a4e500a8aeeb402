//! Streams against an upstream that sends one partial image and then stalls: dropping the
//! stream closes the connection, and a stall past the deadline is a timeout item.

use std::net::SocketAddr;
use std::time::Duration;

use artgen_core::domain::GenerateParams;
use artgen_core::ports::{ImageProvider, StreamEvent};
use artgen_core::ErrorCode;
use artgen_openai::{OpenAiConfig, OpenAiProvider};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::helpers::{b64, png, read_request, request};

/// Serves one streamed answer with a single partial event, then keeps the connection open
/// without sending more. The receiver fires when the client closes the connection.
async fn stalling_upstream() -> (SocketAddr, oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound address");
    let (closed, on_closed) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("the provider connects");
        read_request(&mut socket).await;
        let data = json!({"type": "image_generation.partial_image", "b64_json": b64(&png(1)),
            "partial_image_index": 0});
        let event = format!("event: image_generation.partial_image\ndata: {data}\n\n");
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        let chunk = format!("{head}{:x}\r\n{event}\r\n", event.len());
        socket
            .write_all(chunk.as_bytes())
            .await
            .expect("the event is sent");
        // Stall: wait for the client to hang up (read returns 0 or fails).
        let mut buf = [0_u8; 64];
        while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
        let _ = closed.send(());
    });
    (addr, on_closed)
}

fn provider(addr: SocketAddr, timeout: Duration) -> OpenAiProvider {
    let config = OpenAiConfig::default()
        .with_base_url(format!("http://{addr}/v1"))
        .with_api_key("sk-test")
        .with_timeout(timeout);
    OpenAiProvider::new(config).expect("valid config")
}

fn streaming_job() -> artgen_core::domain::ImageJob {
    let params = GenerateParams {
        stream: Some(true),
        partial_images: Some(2),
        ..GenerateParams::default()
    };
    request("gpt-image-1", params)
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let (addr, on_closed) = stalling_upstream().await;
    let provider = provider(addr, Duration::from_secs(60));
    let mut stream = provider
        .stream(&streaming_job())
        .await
        .expect("the stream opens");

    let first = stream.next().await.expect("an item").expect("no error");
    assert_eq!(
        first,
        StreamEvent::Partial {
            index: 0,
            image: png(1)
        }
    );
    drop(stream);

    tokio::time::timeout(Duration::from_secs(5), on_closed)
        .await
        .expect("the upstream saw the connection close in time")
        .expect("the server task reported");
    // The provider (and its connection pool) is still alive: only the call was cancelled.
    drop(provider);
}

#[tokio::test]
async fn a_stream_stalling_past_the_deadline_ends_with_a_timeout_item() {
    let (addr, _on_closed) = stalling_upstream().await;
    let provider = provider(addr, Duration::from_millis(500));
    let mut stream = provider
        .stream(&streaming_job())
        .await
        .expect("the stream opens");

    let first = stream.next().await.expect("an item");
    let second = stream.next().await.expect("an item");
    let end = stream.next().await;

    assert!(matches!(first, Ok(StreamEvent::Partial { index: 0, .. })));
    let err = second.expect_err("the deadline passed");
    assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
    assert!(!err.is_retryable());
    assert!(end.is_none());
}
