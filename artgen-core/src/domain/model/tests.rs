//! Tests of the model module.
use super::*;

const fn d(width: u32, height: u32) -> Dimensions {
    Dimensions::new(width, height)
}
use crate::domain::pricing::PriceKey;

fn model(id: &str) -> Arc<ModelSpec> {
    Catalog::default().get(id).cloned().expect("shipped model")
}

#[test]
fn ships_every_reference_model() {
    let catalog = Catalog::default();
    for id in [
        "gpt-image-2",
        "gpt-image-2-2026-04-21",
        "gpt-image-1.5",
        "chatgpt-image-latest",
        "gpt-image-1",
        "gpt-image-1-mini",
        "dall-e-3",
        "dall-e-2",
    ] {
        assert!(catalog.get(id).is_some(), "{id} missing");
    }
}

#[test]
fn dall_e_2_square_1024_costs_two_cents() {
    let key = PriceKey {
        quality: Quality::Standard,
        size: Some(d(1024, 1024)),
    };
    let (_, cost) = model("dall-e-2").pricing.estimate(key, 1, "a cat");
    assert_eq!(cost, Money::from_micros(20_000));
}

#[test]
fn gpt_image_1_medium_square_is_1056_output_tokens() {
    let key = PriceKey {
        quality: Quality::Medium,
        size: Some(d(1024, 1024)),
    };
    let (usage, cost) = model("gpt-image-1").pricing.estimate(key, 1, "");
    let usage = usage.expect("token model");
    assert_eq!(usage.output_image_tokens, 1056);
    // 1056 tokens at $40/M plus one text token at $5/M.
    assert_eq!(cost, Money::from_micros(42_240 + 5));
}

#[test]
fn dall_e_3_hd_wide_costs_twelve_cents() {
    let key = PriceKey {
        quality: Quality::Hd,
        size: Some(d(1792, 1024)),
    };
    assert_eq!(
        model("dall-e-3").pricing.estimate(key, 1, "x").1,
        Money::from_micros(120_000)
    );
}

#[test]
fn auto_quality_and_size_estimate_the_most_expensive_choice() {
    let auto = PriceKey {
        quality: Quality::Auto,
        size: None,
    };
    let (usage, _) = model("gpt-image-1").pricing.estimate(auto, 2, "x");
    assert_eq!(usage.expect("tokens").output_image_tokens, 2 * 6240);
}

#[test]
fn free_sizes_scale_the_square_estimate_by_pixels() {
    let key = PriceKey {
        quality: Quality::High,
        size: Some(d(2048, 2048)),
    };
    let (usage, _) = model("gpt-image-2").pricing.estimate(key, 1, "x");
    assert_eq!(usage.expect("tokens").output_image_tokens, 4 * 7024);
}

#[test]
fn settles_from_reported_usage() {
    let key = PriceKey {
        quality: Quality::Medium,
        size: Some(d(1024, 1024)),
    };
    let usage = crate::domain::pricing::TokenUsage {
        input_text_tokens: 23,
        output_image_tokens: 1056,
        ..Default::default()
    };
    let cost = model("gpt-image-1")
        .pricing
        .settle(key, 1, "x", Some(&usage));
    assert_eq!(cost, Money::from_micros(42_240 + 115));
}

#[test]
fn config_adds_models_aliases_and_prices() {
    let config: CatalogConfig = serde_json::from_value(serde_json::json!({
        "models": {"house-image": {"like": "gpt-image-1", "upstream_id": "my-deployment"}},
        "aliases": {"default": "house-image"},
        "prices": {"dall-e-2": {"per_image": {"standard:1024x1024": 0.5}},
                   "gpt-image-1": {"image_output_per_mtok": 20.0}}
    }))
    .expect("valid config");
    let catalog = Catalog::with_config(&config).expect("applies");
    let added = catalog.get("default").expect("alias resolves");
    assert_eq!(added.id, "house-image");
    assert_eq!(added.upstream_id, "my-deployment");
    let key = PriceKey {
        quality: Quality::Standard,
        size: Some(d(1024, 1024)),
    };
    let dalle = catalog.get("dall-e-2").expect("shipped");
    assert_eq!(
        dalle.pricing.estimate(key, 1, "x").1,
        Money::from_micros(500_000)
    );
    let Pricing::Tokens(rates) = &catalog.get("gpt-image-1").expect("shipped").pricing else {
        panic!("token pricing expected");
    };
    assert_eq!(rates.image_output, PerMillionTokens::usd_micros(20_000_000));
}

#[test]
fn config_referring_to_unknown_models_is_refused() {
    let config = CatalogConfig {
        aliases: [("x".to_string(), "nope".to_string())].into(),
        ..Default::default()
    };
    let err = Catalog::with_config(&config).expect_err("unknown target");
    assert!(err.message().contains("aliases.x"));
}

#[test]
fn gpt_image_2_size_rules_follow_the_reference() {
    let rule = model("gpt-image-2").sizes.clone();
    assert!(rule.check(d(1536, 864)).is_ok());
    assert!(rule.check(d(3840, 2160)).is_ok());
    assert!(rule.check(d(1000, 1000)).is_err(), "not a multiple of 16");
    assert!(rule.check(d(512, 512)).is_err(), "too few pixels");
    assert!(rule.check(d(3840, 1184)).is_err(), "ratio over 3:1");
    assert!(rule.check(d(3856, 2160)).is_err(), "edge over 3840");
}
