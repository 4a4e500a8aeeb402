//! Prints what every model of the shipped catalogue is estimated to cost for one image, by
//! quality and size, from each model's [`Pricing`](artgen_core::domain::Pricing) — the same
//! estimate the service makes before calling the upstream. `auto` quality is priced as the
//! most expensive quality, so an estimate never undershoots.
//!
//! Ends with the PRD's acceptance check 2: a DALL·E 2 image costs less than a gpt-image-1
//! image at medium quality.
//!
//! Run with: cargo run -p artgen-examples --example price_estimates
#![expect(clippy::print_stdout, reason = "examples print their results")]

use artgen_core::domain::{Catalog, Dimensions, ModelSpec, Money, PriceKey, Quality, SizeRule};

const PROMPT: &str = "a red fox in fresh snow, morning light, detailed illustration";

/// The sizes to price: the model's fixed list, or a few examples for free-size models.
fn sizes(model: &ModelSpec) -> Vec<Dimensions> {
    match &model.sizes {
        SizeRule::Fixed { sizes, .. } => sizes.clone(),
        SizeRule::Free { .. } => vec![
            Dimensions::new(1024, 1024),
            Dimensions::new(1024, 1536),
            Dimensions::new(1536, 1024),
            Dimensions::new(2048, 2048),
        ],
    }
}

fn estimate(model: &ModelSpec, quality: Quality, size: Dimensions) -> Money {
    let key = PriceKey {
        quality,
        size: Some(size),
    };
    model.pricing.estimate(key, 1, PROMPT).1
}

fn main() {
    let catalog = Catalog::default();
    println!("Estimated cost of one image (prompt: {PROMPT:?})\n");
    for model in catalog.models() {
        if !model.pricing.is_known() {
            // Never shown as $0: the operator sets the price (see README, "Models").
            println!("{}\n  unpriced ({})", model.id, model.price_source);
            continue;
        }
        println!("{}", model.id);
        let sizes = sizes(model);
        for &quality in &model.qualities {
            let cells: Vec<String> = sizes
                .iter()
                .map(|&size| {
                    format!(
                        "{:>9} {:>9}",
                        size.to_string(),
                        estimate(model, quality, size).to_string()
                    )
                })
                .collect();
            println!("  {:<9}{}", quality.as_str(), cells.join("   "));
        }
    }

    let square = Dimensions::new(1024, 1024);
    let dalle2 = catalog.get("dall-e-2").expect("dall-e-2 is shipped");
    let gpt1 = catalog.get("gpt-image-1").expect("gpt-image-1 is shipped");
    let dalle2_cost = estimate(dalle2, Quality::Standard, square);
    let gpt1_cost = estimate(gpt1, Quality::Medium, square);
    let holds = dalle2_cost < gpt1_cost;
    println!(
        "\nPRD acceptance 2: dall-e-2 {square} {dalle2_cost} < gpt-image-1 medium {square} \
         {gpt1_cost}: {}",
        if holds { "holds" } else { "FAILS" }
    );
    assert!(holds, "DALL·E 2 must cost less than gpt-image-1 medium");
}
