//! The in-process load client: reqwest with a pool sized to the concurrency, bodies read chunk by
//! chunk and counted (never buffered), every loop bounded in time and count.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;

/// The request every case sends, directly and through ArtGen (whose OpenAI-compatible route
/// takes the same body and answers the same shape).
pub(crate) const REQUEST: &str = r#"{"model":"gpt-image-1.5","prompt":"a paper boat on a pond","size":"1024x1024","quality":"low"}"#;

/// Most requests one worker sends in one measurement, whatever the duration.
const MAX_PER_WORKER: usize = 1_000_000;

/// Where requests go.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    url: String,
    key: Option<String>,
}

impl Target {
    /// The mock itself (as ArtGen's adapter calls it).
    pub(crate) fn direct(mock: SocketAddr) -> Self {
        Self {
            url: format!("http://{mock}/v1/images/generations"),
            key: None,
        }
    }

    /// The bare proxy's `POST /v1/images/generations` (no key: it checks none).
    pub(crate) fn bare(addr: SocketAddr) -> Self {
        Self::direct(addr)
    }

    /// ArtGen's `POST /v1/images/generations` with a user key.
    pub(crate) fn artgen(addr: SocketAddr, key: &str) -> Self {
        Self {
            url: format!("http://{addr}/v1/images/generations"),
            key: Some(key.to_owned()),
        }
    }
}

/// A client for `connections` concurrent requests, loopback only.
pub(crate) fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(300))
        .build()
        .expect("the HTTP client builds")
}

/// One answer: its latency and size, or why it failed.
pub(crate) type Outcome = Result<(Duration, usize), String>;

/// Sends one request and reads the whole answer.
pub(crate) async fn call(client: &reqwest::Client, target: &Target) -> Outcome {
    let started = Instant::now();
    let mut request = client
        .post(&target.url)
        .header(CONTENT_TYPE, "application/json")
        .body(REQUEST);
    if let Some(key) = &target.key {
        request = request.bearer_auth(key);
    }
    let mut response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let mut len = 0;
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        len += chunk.len();
    }
    if status != reqwest::StatusCode::OK {
        return Err(format!("status {status}"));
    }
    Ok((started.elapsed(), len))
}

/// What a closed-loop measurement saw.
#[derive(Debug, Default, Clone)]
pub(crate) struct Run {
    /// Latency of every successful request, microseconds.
    pub(crate) latencies_us: Vec<u64>,
    pub(crate) errors: usize,
    pub(crate) first_error: Option<String>,
    pub(crate) elapsed: Duration,
    /// Smallest answer seen, bytes.
    pub(crate) min_len: usize,
}

impl Run {
    pub(crate) fn per_second(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Adds another run of the same side (rounds are pooled).
    pub(crate) fn absorb(&mut self, other: Run) {
        self.min_len = if self.latencies_us.is_empty() {
            other.min_len
        } else {
            self.min_len.min(other.min_len)
        };
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.elapsed += other.elapsed;
    }
}

/// `concurrency` workers each sending requests back to back until `duration` is over.
pub(crate) async fn closed_loop(
    client: &reqwest::Client,
    target: &Target,
    concurrency: usize,
    duration: Duration,
) -> Run {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, target) = (client.clone(), target.clone());
        workers.spawn(async move {
            let mut run = Run {
                min_len: usize::MAX,
                ..Run::default()
            };
            while Instant::now() < deadline && run.latencies_us.len() < MAX_PER_WORKER {
                match call(&client, &target).await {
                    Ok((latency, len)) => {
                        run.latencies_us
                            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                        run.min_len = run.min_len.min(len);
                    }
                    Err(e) => {
                        run.errors += 1;
                        run.first_error.get_or_insert(e);
                        // A failing target must not spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            run
        });
    }
    let mut total = Run {
        min_len: usize::MAX,
        ..Run::default()
    };
    while let Some(run) = workers.join_next().await {
        let run = run.expect("a worker does not panic");
        total.min_len = total.min_len.min(run.min_len);
        total.latencies_us.extend(run.latencies_us);
        total.errors += run.errors;
        total.first_error = total.first_error.take().or(run.first_error);
    }
    total.elapsed = started.elapsed();
    total
}

/// `count` requests started at `rate` per second (an open loop: a slow answer does not delay
/// the next request), each bounded by `timeout`; the outcomes in start order.
pub(crate) async fn open_loop(
    client: &reqwest::Client,
    target: &Target,
    rate: f64,
    count: usize,
    timeout: Duration,
) -> Vec<Outcome> {
    let started = tokio::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..count {
        tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / rate)).await;
        let (client, target) = (client.clone(), target.clone());
        requests.spawn(async move {
            let outcome = tokio::time::timeout(timeout, call(&client, &target))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())));
            (i, outcome)
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = requests.join_all().await;
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// The `p`-th percentile (0–100) of unsorted microseconds, in milliseconds.
pub(crate) fn percentile_ms(values: &mut [u64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)] as f64 / 1000.0
}

/// Starts `count` requests at once, each bounded by `timeout`; they run until answered.
pub(crate) fn fire(
    client: &reqwest::Client,
    target: &Target,
    count: usize,
    timeout: Duration,
) -> tokio::task::JoinSet<Outcome> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (client, target) = (client.clone(), target.clone());
        set.spawn(async move {
            tokio::time::timeout(timeout, call(&client, &target))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
        });
    }
    set
}
