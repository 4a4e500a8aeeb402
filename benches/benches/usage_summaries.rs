//! Usage summaries and keyset pages on Postgres over a seeded table of 10 million rows.
//!
//! Seeds a fresh schema server-side (`INSERT … SELECT generate_series`, one statement per
//! million rows) with rows spread evenly over January to March 2026 (1,000 users in 50
//! organisations, 4 models, 1 in 20 failed), then times, through the `UsageStore` port, the
//! summaries by user, organisation, model and day over February, one user's summary, and
//! pages of listings. Baseline: a plain `count(*)` over the same month, measured in the same
//! run; every row is reported as a ratio to it. Prints `EXPLAIN (ANALYZE, BUFFERS)` of every
//! query measured, and drops the schema at the end.
//!
//! The seed writes `usage` only, not `usage_request_ids` (the uniqueness claim of writes,
//! which no read touches).
//!
//! Run with: ARTGEN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench -p artgen-benches --bench usage_summaries
//! (`USAGE_BENCH_ROWS=1000000` for a smaller table.)
#![expect(clippy::print_stdout, reason = "benches print their results")]

use std::future::Future;
use std::time::{Duration, Instant};

use artgen_core::domain::{UsageCursor, UsageGroupBy, UsageQuery, UsageSummaryQuery};
use artgen_core::ports::UsageStore;
use artgen_store::{PostgresConfig, PostgresStore};

/// 2026-01-01T00:00:00Z, 2026-02-01, 2026-03-01 and 2026-04-01 in Unix ms.
const JAN_1: i64 = 1_767_225_600_000;
const FEB_1: i64 = 1_769_904_000_000;
const MAR_1: i64 = 1_772_323_200_000;
const APR_1: i64 = 1_775_001_600_000;

/// Rows per seeding statement.
const CHUNK: i64 = 1_000_000;

/// Timed runs per query (after one untimed run); the median is reported.
const SAMPLES: usize = 5;

/// One seeding statement: rows `$1..=$2`, the i-th at `JAN_1 + i * $3` ms.
const SEED: &str = "INSERT INTO usage (request_id, user_id, org, operation, model, provider, n, \
    size, quality, status, error_code, images, input_text_tokens, input_image_tokens, \
    output_image_tokens, output_text_tokens, svg_input_tokens, svg_output_tokens, \
    estimated_cost_micros, cost_micros, latency_ms, upstream_latency_ms, prompt, \
    created_at_ms, unpriced) \
    SELECT 'req_' || lpad(i::text, 10, '0'), 'user_' || (i * 7919 % 1000), \
    'org_' || (i * 7919 % 1000 % 50), 'generate', \
    (ARRAY['gpt-image-1', 'gpt-image-1-mini', 'dall-e-3', 'dall-e-2'])[1 + i % 4], 'openai', \
    1, '1024x1024', 'medium', \
    CASE WHEN i % 20 = 0 THEN 'failed' ELSE 'succeeded' END, \
    CASE WHEN i % 20 = 0 THEN 'upstream_failed' END, \
    CASE WHEN i % 20 = 0 THEN 0 ELSE 1 END, 12, 0, 4160, 0, 0, 0, 42000, \
    CASE WHEN i % 20 = 0 THEN 0 ELSE 41000 + i % 1000 END, 9000, 8800, \
    'a lighthouse in a storm', 1767225600000 + i * $3, false \
    FROM generate_series($1::bigint, $2::bigint) AS i";

struct Row {
    name: &'static str,
    median: Duration,
    min: Duration,
    max: Duration,
}

