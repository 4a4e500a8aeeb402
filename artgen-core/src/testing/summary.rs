//! The reference computation of usage summaries, shared by the fake and the conformance suite.

use std::collections::BTreeMap;

use crate::domain::model::Date;
use crate::domain::{Money, UsageGroupBy, UsageRecord, UsageStatus, UsageSummary};

/// The group key of `record` under `group_by`.
pub(crate) fn key_of(record: &UsageRecord, group_by: UsageGroupBy) -> Option<String> {
    match group_by {
        UsageGroupBy::User => Some(record.user.clone()),
        UsageGroupBy::Org => record.org.clone(),
        UsageGroupBy::Model => Some(record.model.clone()),
        UsageGroupBy::Day => {
            Some(Date::from_unix_secs(record.created_at_ms.div_euclid(1000)).to_string())
        }
    }
}

/// Totals of `records` per group, ordered by key (`None` first).
pub(crate) fn summarize<'a>(
    records: impl IntoIterator<Item = &'a UsageRecord>,
    group_by: UsageGroupBy,
) -> Vec<UsageSummary> {
    let mut groups: BTreeMap<Option<String>, UsageSummary> = BTreeMap::new();
    for r in records {
        let key = key_of(r, group_by);
        let g = groups.entry(key.clone()).or_insert_with(|| UsageSummary {
            key,
            requests: 0,
            succeeded: 0,
            failed: 0,
            unfinished: 0,
            images: 0,
            input_tokens: 0,
            output_tokens: 0,
            estimated_cost: Money::ZERO,
            cost: Money::ZERO,
        });
        let t = &r.tokens;
        g.requests += 1;
        match r.status {
            UsageStatus::Succeeded => g.succeeded += 1,
            UsageStatus::Failed => g.failed += 1,
            UsageStatus::Started | UsageStatus::Unknown => g.unfinished += 1,
        }
        g.images = g.images.saturating_add(u64::from(r.images));
        g.input_tokens = [
            t.input_text_tokens,
            t.input_image_tokens,
            t.svg_input_tokens,
        ]
        .into_iter()
        .fold(g.input_tokens, u64::saturating_add);
        g.output_tokens = [
            t.output_image_tokens,
            t.output_text_tokens,
            t.svg_output_tokens,
        ]
        .into_iter()
        .fold(g.output_tokens, u64::saturating_add);
        g.estimated_cost = Money::from_micros(
            g.estimated_cost
                .micros()
                .saturating_add(r.estimated_cost.micros()),
        );
        g.cost = Money::from_micros(g.cost.micros().saturating_add(r.cost.micros()));
    }
    groups.into_values().collect()
}
