//! The image regime: what ArtGen costs in front of a fast upstream, and what it holds in memory
//! in front of a slow one.
//!
//! - **Throughput**: a fast mock OpenAI upstream on loopback (canned small and ~1.5 MB base64
//!   answers) called directly and through the real `artgen` release binary (full pipeline: API
//!   key auth, rate limiter, usage row, image store, JSON access logs to a file, metrics), in the
//!   same run, alternating, at concurrency 1, 16 and 64: throughput ratio and added p50/p99.
//! - **Slow upstream**: RSS per request while 1,000 requests wait on a 30 s upstream; peak RSS
//!   when 1,000 large answers land at once.
//! - **Burst**: the PRD's 20 req/s for 10 s against upstreams taking 10 s and 60 s.
//!
//! Run with: cargo bench -p artgen-benches --bench image_regime
//!
//! It builds `artgen` first (`cargo build --release --bin artgen`, same target folder). Pick
//! cases by name as arguments or in `IMAGE_REGIME` (comma-separated): `small-1 small-16
//! small-64 large-1 large-16 large-64 rss-wait rss-peak burst-10 burst-60`, or the groups
//! `small large throughput rss burst`; `--smoke` runs every case shrunk to seconds.
//! `IMAGE_REGIME_SECS` (per side and round, default 2) and `IMAGE_REGIME_ROUNDS` (default 3)
//! size the throughput cells; `IMAGE_REGIME_DATA_DIR` puts the data folders elsewhere (a tmpfs
//! shows what durable writes cost); `IMAGE_REGIME_ARTGEN` runs another binary, and
//! `IMAGE_REGIME_VERSUS` adds one as a further side of every throughput cell (before/after a
//! change, in the same rounds). Every throughput cell also measures a bare proxy on ArtGen's
//! HTTP stack (`src/bin/bare_proxy.rs`: axum in, reqwest out, nothing else), the floor any
//! proxy reaches here; `IMAGE_REGIME_BARE=0` leaves it out. See docs/performance.md for results.
#![expect(clippy::print_stdout, reason = "benches print their results")]
#![expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "benchmark arithmetic on counts and durations far below 2^52"
)]

mod cases;
mod load;
mod mock;
mod report;
mod server;

use std::time::{Duration, Instant};

use cases::{Cell, Plan};
use mock::Answer;
use server::{BareProxy, Options, Server};

const CELLS: [&str; 6] = [
    "small-1", "small-16", "small-64", "large-1", "large-16", "large-64",
];
const OTHERS: [&str; 4] = ["rss-wait", "rss-peak", "burst-10", "burst-60"];

/// The cases asked for: arguments (cargo adds `--bench`), else `IMAGE_REGIME`, else all.
fn selection(args: &[String]) -> Vec<&'static str> {
    let mut words: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    if words.is_empty() {
        if let Ok(env) = std::env::var("IMAGE_REGIME") {
            words = env.split(',').map(|w| w.trim().to_owned()).collect();
        }
    }
    words.retain(|w| !w.is_empty());
    let all: Vec<&'static str> = CELLS.iter().chain(OTHERS.iter()).copied().collect();
    if words.is_empty() {
        return all;
    }
    all.into_iter()
        .filter(|case| {
            words.iter().any(|w| {
                w == case
                    || (w == "throughput" && CELLS.contains(case))
                    || (w == "rss" && case.starts_with("rss"))
                    || (w == "burst" && case.starts_with("burst"))
                    || case
                        .strip_prefix(w.as_str())
                        .is_some_and(|r| r.starts_with('-'))
            })
        })
        .collect()
}

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .unwrap_or(default)
}

fn plan(smoke: bool) -> Plan {
    if smoke {
        return Plan {
            per_side: Duration::from_millis(300),
            warmup: Duration::from_millis(100),
            rounds: 1,
            crowd: 100,
            burst_rate: 20.0,
            burst_secs: 1.0,
            latency_scale: 0.1,
        };
    }
    Plan {
        per_side: Duration::from_secs_f64(env_number("IMAGE_REGIME_SECS", 2.0).min(60.0)),
        warmup: Duration::from_millis(500),
        rounds: env_number("IMAGE_REGIME_ROUNDS", 3.0).min(20.0) as usize,
        crowd: 1_000,
        burst_rate: 20.0,
        burst_secs: 10.0,
        latency_scale: 1.0,
    }
}

fn cell(name: &str) -> Option<Cell> {
    let (size, c) = name.split_once('-')?;
    let answer = match size {
        "small" => Answer::Small,
        "large" => Answer::Large,
        _ => return None,
    };
    Some(Cell {
        answer,
        concurrency: c.parse().ok()?,
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let chosen = selection(&args);
    let plan = plan(smoke);
    let started = Instant::now();
    let binary = server::binary();
    let (mock, mock_addr) = mock::start().await;
    println!("{}", report::machine());
    println!(
        "image_regime{}: mock answers: small = {} B of base64, large = {} B of base64; \
         {} s per side x {} rounds per cell",
        if smoke { " --smoke" } else { "" },
        mock.b64_len(Answer::Small),
        mock.b64_len(Answer::Large),
        plan.per_side.as_secs_f64(),
        plan.rounds,
    );

    let mut table = report::Table::default();
    let cells: Vec<Cell> = chosen.iter().filter_map(|name| cell(name)).collect();
    if !cells.is_empty() {
        let defaults = Options {
            fixed_in_flight: None,
        };
        let server = Server::start(&binary, mock_addr, defaults);
        println!("throughput: artgen pid {} on {}", server.pid, server.addr);
        // The floor of any proxy on the same HTTP stack, unless IMAGE_REGIME_BARE=0.
        let bare = (std::env::var("IMAGE_REGIME_BARE").as_deref() != Ok("0"))
            .then(|| BareProxy::start(mock_addr));
        // Another build to compare with, measured as a further side in the same rounds.
        let versus = std::env::var_os("IMAGE_REGIME_VERSUS")
            .map(|path| Server::start(std::path::Path::new(&path), mock_addr, defaults));
        let sides = cases::Sides {
            server: &server,
            bare: bare.as_ref(),
            versus: versus.as_ref(),
        };
        for cell in cells {
            let result = cases::throughput(&mock, mock_addr, sides, plan, cell).await;
            let expected = mock.b64_len(cell.answer);
            if result.artgen.min_len < expected || result.direct.min_len < expected {
                println!(
                    "warning: {} answers shorter than the image's base64",
                    cell.name()
                );
            }
            table.cell(cell, &result);
        }
    }
    if chosen.contains(&"rss-wait") {
        table.wait(&cases::slow_wait(&mock, mock_addr, &binary, plan).await);
    }
    if chosen.contains(&"rss-peak") {
        table.peak(&cases::peak_landing(&mock, mock_addr, &binary, plan).await);
    }
    for (name, secs) in [("burst-10", 10.0), ("burst-60", 60.0)] {
        if chosen.contains(&name) {
            let latency = Duration::from_secs_f64(secs * plan.latency_scale);
            table.burst(&cases::burst(&mock, mock_addr, &binary, plan, latency).await);
        }
    }
    println!("{table}");
    println!(
        "image_regime: {} of {} targets met in {:.0} s; {}",
        table.met(),
        table.judged(),
        started.elapsed().as_secs_f64(),
        report::load_average(),
    );
}
