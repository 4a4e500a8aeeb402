//! The cases: throughput against the mock directly and through ArtGen (alternating), memory
//! while slow calls wait and when large answers land together, and the PRD burst.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::load::{self, percentile_ms, Run, Target};
use crate::mock::{Answer, Mock};
use crate::server::{BareProxy, Options, Server};

/// How long each measurement runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Per side and round.
    pub(crate) per_side: Duration,
    /// Untimed, per side, before the rounds.
    pub(crate) warmup: Duration,
    /// Rounds of direct-then-ArtGen (odd rounds ArtGen first).
    pub(crate) rounds: usize,
    /// Requests of the memory cases.
    pub(crate) crowd: usize,
    /// Burst: requests per second and seconds.
    pub(crate) burst_rate: f64,
    pub(crate) burst_secs: f64,
    /// Scales the burst's upstream latencies (1 normally; smaller for `--smoke`).
    pub(crate) latency_scale: f64,
}

/// A throughput cell: an answer size at a concurrency.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell {
    pub(crate) answer: Answer,
    pub(crate) concurrency: usize,
}

impl Cell {
    pub(crate) fn name(self) -> String {
        let size = match self.answer {
            Answer::Small => "small",
            Answer::Large => "large",
        };
        format!("{size}-{}", self.concurrency)
    }

    /// The target, as text, and whether `result` meets it.
    pub(crate) fn judge(self, result: &CellResult) -> (String, bool) {
        let (ratio_min, added_max_ms) = match self.answer {
            Answer::Small => (0.40, 0.15),
            Answer::Large => (0.30, 3.0),
        };
        if self.concurrency == 1 {
            let added = result.added_ms(50.0);
            (
                format!("added p50 <= {added_max_ms} ms"),
                added <= added_max_ms,
            )
        } else {
            (
                format!("ratio >= {:.0}%", ratio_min * 100.0),
                result.ratio() >= ratio_min,
            )
        }
    }
}

/// Both sides of a cell, rounds pooled; the bare proxy's and another artgen binary's, when
/// they are measured.
#[derive(Debug, Clone)]
pub(crate) struct CellResult {
    pub(crate) direct: Run,
    pub(crate) artgen: Run,
    pub(crate) bare: Option<Run>,
    pub(crate) versus: Option<Run>,
}

impl CellResult {
    pub(crate) fn ratio(&self) -> f64 {
        self.artgen.per_second() / self.direct.per_second().max(1e-9)
    }

    /// ArtGen's `p`-th percentile latency minus the mock's, milliseconds.
    pub(crate) fn added_ms(&self, p: f64) -> f64 {
        self.added_by(&self.artgen, p)
    }

    /// `side`'s `p`-th percentile latency minus the mock's, milliseconds.
    pub(crate) fn added_by(&self, side: &Run, p: f64) -> f64 {
        let mut a = side.latencies_us.clone();
        let mut d = self.direct.latencies_us.clone();
        percentile_ms(&mut a, p) - percentile_ms(&mut d, p)
    }
}

/// The servers a throughput cell measures besides the mock itself.
#[derive(Clone, Copy)]
pub(crate) struct Sides<'a> {
    /// ArtGen.
    pub(crate) server: &'a Server,
    /// The bare proxy: the floor of any proxy on ArtGen's HTTP stack.
    pub(crate) bare: Option<&'a BareProxy>,
    /// Another artgen binary (before/after a change).
    pub(crate) versus: Option<&'a Server>,
}

