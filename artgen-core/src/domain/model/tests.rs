//! Tests of the model module.
use super::*;
use crate::domain::pricing::{Money, PerMillionTokens};

const fn d(width: u32, height: u32) -> Dimensions {
    Dimensions::new(width, height)
}
use crate::domain::pricing::PriceKey;

fn model(id: &str) -> Arc<ModelSpec> {
    Catalog::default().get(id).cloned().expect("shipped model")
}

/// The SDK's `ImageModel` (Python `openai` 3.57.0).
const SDK_MODELS: [&str; 14] = [
    "gpt-image-1.5",
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
    "gpt-image-1",
    "gpt-image-1-mini",
    "chatgpt-image-latest",
    "dall-e-2",
    "dall-e-3",
];

fn date(text: &str) -> Date {
    Date::parse(text).expect("a date")
}

#[test]
fn ships_every_model_the_current_sdk_lists() {
    let catalog = Catalog::default();
    for id in SDK_MODELS {
        let model = catalog.get(id).unwrap_or_else(|| panic!("{id} missing"));
        assert!(model.known);
        assert!(!model.description.is_empty(), "{id} has no description");
    }
    assert_eq!(catalog.models().count(), SDK_MODELS.len());
}

#[test]
fn lifecycle_dates_are_openais() {
    let today = date("2026-12-01");
    for (id, retired) in [
        ("gpt-image-1", "2026-10-23"),
        ("dall-e-2", "2026-05-12"),
        ("dall-e-3", "2026-05-12"),
    ] {
        assert_eq!(
            model(id).state(today),
            LifecycleState::Retired(date(retired)),
            "{id}"
        );
    }
    assert_eq!(
        model("gpt-image-1").lifecycle.replacement,
        ["gpt-image-2.5-sunburst", "gpt-image-2.5-flare"]
    );
    assert_eq!(
        model("gpt-image-2.5-flare").state(today),
        LifecycleState::Active
    );
    assert_eq!(
        model("gpt-image-1").state(date("2026-10-01")),
        LifecycleState::Retiring(date("2026-10-23"))
    );
}

#[test]
fn like_copies_capabilities_but_not_identity() {
    let flare = model("gpt-image-2.5-flare-2026-09-08");
    assert_eq!(flare.snapshot_of.as_deref(), Some("gpt-image-2.5-flare"));
    assert!(flare.qualities.contains(&Quality::Max));
    assert!(flare.output_formats.contains(&OutputFormat::Svg));
    assert!(flare.edits.as_ref().expect("edits").markup);
    let mini = model("gpt-image-1-mini");
    assert_eq!(
        mini.lifecycle.retired_on, None,
        "gpt-image-1's retirement is not inherited"
    );
    assert!(!mini.input_fidelity);
    assert!(!model("gpt-image-2").edits.as_ref().expect("edits").markup);
}

#[test]
fn models_without_a_published_price_are_unpriced_not_free() {
    for id in ["gpt-image-2.6-sunburst", "gpt-image-2.6-flare"] {
        assert_eq!(model(id).pricing, Pricing::Unknown, "{id}");
    }
    let err = Catalog::default()
        .resolve("gpt-image-2.6-flare", Operation::Generate)
        .expect_err("refused by default");
    assert_eq!(err.code(), ErrorCode::ModelUnpriced);
    assert!(err
        .message()
        .contains("catalog.models.\"gpt-image-2.6-flare\".price"));
    let serving = Catalog::default()
        .with_policy(CatalogPolicy::default().with_unpriced(UnpricedModels::Serve));
    assert!(serving
        .resolve("gpt-image-2.6-flare", Operation::Generate)
        .is_ok());
}

#[test]
fn a_model_not_in_the_catalogue_is_refused_with_how_to_add_it_or_served_when_allowed() {
    let err = Catalog::default()
        .resolve("gpt-image-9", Operation::Generate)
        .expect_err("unknown");
    assert_eq!(err.code(), ErrorCode::ModelNotFound);
    assert_eq!(err.param(), Some("model"));
    assert!(err.message().contains("like = "), "{}", err.message());
    let serving = Catalog::default()
        .with_policy(CatalogPolicy::default().with_unpriced(UnpricedModels::Serve));
    let stand_in = serving
        .resolve("gpt-image-9", Operation::Generate)
        .expect("served");
    assert!(!stand_in.known);
    assert_eq!(stand_in.pricing, Pricing::Unknown);
    assert!(serving.resolve("bad id\n", Operation::Generate).is_err());
}