async fn time<F, Fut>(name: &'static str, mut run: F) -> Row
where
    F: FnMut() -> Fut,
    Fut: Future<Output = usize>,
{
    run().await;
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        std::hint::black_box(run().await);
        samples.push(start.elapsed());
    }
    samples.sort();
    Row {
        name,
        median: samples[SAMPLES / 2],
        min: samples[0],
        max: samples[SAMPLES - 1],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn summary(group_by: UsageGroupBy, user: Option<&str>) -> UsageSummaryQuery {
    UsageSummaryQuery {
        group_by,
        from_ms: FEB_1,
        to_ms: MAR_1,
        user: user.map(str::to_owned),
    }
}

fn page(user: Option<&str>, after: Option<UsageCursor>) -> UsageQuery {
    UsageQuery {
        user: user.map(str::to_owned),
        limit: Some(100),
        after,
        ..Default::default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(url) = std::env::var("ARTGEN_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("usage_summaries: skipped; set ARTGEN_TEST_DATABASE_URL to a Postgres database");
        return;
    };
    let rows: i64 = std::env::var("USAGE_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let schema = format!("artgen_bench_{:016x}", fastrand::u64(..));
    let store = PostgresStore::connect(
        &PostgresConfig::new(url)
            .with_schema(schema.clone())
            .with_max_connections(2),
    )
    .await
    .expect("the database accepts connections");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(store.pool())
        .await
        .expect("schema created");
    store.migrate().await.expect("migrations apply");
    let pool = store.pool();
    for month in [JAN_1, FEB_1, MAR_1] {
        sqlx::query("SELECT artgen_ensure_usage_partition($1)")
            .bind(month)
            .execute(pool)
            .await
            .expect("partition created");
    }

    let step = (APR_1 - JAN_1) / rows;
    let seeding = Instant::now();
    let mut lo = 0;
    while lo < rows {
        let hi = (lo + CHUNK).min(rows) - 1;
        sqlx::query(SEED)
            .bind(lo)
            .bind(hi)
            .bind(step)
            .execute(pool)
            .await
            .expect("seed chunk inserted");
        lo = hi + 1;
        println!(
            "seeded {lo} rows in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );
    }
    let seeded = seeding.elapsed();
    let vacuum = Instant::now();
    sqlx::query("VACUUM (ANALYZE) usage")
        .execute(pool)
        .await
        .expect("vacuum runs");
    println!(
        "seeded {rows} rows in {:.1} s; VACUUM (ANALYZE) {:.1} s",
        seeded.as_secs_f64(),
        vacuum.elapsed().as_secs_f64()
    );
    let february: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM usage WHERE created_at_ms >= $1 AND created_at_ms < $2",
    )
    .bind(FEB_1)
    .bind(MAR_1)
    .fetch_one(pool)
    .await
    .expect("count runs");
    println!("February holds {february} rows\n");

    let user = Some("user_42");
    let deep = {
        let mut after = None;
        for _ in 0..10 {
            let rows = store.list(&page(user, after)).await.expect("page");
            after = rows.last().map(UsageCursor::after);
        }
        after
    };

    let baseline = time("count(*) over February (baseline)", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM usage WHERE created_at_ms >= $1 AND created_at_ms < $2",
        )
        .bind(FEB_1)
        .bind(MAR_1)
        .fetch_one(pool)
        .await
        .expect("count runs");
        usize::try_from(n).unwrap_or(0)
    })
    .await;
    let summaries = [
        (
            "summary by user, February",
            summary(UsageGroupBy::User, None),
        ),
        ("summary by org, February", summary(UsageGroupBy::Org, None)),
        (
            "summary by model, February",
            summary(UsageGroupBy::Model, None),
        ),
        ("summary by day, February", summary(UsageGroupBy::Day, None)),
        (
            "one user's summary by model",
            summary(UsageGroupBy::Model, user),
        ),
    ];
    let pages = [
        ("one user's first page (100)", page(user, None)),
        ("one user's 11th page (cursor)", page(user, deep)),
        ("everyone's first page (100)", page(None, None)),
    ];
    let mut measured = Vec::new();
    for (name, query) in &summaries {
        let row = time(name, || async {
            store.summarize(query).await.expect("summary runs").len()
        })
        .await;
        measured.push(row);
    }
    for (name, query) in &pages {
        let row = time(name, || async {
            store.list(query).await.expect("page").len()
        })
        .await;
        measured.push(row);
    }

    println!("usage_summaries: {rows} rows, median of {SAMPLES} runs, ratio to the baseline");
    println!(
        "{:<36} {:>10} {:>20} {:>8}",
        "query", "ms", "min–max ms", "ratio"
    );
    for row in std::iter::once(&baseline).chain(&measured) {
        println!(
            "{:<36} {:>10.2} {:>20} {:>8.3}",
            row.name,
            ms(row.median),
            format!("{:.2}–{:.2}", ms(row.min), ms(row.max)),
            row.median.as_secs_f64() / baseline.median.as_secs_f64()
        );
    }
    for (name, query) in &summaries {
        let plan = store.explain_summary(query).await.expect("explain runs");
        println!("\n-- {name}\n{plan}");
    }
    for (name, query) in &pages {
        let plan = store.explain_list(query).await.expect("explain runs");
        println!("\n-- {name}\n{plan}");
    }

    store.close().await;
    let admin = PostgresStore::connect(&PostgresConfig::new(
        std::env::var("ARTGEN_TEST_DATABASE_URL").unwrap_or_default(),
    ))
    .await
    .expect("the database accepts connections");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(admin.pool())
        .await
        .expect("schema dropped");
}
