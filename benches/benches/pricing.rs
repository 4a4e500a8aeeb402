//! Pricing cost per request: `Pricing::estimate` (before the upstream call) and
//! `Pricing::settle` (after it), over every model, quality and size of the shipped catalogue.
//!
//! Baseline: a trivial sum over the same list of requests (reads each request's count and
//! prompt length), so the ratio says how many trivial loop bodies one pricing call is worth.
//! Every figure is per request.
//!
//! Run with: cargo bench -p artgen-benches --bench pricing
#![expect(clippy::print_stdout, reason = "benches print their results")]

use std::hint::black_box;
use std::sync::Arc;

use artgen_benches::{measure, Comparison, Plan};
use artgen_core::domain::{Catalog, Dimensions, ModelSpec, Money, PriceKey, SizeRule, TokenUsage};

/// One request to price, as the service sees it after validation.
struct Case {
    model: Arc<ModelSpec>,
    key: PriceKey,
    n: u8,
    prompt: String,
    /// What the upstream reports (token models only), for `settle`.
    usage: Option<TokenUsage>,
}

fn sizes(model: &ModelSpec) -> Vec<Option<Dimensions>> {
    let mut sizes: Vec<Option<Dimensions>> = match &model.sizes {
        SizeRule::Fixed { sizes, .. } => sizes.iter().copied().map(Some).collect(),
        SizeRule::Free { .. } => vec![
            Some(Dimensions::new(1024, 1024)),
            Some(Dimensions::new(2048, 1152)),
        ],
    };
    if model.sizes.accepts_auto() {
        sizes.push(None);
    }
    sizes
}

/// Every (model, quality, size) of the catalogue, with varied counts and prompts.
fn cases(catalog: &Catalog) -> Vec<Case> {
    let prompts = [
        "a cat".to_owned(),
        "a watercolour of a lighthouse on a cliff at dawn, gulls overhead".to_owned(),
        "an isometric city block at night, ".repeat(20),
    ];
    let mut cases = Vec::new();
    for model in catalog.models() {
        for &quality in &model.qualities {
            for size in sizes(model) {
                let i = cases.len();
                let key = PriceKey { quality, size };
                let n = u8::try_from(i % usize::from(model.max_n)).unwrap_or(0) + 1;
                let prompt = prompts[i % prompts.len()].clone();
                let usage = model.pricing.estimate(key, n, &prompt).0;
                cases.push(Case {
                    model: Arc::clone(model),
                    key,
                    n,
                    prompt,
                    usage,
                });
            }
        }
    }
    cases
}

fn main() {
    let catalog = Catalog::default();
    let cases = cases(&catalog);
    let count = cases.len();
    let plan = Plan::new(2_000, 9);

    let baseline = measure("trivial sum", plan, || {
        black_box(&cases)
            .iter()
            .map(|c| u64::from(c.n) + c.prompt.len() as u64)
            .sum::<u64>()
    })
    .per_item(count);
    let estimate = measure("estimate", plan, || {
        black_box(&cases)
            .iter()
            .map(|c| c.model.pricing.estimate(c.key, c.n, &c.prompt).1)
            .fold(Money::ZERO, |a, b| a + b)
    })
    .per_item(count);
    let settle = measure("settle", plan, || {
        black_box(&cases)
            .iter()
            .map(|c| {
                c.model
                    .pricing
                    .settle(c.key, c.n, &c.prompt, c.usage.as_ref())
            })
            .fold(Money::ZERO, |a, b| a + b)
    })
    .per_item(count);
    let both = measure("estimate + settle (one request)", plan, || {
        black_box(&cases)
            .iter()
            .map(|c| {
                let (_, estimate) = c.model.pricing.estimate(c.key, c.n, &c.prompt);
                estimate
                    + c.model
                        .pricing
                        .settle(c.key, c.n, &c.prompt, c.usage.as_ref())
            })
            .fold(Money::ZERO, |a, b| a + b)
    })
    .per_item(count);

    let title = format!("pricing: ns per request over {count} catalogue requests");
    let table = Comparison::new(&title, baseline)
        .with(estimate)
        .with(settle)
        .with(both);
    println!("{table}");
}
