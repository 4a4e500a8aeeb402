//! Gateway overhead: what one `POST /generate` through the real router costs on top of the
//! provider's own work, and how many requests a second one process sustains.
//!
//! Baseline: the mock provider's `run` called directly (it draws a 256x256 PNG). Measured: the
//! same request as HTTP through the router on loopback (auth with a real key in SQLite, strict
//! JSON parsing, validation, rate limit, retry/deadline/concurrency decorators, image stored on
//! disk, usage row written, signed URL, base64 answer, access log, metrics). Target: the whole
//! gateway adds less than 10x one 256x256 mock render, i.e. a few milliseconds, which is noise
//! next to a real upstream call (seconds). Then a burst at concurrency 20 (the PRD's "20 req/s
//! burst") reports requests per second and p95 latency.
//!
//! Run with: cargo bench -p artgen-benches --bench gateway
#![expect(clippy::print_stdout, reason = "benches print their results")]

use std::sync::Arc;
use std::time::Instant;

use artgen_benches::{Comparison, Measurement};
use artgen_core::domain::{Catalog, GenerateParams, ImageJob, KeyEnv, Role};
use artgen_core::ports::ImageProvider;
use artgen_core::testing::MockProvider;
use artgen_http::compose::{self, Upstreams};
use artgen_http::metrics::Metrics;
use artgen_http::settings::Settings;
use artgen_store::RateLimitConfig;

const SAMPLES: usize = 7;
const PER_SAMPLE: usize = 60;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn measurement(label: &str, per_sample_ns: Vec<f64>) -> Measurement {
    let min = per_sample_ns.iter().copied().fold(f64::INFINITY, f64::min);
    let max = per_sample_ns.iter().copied().fold(0.0, f64::max);
    Measurement {
        label: label.to_owned(),
        ns_per_op: median(per_sample_ns),
        min_ns: min,
        max_ns: max,
    }
}

#[tokio::main]
async fn main() {
    let data = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let settings = Settings {
        bind: addr,
        data_dir: data.path().to_path_buf(),
        rate_limit: RateLimitConfig {
            per_minute: 1_000_000,
            burst: 100_000,
            ..RateLimitConfig::default()
        },
        ..Settings::default()
    };
    let mock = Arc::new(MockProvider::new());
    let app = compose::build(
        &settings,
        Upstreams::single(mock.clone()),
        Arc::new(Metrics::new()),
    )
    .await
    .expect("app builds");
    let key = app
        .stores
        .keys
        .create("bench", Role::User, KeyEnv::Test)
        .await
        .expect("key")
        .expose_secret()
        .to_owned();
    tokio::spawn(async move { axum::serve(listener, artgen_http::build_router(app.state)).await });

    let params = GenerateParams {
        model: "dall-e-2".into(),
        prompt: "a paper boat".into(),
        size: Some("256x256".into()),
        ..Default::default()
    };
    let job = ImageJob::Generate(params.clone().validate(&Catalog::default()).expect("valid"));
    // The same request on the wire.
    let body =
        serde_json::json!({"model": "dall-e-2", "prompt": "a paper boat", "size": "256x256"})
            .to_string();
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/generate");
    let call = || async {
        let response = client
            .post(&url)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("reachable");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body")
    };

    // Warm up both paths.
    for _ in 0..20 {
        mock.run(&job).await.expect("mock runs");
        call().await;
    }
    let mut direct = Vec::new();
    let mut gateway = Vec::new();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        for _ in 0..PER_SAMPLE {
            mock.run(&job).await.expect("mock runs");
        }
        direct.push(started.elapsed().as_nanos() as f64 / PER_SAMPLE as f64);
        let started = Instant::now();
        for _ in 0..PER_SAMPLE {
            call().await;
        }
        gateway.push(started.elapsed().as_nanos() as f64 / PER_SAMPLE as f64);
    }
    let table = Comparison::new(
        "gateway: one POST /generate through the router vs the provider alone",
        measurement("mock provider run (256x256 PNG)", direct),
    )
    .with_target(measurement("POST /generate end to end", gateway), 10.0);
    println!("{table}");

    // A burst at concurrency 20.
    let total = 400;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(total);
    for _ in 0..total / 20 {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (client, url, key, body) = (client.clone(), url.clone(), key.clone(), body.clone());
            set.spawn(async move {
                let t = Instant::now();
                let response = client
                    .post(url)
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("reachable");
                assert_eq!(response.status(), 200);
                response.bytes().await.expect("body");
                t.elapsed()
            });
        }
        latencies.extend(set.join_all().await);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let p95 = latencies[latencies.len() * 95 / 100];
    println!(
        "burst: {total} requests at concurrency 20 in {:.2} s = {:.0} req/s (PRD: 20 req/s burst); p95 latency {:.1} ms (PRD: P95 < 8 s, upstream excluded)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        p95.as_secs_f64() * 1000.0
    );
    println!(
        "gateway target (end to end < 10x the provider alone): {}",
        if table.passed() { "PASS" } else { "FAIL" }
    );
}
