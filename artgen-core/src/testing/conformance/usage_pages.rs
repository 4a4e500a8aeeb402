//! The [`UsageStore`] contract for keyset pages and summaries, run against every adapter
//! (part of [`usage_store_suite`](super::usage::usage_store_suite)).

use crate::domain::{
    Money, UsageCursor, UsageGroupBy, UsageQuery, UsageRecord, UsageStatus, UsageSummary,
    UsageSummaryQuery,
};
use crate::ports::UsageStore;
use crate::testing::summary;

use super::usage::record;

/// 2026-03-01T00:00:00Z in Unix ms.
const MARCH_1: i64 = 1_772_323_200_000;
const DAY: i64 = 86_400_000;

async fn page(store: &dyn UsageStore, query: UsageQuery) -> Vec<UsageRecord> {
    store.list(&query).await.expect("listing succeeds")
}

/// Reads every page of `limit` rows of `user` (everyone's when `None`), following cursors.
async fn all_pages(store: &dyn UsageStore, user: Option<&str>, limit: u32) -> Vec<UsageRecord> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let rows = page(
            store,
            UsageQuery {
                user: user.map(str::to_owned),
                limit: Some(limit),
                after: after.clone(),
                ..Default::default()
            },
        )
        .await;
        let Some(last) = rows.last() else { break };
        let cursor = UsageCursor::after(last);
        let decoded = UsageCursor::decode(&cursor.encode()).expect("a cursor round-trips");
        after = Some(decoded);
        let full = rows.len() == limit as usize;
        out.extend(rows);
        if !full {
            break;
        }
    }
    out
}

/// Scenario: pages read with each page's cursor return every row once, newest first, ties
/// of `created_at_ms` broken by request id, and filtered by user.
pub async fn pages_follow_the_cursor_without_repeats_or_gaps(store: &dyn UsageStore) {
    let mut written = Vec::new();
    for i in 0..11_i64 {
        // Three rows share each time, so pages cut through ties.
        let r = record(if i % 2 == 0 { "ann" } else { "bob" }, 1_000 + i / 3);
        store.record(&r).await.expect("write succeeds");
        written.push(r);
    }
    let key = |r: &UsageRecord| (r.created_at_ms, r.request_id.as_str().to_owned());
    let mut expected: Vec<_> = written.iter().map(key).collect();
    expected.sort_by(|a, b| b.cmp(a));

    for limit in [1, 2, 4, 11, 20] {
        let got: Vec<_> = all_pages(store, None, limit)
            .await
            .iter()
            .map(key)
            .collect();
        assert_eq!(got, expected, "pages of {limit}");
    }
    let ann: Vec<_> = all_pages(store, Some("ann"), 2).await;
    assert_eq!(ann.len(), 6);
    assert!(ann.iter().all(|r| r.user == "ann"));
    assert!(ann.windows(2).all(|w| key(&w[0]) > key(&w[1])));
}