/// Measures one cell: a warm-up of each side, then `rounds` rounds, the order of the sides
/// rotating from round to round. The bare proxy and `versus` are further sides.
pub(crate) async fn throughput(
    mock: &Mock,
    mock_addr: SocketAddr,
    servers: Sides<'_>,
    plan: Plan,
    cell: Cell,
) -> CellResult {
    mock.set(cell.answer, Duration::ZERO);
    let client = load::client(cell.concurrency);
    let server = servers.server;
    let mut sides = vec![
        Target::direct(mock_addr),
        Target::artgen(server.addr, &server.key),
    ];
    let bare_at = servers.bare.map(|bare| {
        sides.push(Target::bare(bare.addr));
        sides.len() - 1
    });
    let versus_at = servers.versus.map(|other| {
        sides.push(Target::artgen(other.addr, &other.key));
        sides.len() - 1
    });
    let c = cell.concurrency;
    for side in &sides {
        load::closed_loop(&client, side, c, plan.warmup).await;
    }
    let mut runs = vec![Run::default(); sides.len()];
    for round in 0..plan.rounds {
        for step in 0..sides.len() {
            let i = (round + step) % sides.len();
            runs[i].absorb(load::closed_loop(&client, &sides[i], c, plan.per_side).await);
        }
    }
    let mut take = |at: Option<usize>| at.map(|i| std::mem::take(&mut runs[i]));
    let (bare, versus) = (take(bare_at), take(versus_at));
    CellResult {
        direct: std::mem::take(&mut runs[0]),
        artgen: std::mem::take(&mut runs[1]),
        bare,
        versus,
    }
}

/// Memory of the server while `crowd` requests wait on a slow upstream.
#[derive(Debug, Clone)]
pub(crate) struct WaitResult {
    pub(crate) crowd: usize,
    pub(crate) idle_rss: u64,
    pub(crate) waiting_rss: u64,
    /// Requests waiting at the mock when RSS was read (the rest queue in ArtGen).
    pub(crate) at_upstream: usize,
    pub(crate) answered: usize,
}

impl WaitResult {
    pub(crate) fn per_request(&self) -> f64 {
        self.waiting_rss.saturating_sub(self.idle_rss) as f64 / self.crowd.max(1) as f64
    }
}

/// Warms a fresh server up with `answer`s so that its idle RSS includes what any request
/// allocates once (threads, pools, caches).
async fn warm_up(mock: &Mock, server: &Server, answer: Answer) {
    mock.set(answer, Duration::ZERO);
    let client = load::client(16);
    let through = Target::artgen(server.addr, &server.key);
    load::closed_loop(&client, &through, 16, Duration::from_millis(800)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Waits until `count()` has not grown for `quiet`, at most `limit`.
async fn settle(count: impl Fn() -> usize, quiet: Duration, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    let mut last = count();
    let mut since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = count();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            break;
        }
    }
    last
}