#[test]
fn an_empty_model_means_the_operations_default() {
    let catalog = Catalog::default();
    let generate = catalog.resolve("", Operation::Generate).expect("default");
    let edit = catalog.resolve("", Operation::Edit).expect("default");
    assert_eq!(generate.id, "dall-e-2");
    assert_eq!(edit.id, "gpt-image-1.5");
}

#[test]
fn an_operator_file_adds_and_overrides_models_without_a_release() {
    let operator = r#"
        [aliases]
        "gpt-image-1" = "gpt-image-2.5-flare"

        [models."gpt-image-2.6-flare".price]
        kind = "tokens"
        source = "our contract"
        text_input_per_mtok = 5
        image_input_per_mtok = 8
        image_output_per_mtok = 36.5

        [models."gpt-image-2.6-flare".price.output_tokens]
        "high:1024x1024" = 8000

        [models."house-model"]
        like = "gpt-image-2"
        upstream_id = "my-deployment"
        max_n = 4
    "#;
    let catalog = Catalog::load(
        &[CatalogSource {
            origin: "operator.toml",
            text: operator,
        }],
        &CatalogConfig::default(),
    )
    .expect("loads");

    assert_eq!(
        catalog.get("gpt-image-1").expect("alias").id,
        "gpt-image-2.5-flare"
    );
    let Pricing::Tokens(rates) = &catalog.get("gpt-image-2.6-flare").expect("model").pricing else {
        panic!("priced by the operator");
    };
    assert_eq!(rates.image_output, PerMillionTokens::usd_micros(36_500_000));
    assert_eq!(
        rates.output_tokens.len(),
        1,
        "a new kind replaces the table whole"
    );
    let house = catalog.get("house-model").expect("added");
    assert_eq!(
        (house.upstream_id.as_str(), house.max_n),
        ("my-deployment", 4)
    );
    assert_eq!(house.description, "", "identity is not inherited");
}

#[test]
fn broken_catalogue_files_are_refused_naming_the_entry() {
    let cases = [
        ("[models.x]\nlike = \"nope\"", "unknown model 'nope'"),
        (
            "[models.a]\nlike = \"b\"\n[models.b]\nlike = \"a\"",
            "cycle",
        ),
        (
            "[models.\"gpt-image-2\"]\nmax_m = 3",
            "unknown field `max_m`",
        ),
        (
            "[models.\"gpt-image-2\"]\nretired_on = \"2026-02-30\"",
            "YYYY-MM-DD",
        ),
        ("[price]\nx = 1", "unknown top-level key"),
        (
            "[models.\"dall-e-2\".price.per_image]\n\"standard:huge\" = 1",
            "quality:WIDTHxHEIGHT",
        ),
        ("models = [", "operator.toml"),
    ];
    for (text, expected) in cases {
        let err = Catalog::load(
            &[CatalogSource {
                origin: "operator.toml",
                text,
            }],
            &CatalogConfig::default(),
        )
        .expect_err(text);
        assert!(
            err.message().contains(expected),
            "{text}: {}",
            err.message()
        );
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
    assert_eq!(
        added.lifecycle.retired_on, None,
        "retirement is not inherited"
    );
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
    assert!(err.message().contains("aliases.\"x\""), "{}", err.message());
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

#[test]
fn a_catalogue_serves_priced_models_and_refuses_retired_ones_only_under_the_refuse_policy() {
    let today = date("2026-12-01");
    let warn = Catalog::shipped();
    let refuse = Catalog::shipped()
        .with_policy(CatalogPolicy::default().with_retired(RetiredModels::Refuse));
    let serve_unpriced = Catalog::shipped()
        .with_policy(CatalogPolicy::default().with_unpriced(UnpricedModels::Serve));
    let (dall_e_2, flare, unpriced) = (
        model("dall-e-2"),
        model("gpt-image-2.5-flare"),
        model("gpt-image-2.6-flare"),
    );

    assert!(
        warn.serves(&dall_e_2, today),
        "retired, served with a warning"
    );
    assert!(!warn.refuses_retired(&dall_e_2, today));
    assert!(!refuse.serves(&dall_e_2, today), "retired, refused");
    assert!(refuse.refuses_retired(&dall_e_2, today));
    assert!(
        refuse.serves(&dall_e_2, date("2026-05-11")),
        "the day before"
    );
    assert!(refuse.serves(&flare, today) && warn.serves(&flare, today));
    assert!(
        !warn.serves(&unpriced, today),
        "unpriced, refused by default"
    );
    assert!(serve_unpriced.serves(&unpriced, today));
}