/// Scenario: rows written between two pages do not shift the next page: newer rows are not
/// in it, older rows are, and no row of the first page comes again.
pub async fn a_page_is_stable_under_inserts_between_pages(store: &dyn UsageStore) {
    for at in [100, 200, 300, 400] {
        store
            .record(&record("ann", at))
            .await
            .expect("write succeeds");
    }
    let first = page(
        store,
        UsageQuery {
            limit: Some(2),
            ..Default::default()
        },
    )
    .await;
    let times = |rows: &[UsageRecord]| rows.iter().map(|r| r.created_at_ms).collect::<Vec<_>>();
    assert_eq!(times(&first), [400, 300]);

    store
        .record(&record("ann", 500))
        .await
        .expect("newer write succeeds");
    store
        .record(&record("ann", 250))
        .await
        .expect("older write succeeds");
    let next = page(
        store,
        UsageQuery {
            limit: Some(10),
            after: first.last().map(UsageCursor::after),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(times(&next), [250, 200, 100]);
}

/// Rows over three days of March, two users, two orgs (and none), two models, every status.
fn summary_rows() -> Vec<UsageRecord> {
    let mut rows = Vec::new();
    for i in 0..24_i64 {
        let user = ["ann", "bob", "cy"][(i % 3) as usize];
        let mut r = record(user, MARCH_1 + (i % 4) * DAY / 2 + i * 1_000);
        r.org = match user {
            "ann" => Some("acme".to_owned()),
            "bob" => Some("globex".to_owned()),
            _ => None,
        };
        r.model = if i % 2 == 0 {
            "gpt-image-1"
        } else {
            "dall-e-3"
        }
        .to_owned();
        r.status = [
            UsageStatus::Succeeded,
            UsageStatus::Failed,
            UsageStatus::Started,
            UsageStatus::Unknown,
        ][(i % 4) as usize];
        r.images = u32::try_from(i % 3).expect("small");
        r.tokens.svg_input_tokens = 5;
        r.tokens.output_text_tokens = u64::try_from(i).expect("small");
        r.estimated_cost = Money::from_micros(1_000_003 + u64::try_from(i).expect("small"));
        r.cost = Money::from_micros(999_999_937 * u64::try_from(i % 5).expect("small"));
        rows.push(r);
    }
    // Outside the period: the day before and the first instant after it.
    rows.push(record("ann", MARCH_1 - 1));
    rows.push(record("ann", MARCH_1 + 2 * DAY));
    rows
}

async fn summarize(store: &dyn UsageStore, query: &UsageSummaryQuery) -> Vec<UsageSummary> {
    store.summarize(query).await.expect("summary succeeds")
}

/// Scenario: each grouping totals the rows of `[from, to)` exactly, ordered by key.
pub async fn summaries_group_exactly_over_the_period(store: &dyn UsageStore) {
    let rows = summary_rows();
    for r in &rows {
        store.record(r).await.expect("write succeeds");
    }
    let (from_ms, to_ms) = (MARCH_1, MARCH_1 + 2 * DAY);
    let inside: Vec<&UsageRecord> = rows
        .iter()
        .filter(|r| r.created_at_ms >= from_ms && r.created_at_ms < to_ms)
        .collect();

    for group_by in UsageGroupBy::ALL {
        let query = UsageSummaryQuery {
            group_by,
            from_ms,
            to_ms,
            user: None,
        };
        let got = summarize(store, &query).await;
        assert_eq!(
            got,
            summary::summarize(inside.iter().copied(), group_by),
            "{group_by:?}"
        );
    }
    let days = summarize(
        store,
        &UsageSummaryQuery {
            group_by: UsageGroupBy::Day,
            from_ms,
            to_ms,
            user: None,
        },
    )
    .await;
    let keys: Vec<_> = days.iter().map(|d| d.key.as_deref()).collect();
    assert_eq!(keys, [Some("2026-03-01"), Some("2026-03-02")]);
    let orgs = summarize(
        store,
        &UsageSummaryQuery {
            group_by: UsageGroupBy::Org,
            from_ms,
            to_ms,
            user: None,
        },
    )
    .await;
    let keys: Vec<_> = orgs.iter().map(|o| o.key.as_deref()).collect();
    assert_eq!(keys, [None, Some("acme"), Some("globex")]);
}

/// Scenario: a user filter keeps only that user's rows; an empty or inverted period and a
/// user without rows give no groups.
pub async fn a_summary_of_one_user_or_an_empty_period(store: &dyn UsageStore) {
    let rows = summary_rows();
    for r in &rows {
        store.record(r).await.expect("write succeeds");
    }
    let (from_ms, to_ms) = (MARCH_1, MARCH_1 + 2 * DAY);
    let bob: Vec<&UsageRecord> = rows
        .iter()
        .filter(|r| r.user == "bob" && r.created_at_ms >= from_ms && r.created_at_ms < to_ms)
        .collect();
    let query = |user: Option<&str>, from_ms, to_ms| UsageSummaryQuery {
        group_by: UsageGroupBy::Model,
        from_ms,
        to_ms,
        user: user.map(str::to_owned),
    };

    let got = summarize(store, &query(Some("bob"), from_ms, to_ms)).await;
    assert_eq!(got, summary::summarize(bob, UsageGroupBy::Model));
    assert!(summarize(store, &query(None, from_ms, from_ms))
        .await
        .is_empty());
    assert!(summarize(store, &query(None, to_ms, from_ms))
        .await
        .is_empty());
    assert!(summarize(store, &query(Some("dora"), from_ms, to_ms))
        .await
        .is_empty());
}