/// `crowd` requests to an upstream that takes 30 s; RSS once they all wait (ArtGen admits up
/// to its in-flight limit to the upstream and queues the rest); then the mock is released.
pub(crate) async fn slow_wait(
    mock: &Mock,
    mock_addr: SocketAddr,
    binary: &std::path::Path,
    plan: Plan,
) -> WaitResult {
    let server = Server::start(
        binary,
        mock_addr,
        Options {
            fixed_in_flight: None,
        },
    );
    warm_up(mock, &server, Answer::Small).await;
    let idle_rss = server.memory().rss;
    mock.set(Answer::Small, Duration::from_secs(30));
    let client = load::client(plan.crowd);
    let through = Target::artgen(server.addr, &server.key);
    let mut requests = load::fire(&client, &through, plan.crowd, Duration::from_secs(120));
    let at_upstream = settle(
        || mock.waiting(),
        Duration::from_secs(2),
        Duration::from_secs(25),
    )
    .await;
    // Every request is in: the connections, the handlers, the queue and the upstream calls.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut samples: Vec<u64> = Vec::new();
    for _ in 0..5 {
        samples.push(server.memory().rss);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    samples.sort_unstable();
    let waiting_rss = samples[samples.len() / 2];
    mock.release_all();
    let mut answered = 0;
    while let Some(outcome) = requests.join_next().await {
        answered += usize::from(matches!(outcome, Ok(Ok(_))));
    }
    WaitResult {
        crowd: plan.crowd,
        idle_rss,
        waiting_rss,
        at_upstream,
        answered,
    }
}

/// Peak memory when `crowd` large answers land at once.
#[derive(Debug, Clone)]
pub(crate) struct PeakResult {
    pub(crate) crowd: usize,
    pub(crate) idle_rss: u64,
    pub(crate) peak: u64,
    pub(crate) released: usize,
    /// RSS once every answer is in.
    pub(crate) after_rss: u64,
    pub(crate) answered: usize,
    pub(crate) first_error: Option<String>,
    pub(crate) landing: Duration,
}

/// `crowd` requests held by the mock until all `crowd` wait there (ArtGen's admission limit is
/// lifted to let them all through), then released together with large answers.
pub(crate) async fn peak_landing(
    mock: &Mock,
    mock_addr: SocketAddr,
    binary: &std::path::Path,
    plan: Plan,
) -> PeakResult {
    let in_flight = u32::try_from(plan.crowd).unwrap_or(u32::MAX).max(4);
    let server = Server::start(
        binary,
        mock_addr,
        Options {
            fixed_in_flight: Some(in_flight),
        },
    );
    warm_up(mock, &server, Answer::Large).await;
    let idle_rss = server.memory().rss;
    mock.set(Answer::Large, Duration::ZERO);
    mock.hold_until(plan.crowd);
    server.reset_peak();
    let client = load::client(plan.crowd);
    let through = Target::artgen(server.addr, &server.key);
    let started = Instant::now();
    let mut requests = load::fire(&client, &through, plan.crowd, Duration::from_secs(180));
    let mut answered = 0;
    let mut first_error = None;
    while let Some(outcome) = requests.join_next().await {
        match outcome {
            Ok(Ok(_)) => answered += 1,
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let landing = started.elapsed();
    let after = server.memory();
    let peak = after.hwm;
    mock.release_all();
    PeakResult {
        crowd: plan.crowd,
        idle_rss,
        peak,
        released: mock.peak_waiting(),
        after_rss: after.rss,
        answered,
        first_error,
        landing,
    }
}

/// The PRD burst against an upstream taking `latency`.
#[derive(Debug, Clone)]
pub(crate) struct BurstResult {
    pub(crate) latency: Duration,
    pub(crate) sent: usize,
    pub(crate) ok: usize,
    /// Requests that got no HTTP answer at all.
    pub(crate) lost: usize,
    pub(crate) first_error: Option<String>,
    /// ArtGen's own time (latency minus the upstream's), milliseconds.
    pub(crate) added_p50_ms: f64,
    pub(crate) added_p95_ms: f64,
    pub(crate) added_max_ms: f64,
}

/// `burst_rate` requests a second for `burst_secs` against a mock that takes `latency`, with
/// large answers.
pub(crate) async fn burst(
    mock: &Mock,
    mock_addr: SocketAddr,
    binary: &std::path::Path,
    plan: Plan,
    latency: Duration,
) -> BurstResult {
    let server = Server::start(
        binary,
        mock_addr,
        Options {
            fixed_in_flight: None,
        },
    );
    warm_up(mock, &server, Answer::Large).await;
    mock.set(Answer::Large, latency);
    let count = (plan.burst_rate * plan.burst_secs).round() as usize;
    let client = load::client(count);
    let through = Target::artgen(server.addr, &server.key);
    let timeout = latency + Duration::from_secs(120);
    let outcomes = load::open_loop(&client, &through, plan.burst_rate, count, timeout).await;
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    let mut added: Vec<u64> = Vec::new();
    let (mut lost, mut first_error) = (0, None);
    for outcome in &outcomes {
        match outcome {
            Ok((took, _)) => {
                added.push(
                    u64::try_from(took.as_micros())
                        .unwrap_or(u64::MAX)
                        .saturating_sub(latency_us),
                );
            }
            Err(e) => {
                lost += usize::from(!e.starts_with("status"));
                first_error.get_or_insert_with(|| e.clone());
            }
        }
    }
    let ok = added.len();
    let added_max_ms = added.iter().copied().max().unwrap_or(0) as f64 / 1000.0;
    BurstResult {
        latency,
        sent: outcomes.len(),
        ok,
        lost,
        first_error,
        added_p50_ms: percentile_ms(&mut added, 50.0),
        added_p95_ms: percentile_ms(&mut added, 95.0),
        added_max_ms,
    }
}
