//! The printed table and the machine line.

use std::fmt;

use crate::cases::{BurstResult, Cell, CellResult, PeakResult, WaitResult};

const MIB: f64 = 1024.0 * 1024.0;

/// One judged row.
struct Row {
    cells: Vec<String>,
    pass: bool,
}

/// Throughput rows and the memory and burst rows, each with its target and verdict.
#[derive(Default)]
pub(crate) struct Table {
    throughput: Vec<Row>,
    bare: Vec<Vec<String>>,
    versus: Vec<Vec<String>>,
    others: Vec<Row>,
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}

impl Table {
    pub(crate) fn cell(&mut self, cell: Cell, result: &CellResult) {
        let (target, pass) = cell.judge(result);
        let errors = result.direct.errors + result.artgen.errors;
        let mut name = format!("{} answers, c={}", cell.answer.label(), cell.concurrency);
        if errors > 0 {
            let first = result
                .artgen
                .first_error
                .as_deref()
                .or(result.direct.first_error.as_deref())
                .unwrap_or("");
            name.push_str(&format!(" ({errors} errors: {first})"));
        }
        self.throughput.push(Row {
            cells: vec![
                name,
                format!("{:.0}", result.direct.per_second()),
                format!("{:.0}", result.artgen.per_second()),
                format!("{:.0}%", result.ratio() * 100.0),
                format!("{:.3} ms", result.added_ms(50.0)),
                format!("{:.3} ms", result.added_ms(99.0)),
                target,
            ],
            pass: pass && errors == 0,
        });
        if let Some(bare) = &result.bare {
            self.bare.push(vec![
                format!("{} answers, c={}", cell.answer.label(), cell.concurrency),
                format!("{:.0}", bare.per_second()),
                format!(
                    "{:.0}%",
                    bare.per_second() / result.direct.per_second().max(1e-9) * 100.0
                ),
                format!("{:.3} ms", result.added_by(bare, 50.0)),
                format!(
                    "{:.2}",
                    result.artgen.per_second() / bare.per_second().max(1e-9)
                ),
            ]);
        }
        if let Some(versus) = &result.versus {
            self.versus.push(vec![
                format!("{} answers, c={}", cell.answer.label(), cell.concurrency),
                format!("{:.0}", versus.per_second()),
                format!("{:.0}", result.artgen.per_second()),
                format!(
                    "{:.2}x",
                    result.artgen.per_second() / versus.per_second().max(1e-9)
                ),
            ]);
        }
    }

    pub(crate) fn wait(&mut self, r: &WaitResult) {
        let per = r.per_request();
        self.others.push(Row {
            cells: vec![
                format!("{} requests waiting on a 30 s upstream", r.crowd),
                format!(
                    "{:.1} KiB RSS per waiting request (idle {:.1} MiB, waiting {:.1} MiB; {} at the upstream, the rest queued; {} answered after release)",
                    per / 1024.0,
                    r.idle_rss as f64 / MIB,
                    r.waiting_rss as f64 / MIB,
                    r.at_upstream,
                    r.answered,
                ),
                "<= 64 KiB per request".into(),
            ],
            pass: per <= 64.0 * 1024.0 && r.answered == r.crowd,
        });
    }

    pub(crate) fn peak(&mut self, r: &PeakResult) {
        let error = r
            .first_error
            .as_deref()
            .map_or(String::new(), |e| format!("; first error: {e}"));
        self.others.push(Row {
            cells: vec![
                format!("{} large answers landing at once", r.crowd),
                format!(
                    "peak RSS (VmHWM) {:.1} MiB (idle {:.1} MiB, after {:.1} MiB; {} released together; {} answered in {:.1} s{error})",
                    r.peak as f64 / MIB,
                    r.idle_rss as f64 / MIB,
                    r.after_rss as f64 / MIB,
                    r.released,
                    r.answered,
                    r.landing.as_secs_f64(),
                ),
                "peak < 300 MiB".into(),
            ],
            pass: (r.peak as f64) < 300.0 * MIB && r.answered == r.crowd,
        });
    }

    pub(crate) fn burst(&mut self, r: &BurstResult) {
        let ok_share = r.ok as f64 / r.sent.max(1) as f64;
        let error = r
            .first_error
            .as_deref()
            .map_or(String::new(), |e| format!("; first error: {e}"));
        self.others.push(Row {
            cells: vec![
                format!(
                    "burst {} requests at 20/s, upstream {:.0} s",
                    r.sent,
                    r.latency.as_secs_f64()
                ),
                format!(
                    "{:.1}% answered 200, {} lost; ArtGen's added time p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms{error}",
                    ok_share * 100.0,
                    r.lost,
                    r.added_p50_ms,
                    r.added_p95_ms,
                    r.added_max_ms,
                ),
                ">= 99% 200, none lost, p95 added < 8 s".into(),
            ],
            pass: ok_share >= 0.99 && r.lost == 0 && r.added_p95_ms < 8000.0,
        });
    }

    pub(crate) fn judged(&self) -> usize {
        self.throughput.len() + self.others.len()
    }

    pub(crate) fn met(&self) -> usize {
        self.throughput
            .iter()
            .chain(&self.others)
            .filter(|r| r.pass)
            .count()
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.throughput.is_empty() {
            writeln!(
                f,
                "| cell | direct req/s | artgen req/s | ratio | added p50 | added p99 | target | pass/fail |"
            )?;
            writeln!(f, "|---|---:|---:|---:|---:|---:|---|---|")?;
            for row in &self.throughput {
                writeln!(f, "| {} | {} |", row.cells.join(" | "), verdict(row.pass))?;
            }
        }
        comparison(
            f,
            "| cell | bare proxy req/s | bare / direct | bare added p50 | artgen / bare |",
            &self.bare,
        )?;
        comparison(
            f,
            "| cell | IMAGE_REGIME_VERSUS req/s | artgen req/s | artgen / versus |",
            &self.versus,
        )?;
        if !self.others.is_empty() {
            writeln!(f)?;
            writeln!(f, "| case | measured | target | pass/fail |")?;
            writeln!(f, "|---|---|---|---|")?;
            for row in &self.others {
                writeln!(f, "| {} | {} |", row.cells.join(" | "), verdict(row.pass))?;
            }
        }
        Ok(())
    }
}

/// A table of unjudged rows under `header` (a Markdown header line, all columns but the first
/// right-aligned), after a blank line; nothing when there are no rows.
fn comparison(f: &mut fmt::Formatter<'_>, header: &str, rows: &[Vec<String>]) -> fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    let columns = header.matches('|').count().saturating_sub(1);
    writeln!(f)?;
    writeln!(f, "{header}")?;
    writeln!(f, "|---|{}", "---:|".repeat(columns.saturating_sub(1)))?;
    for row in rows {
        writeln!(f, "| {} |", row.join(" | "))?;
    }
    Ok(())
}

/// Processors, memory, kernel and CPU model, as `/proc` tells them.
pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown", |rest| rest.trim_start_matches([' ', '\t', ':']))
        .to_owned();
    let meminfo = read("/proc/meminfo");
    let total_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    format!(
        "machine: {cpus} processors ({model}), {:.1} GiB memory, Linux {}; {}",
        total_kib / 1024.0 / 1024.0,
        read("/proc/sys/kernel/osrelease").trim(),
        load_average(),
    )
}

/// The 1-minute load average, to judge how busy the machine was.
pub(crate) fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "load average {}",
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}
