//! # artgen-benches
//!
//! Benchmarks of ArtGen's hot paths, reported as **ratios against a baseline measured in the same
//! run**, never as absolute times checked against a threshold: a shared 2-core CI machine is
//! slower or faster from one run to the next, but a ratio between two things measured seconds
//! apart on the same machine is stable.
//!
//! ## Running
//!
//! ```text
//! cargo bench -p artgen-benches                     # every bench
//! cargo bench -p artgen-benches --bench validation  # one of them
//! ```
//!
//! The benches are plain `harness = false` binaries (no criterion, to keep the build lean) that
//! use the timing helper of this crate and print one table each; the whole set runs in well
//! under a minute once built, except `image_regime`, which runs the real server for a few
//! minutes. Each table shows, per row, the median ns/op over several samples,
//! the spread of the samples (min–max, to judge the noise), and the ratio to the baseline row.
//!
//! ## Targets
//!
//! | Bench | Baseline | Measured | Reading |
//! |---|---|---|---|
//! | `validation` | `serde_json::from_str::<GenerateBody>` of a typical request body, into `GenerateParams` | parse + `GenerateParams::validate(&catalog)` | Validation should cost less than parsing: ratio **< 2.0** (prints PASS/FAIL, never panics) |
//! | `pricing` | a trivial sum over the same request list | `Pricing::estimate`, `Pricing::settle`, and both (what the service does per request), per request | Informational: ns per request and how many trivial sums one estimate is worth |
//! | `gateway` | the mock provider's `run` for a 256x256 PNG | `POST /generate` through the real router on loopback (auth, validation, limits, decorators, image stored, usage row, answer) | Gateway overhead: target **< 10x** one mock render (a few ms, noise next to a real upstream call); then a burst at concurrency 20 reports req/s and p95 against the PRD's 20 req/s and P95 < 8 s |
//! | `mock_render` | `render` of a 256x256 PNG | `render` of a 1024x1024 PNG, WebP and JPEG | How the mock provider's cost scales with size and format (16x the pixels), i.e. what large images cost the test suites |
//! | `image_regime` | a fast mock OpenAI upstream on loopback, called directly | the real `artgen` release binary in front of it, alternating with direct calls, at concurrency 1/16/64 with small and ~1.5 MB answers; RSS while 1,000 requests wait and when 1,000 large answers land; the PRD burst | The issue's capacity targets, PASS/FAIL per row; several minutes, `--smoke` for seconds. Results and how to read them: `docs/performance.md` |
//! | `usage_summaries` | `count(*)` over one month of a seeded Postgres `usage` table (10M rows; needs `ARTGEN_TEST_DATABASE_URL`) | `UsageStore::summarize` by user, org, model and day over that month, one user's summary, keyset pages (first and 11th) | How much a summary or page costs against scanning the month; prints `EXPLAIN (ANALYZE, BUFFERS)` of each. Results: `docs/performance.md` |
//!
//! ## The helper
//!
//! ```
//! use artgen_benches::{measure, Comparison, Plan};
//!
//! let plan = Plan::new(1_000, 5).with_warmup(100);
//! let baseline = measure("sum", plan, || (0..64u64).sum::<u64>());
//! let measured = measure("sum of squares", plan, || (0..64u64).map(|x| x * x).sum::<u64>());
//! let table = Comparison::new("example", baseline).with(measured);
//! assert!(table.to_string().contains("sum of squares"));
//! ```

use std::fmt;
use std::hint::black_box;
use std::time::Instant;

/// How often to run the closure under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Untimed calls before the first sample (caches, branch predictors, allocator).
    pub warmup: u32,
    /// Calls per timed sample.
    pub iterations: u32,
    /// Timed samples; the median is reported.
    pub samples: u32,
}

impl Plan {
    /// `samples` samples of `iterations` calls each, after a warm-up of one sample's worth.
    pub const fn new(iterations: u32, samples: u32) -> Self {
        Self {
            warmup: iterations,
            iterations,
            samples,
        }
    }

    /// Sets the number of untimed warm-up calls.
    #[must_use]
    pub const fn with_warmup(mut self, warmup: u32) -> Self {
        self.warmup = warmup;
        self
    }
}

/// The timing of one closure.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// What was measured.
    pub label: String,
    /// Median nanoseconds per call over the samples.
    pub ns_per_op: f64,
    /// Fastest sample, ns per call.
    pub min_ns: f64,
    /// Slowest sample, ns per call.
    pub max_ns: f64,
}

impl Measurement {
    /// This measurement divided by another's (how many baselines one call costs).
    pub fn ratio_to(&self, baseline: &Measurement) -> f64 {
        self.ns_per_op / baseline.ns_per_op.max(f64::MIN_POSITIVE)
    }

    /// The same measurement per item, for a closure that processes `items` items per call.
    #[must_use]
    pub fn per_item(mut self, items: usize) -> Self {
        #[expect(
            clippy::cast_precision_loss,
            reason = "item counts of a benchmark are far below 2^52"
        )]
        let items = items.max(1) as f64;
        self.ns_per_op /= items;
        self.min_ns /= items;
        self.max_ns /= items;
        self
    }
}

