//! The per-upstream circuit breaker through the real router (reliability check 28): after the
//! threshold trips, calls fail fast with 503 `upstream_unavailable` and `Retry-After` without
//! reaching the upstream; after the open interval one probe goes through and, on success,
//! traffic resumes. An open primary fails over to the backup at once.

use std::time::{Duration, Instant};

use artgen_http::settings::Settings;
use artgen_tests::upstream::{mount_failure, mount_images};
use artgen_tests::{spawn_app, TestOptions};
use wiremock::ResponseTemplate;

use crate::helpers::{assert_error, body, json_of};

/// Opens after two failed calls, for one second; no retries, so one request is one call.
fn trip_fast(s: &mut Settings) {
    s.circuit.failure_threshold = 2;
    s.circuit.open_for = Duration::from_secs(1);
    s.retry.max_attempts = 1;
}

#[tokio::test]
async fn an_open_circuit_answers_503_without_calling_then_a_probe_closes_it() {
    let app = spawn_app(TestOptions {
        tweak: trip_fast,
        ..TestOptions::default()
    })
    .await;
    let server = app.upstream.as_ref().expect("wiremock");
    mount_failure(server, ResponseTemplate::new(500), 2).await;
    mount_images(server).await;
    let request = body("dall-e-2", "256x256");
    for _ in 0..2 {
        let failed = app.generate(Some(&app.user_key), &request).await;
        assert_eq!(failed.status(), 502);
        assert_error(&json_of(failed).await, "upstream_error", None);
    }
    assert_eq!(app.upstream_calls().await, 2);

    let started = Instant::now();
    let refused = app.generate(Some(&app.user_key), &request).await;

    assert!(
        started.elapsed() < Duration::from_millis(500),
        "failed fast"
    );
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_error(&json_of(refused).await, "upstream_unavailable", None);
    assert_eq!(
        app.upstream_calls().await,
        2,
        "the upstream saw no new call"
    );
    assert_eq!(app.get("/health", None).await.status(), 200);
    let open = "artgen_upstream_circuit_open{provider=\"openai\"} 1";
    assert!(app.metrics().await.contains(open));

    // The upstream is healthy again (the failure responder is used up): after the open
    // interval the probe goes through and closes the circuit.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let probe = app.generate(Some(&app.user_key), &request).await;
    assert_eq!(probe.status(), 200);
    for _ in 0..3 {
        let again = app.generate(Some(&app.user_key), &request).await;
        assert_eq!(again.status(), 200, "normal traffic resumed");
    }
    assert_eq!(app.upstream_calls().await, 6);
    let closed = "artgen_upstream_circuit_open{provider=\"openai\"} 0";
    assert!(app.metrics().await.contains(closed));
}

#[tokio::test]
async fn an_open_primary_fails_over_to_the_backup_at_once() {
    let app = spawn_app(TestOptions {
        backup: true,
        tweak: trip_fast,
        ..TestOptions::default()
    })
    .await;
    let primary = app.upstream.as_ref().expect("wiremock");
    let backup = app.backup.as_ref().expect("backup");
    mount_failure(primary, ResponseTemplate::new(500), 100).await;
    mount_images(backup).await;
    let request = body("dall-e-2", "256x256");
    for _ in 0..2 {
        let response = app.generate(Some(&app.user_key), &request).await;
        assert_eq!(json_of(response).await["provider"], "backup");
    }
    assert_eq!(app.upstream_calls().await, 2);

    let response = app.generate(Some(&app.user_key), &request).await;

    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["provider"], "backup");
    assert_eq!(
        app.upstream_calls().await,
        2,
        "the open primary was skipped"
    );
    let served = backup.received_requests().await.map_or(0, |r| r.len());
    assert_eq!(served, 3);
}