/// Runs `op` `plan.warmup` times untimed, then `plan.samples` times `plan.iterations` times,
/// timing each sample, and reports the median time per call. The result of every call goes
/// through [`black_box`] so that the work is not optimised away; closures should likewise read
/// their inputs through `black_box`.
pub fn measure<T>(label: &str, plan: Plan, mut op: impl FnMut() -> T) -> Measurement {
    for _ in 0..plan.warmup {
        black_box(op());
    }
    let iterations = plan.iterations.max(1);
    let mut samples: Vec<f64> = (0..plan.samples.max(1))
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                black_box(op());
            }
            #[expect(
                clippy::cast_precision_loss,
                reason = "a sample's nanoseconds are far below 2^52"
            )]
            let elapsed = started.elapsed().as_nanos() as f64;
            elapsed / f64::from(iterations)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    let median = if samples.len().is_multiple_of(2) {
        (samples[mid - 1] + samples[mid]) / 2.0
    } else {
        samples[mid]
    };
    Measurement {
        label: label.to_owned(),
        ns_per_op: median,
        min_ns: samples[0],
        max_ns: samples[samples.len() - 1],
    }
}

/// A limit on a ratio, judged PASS or FAIL (reported, never enforced by panicking).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// The row the target applies to.
    pub row: usize,
    /// The ratio the row must stay below.
    pub max_ratio: f64,
}

/// A baseline and the rows measured against it, printed as a table by its [`Display`](fmt::Display).
#[derive(Debug, Clone)]
pub struct Comparison {
    title: String,
    baseline: Measurement,
    rows: Vec<Measurement>,
    targets: Vec<Target>,
}

impl Comparison {
    /// A comparison against `baseline`.
    pub fn new(title: &str, baseline: Measurement) -> Self {
        Self {
            title: title.to_owned(),
            baseline,
            rows: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Adds a measured row.
    #[must_use]
    pub fn with(mut self, row: Measurement) -> Self {
        self.rows.push(row);
        self
    }

    /// Adds a measured row whose ratio to the baseline must stay below `max_ratio`.
    #[must_use]
    pub fn with_target(mut self, row: Measurement, max_ratio: f64) -> Self {
        self.targets.push(Target {
            row: self.rows.len(),
            max_ratio,
        });
        self.rows.push(row);
        self
    }

    /// Each measured row's ratio to the baseline, in order.
    pub fn ratios(&self) -> Vec<f64> {
        self.rows
            .iter()
            .map(|row| row.ratio_to(&self.baseline))
            .collect()
    }

    /// Whether every target is met.
    pub fn passed(&self) -> bool {
        let ratios = self.ratios();
        self.targets
            .iter()
            .all(|t| ratios.get(t.row).is_some_and(|r| *r < t.max_ratio))
    }
}

fn write_row(
    f: &mut fmt::Formatter<'_>,
    row: &Measurement,
    ratio: f64,
    verdict: &str,
) -> fmt::Result {
    writeln!(
        f,
        "  {:<44} {:>12.1} ns/op  ({:>10.1} – {:>10.1})  {:>7.2}x{verdict}",
        row.label, row.ns_per_op, row.min_ns, row.max_ns, ratio
    )
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.title)?;
        writeln!(
            f,
            "  {:<44} {:>18}  {:>27}  {:>8}",
            "", "median", "min – max", "ratio"
        )?;
        write_row(f, &self.baseline, 1.0, "  (baseline)")?;
        for (i, (row, ratio)) in self.rows.iter().zip(self.ratios()).enumerate() {
            let verdict = match self.targets.iter().find(|t| t.row == i) {
                Some(t) if ratio < t.max_ratio => format!("  PASS (target < {:.1}x)", t.max_ratio),
                Some(t) => format!("  FAIL (target < {:.1}x)", t.max_ratio),
                None => String::new(),
            };
            write_row(f, row, ratio, &verdict)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(label: &str, ns: f64) -> Measurement {
        Measurement {
            label: label.into(),
            ns_per_op: ns,
            min_ns: ns,
            max_ns: ns,
        }
    }

    #[test]
    fn ratio_divides_by_the_baseline() {
        assert!((fixed("a", 30.0).ratio_to(&fixed("b", 10.0)) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn per_item_divides_every_figure() {
        let m = fixed("batch", 1000.0).per_item(100);
        assert!((m.ns_per_op - 10.0).abs() < 1e-9);
        assert!((m.max_ns - 10.0).abs() < 1e-9);
    }

    #[test]
    fn targets_are_judged_on_their_own_row() {
        let table = Comparison::new("t", fixed("base", 10.0))
            .with(fixed("slow but untargeted", 100.0))
            .with_target(fixed("fast", 15.0), 2.0);
        assert!(table.passed());
        assert!(table.to_string().contains("PASS"));

        let failing =
            Comparison::new("t", fixed("base", 10.0)).with_target(fixed("slow", 25.0), 2.0);
        assert!(!failing.passed());
        assert!(failing.to_string().contains("FAIL"));
    }

    #[test]
    fn measure_reports_the_median_of_ordered_samples() {
        let m = measure("noop", Plan::new(10, 3).with_warmup(0), || 1 + 1);
        assert!(m.min_ns <= m.ns_per_op && m.ns_per_op <= m.max_ns);
        assert_eq!(m.label, "noop");
    }
}
