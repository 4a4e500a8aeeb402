//! Tests of the request module.
use proptest::prelude::*;

use super::*;
use crate::domain::model::SizeRule;

fn params(model: &str) -> GenerateParams {
    GenerateParams {
        model: model.into(),
        prompt: "a cat".into(),
        ..Default::default()
    }
}

fn refused(p: GenerateParams) -> Error {
    p.validate(&Catalog::default())
        .expect_err("must be refused")
}

#[test]
fn accepts_the_appendix_a_example() {
    let p = GenerateParams {
        model: "gpt-image-1".into(),
        prompt: "Castle on a cliff at dawn".into(),
        n: Some(1),
        size: Some("1024x1024".into()),
        quality: Some(Quality::Medium),
        format: Some(OutputFormat::Png),
        background: Some(Background::Auto),
        ..Default::default()
    };
    let r = p.validate(&Catalog::default()).expect("valid");
    assert_eq!(r.size(), SizeSpec::Exact(Dimensions::new(1024, 1024)));
    assert_eq!(r.effective_quality(), Quality::Medium);
}

#[test]
fn names_the_bad_parameter() {
    let cases: Vec<(GenerateParams, &str)> = vec![
        (params("dall-e-4"), "model"),
        (
            GenerateParams {
                prompt: "  ".into(),
                ..params("gpt-image-1")
            },
            "prompt",
        ),
        (
            GenerateParams {
                prompt: "x".repeat(1001),
                ..params("dall-e-2")
            },
            "prompt",
        ),
        (
            GenerateParams {
                n: Some(2),
                ..params("dall-e-3")
            },
            "n",
        ),
        (
            GenerateParams {
                n: Some(0),
                ..params("gpt-image-1")
            },
            "n",
        ),
        (
            GenerateParams {
                n: Some(11),
                ..params("dall-e-2")
            },
            "n",
        ),
        (
            GenerateParams {
                size: Some("512x512".into()),
                ..params("gpt-image-1")
            },
            "size",
        ),
        (
            GenerateParams {
                size: Some("auto".into()),
                ..params("dall-e-3")
            },
            "size",
        ),
        (
            GenerateParams {
                size: Some("big".into()),
                ..params("gpt-image-2")
            },
            "size",
        ),
        (
            GenerateParams {
                quality: Some(Quality::Hd),
                ..params("gpt-image-1")
            },
            "quality",
        ),
        (
            GenerateParams {
                quality: Some(Quality::High),
                ..params("dall-e-3")
            },
            "quality",
        ),
        (
            GenerateParams {
                format: Some(OutputFormat::Webp),
                ..params("dall-e-2")
            },
            "output_format",
        ),
        (
            GenerateParams {
                output_compression: Some(50),
                ..params("gpt-image-1")
            },
            "output_compression",
        ),
        (
            GenerateParams {
                output_compression: Some(101),
                format: Some(OutputFormat::Jpeg),
                ..params("gpt-image-1")
            },
            "output_compression",
        ),
        (
            GenerateParams {
                background: Some(Background::Opaque),
                ..params("dall-e-3")
            },
            "background",
        ),
        (
            GenerateParams {
                background: Some(Background::Transparent),
                format: Some(OutputFormat::Jpeg),
                ..params("gpt-image-1")
            },
            "background",
        ),
        (
            GenerateParams {
                moderation: Some(Moderation::Low),
                ..params("dall-e-3")
            },
            "moderation",
        ),
        (
            GenerateParams {
                style: Some(Style::Vivid),
                ..params("gpt-image-1")
            },
            "style",
        ),
        (
            GenerateParams {
                stream: Some(true),
                ..params("dall-e-2")
            },
            "stream",
        ),
        (
            GenerateParams {
                partial_images: Some(4),
                stream: Some(true),
                ..params("gpt-image-1")
            },
            "partial_images",
        ),
        (
            GenerateParams {
                complexity: Some(Complexity::High),
                ..params("gpt-image-2")
            },
            "complexity",
        ),
        (
            GenerateParams {
                quality: Some(Quality::Max),
                ..params("gpt-image-2")
            },
            "quality",
        ),
        (
            GenerateParams {
                frame_count: Some(9),
                ..params("gpt-image-2.5-flare")
            },
            "frame_count",
        ),
        (
            GenerateParams {
                format: Some(OutputFormat::Gif),
                frame_count: Some(17),
                ..params("gpt-image-2.5-flare")
            },
            "frame_count",
        ),
        (
            GenerateParams {
                format: Some(OutputFormat::Svg),
                n: Some(2),
                ..params("gpt-image-2.5-flare")
            },
            "n",
        ),
        (
            GenerateParams {
                svg: Some(serde_json::Map::new()),
                ..params("gpt-image-2.5-flare")
            },
            "svg",
        ),
        (
            GenerateParams {
                safety_identifier: Some("bad\nid".into()),
                ..params("gpt-image-2.5-flare")
            },
            "safety_identifier",
        ),
        (params("gpt-image-2.6-flare"), "model"),
        (
            GenerateParams {
                user: Some("x".repeat(300)),
                ..params("gpt-image-1")
            },
            "user",
        ),
    ];
    for (p, param) in cases {
        let err = refused(p.clone());
        assert_eq!(err.param(), Some(param), "{p:?} → {err}");
    }
}

#[test]
fn accepts_every_spec_valid_value_that_was_refused_before() {
    let catalog = Catalog::default();
    let auto_dalle = GenerateParams {
        quality: Some(Quality::Auto),
        ..params("dall-e-3")
    };
    let r = auto_dalle
        .validate(&catalog)
        .expect("auto is spec-valid for DALL·E");
    assert_eq!(
        r.quality(),
        Some(Quality::Standard),
        "auto means standard there"
    );

    // An absent or `null` model reaches the core as the empty string (artgen-http's DTOs).
    let null_model = GenerateParams {
        prompt: "a cat".into(),
        ..GenerateParams::default()
    };
    assert_eq!(
        null_model
            .validate(&catalog)
            .expect("default model")
            .model()
            .id,
        "dall-e-2"
    );

    let png_100 = GenerateParams {
        output_compression: Some(100),
        ..params("gpt-image-1.5")
    };
    assert_eq!(
        png_100
            .validate(&catalog)
            .expect("100 is the default")
            .output_compression(),
        None
    );

    let no_stream = GenerateParams {
        partial_images: Some(0),
        ..params("gpt-image-1.5")
    };
    assert_eq!(
        no_stream
            .validate(&catalog)
            .expect("0 without stream")
            .partial_images(),
        None
    );
}

#[test]
fn accepts_todays_sdk_parameters_on_the_models_that_take_them() {
    let p = GenerateParams {
        quality: Some(Quality::Xhigh),
        complexity: Some(Complexity::High),
        format: Some(OutputFormat::Gif),
        frame_count: Some(12),
        frame_duration_ms: Some(150),
        background: Some(Background::Transparent),
        safety_identifier: Some("user-hash-1".into()),
        user: Some("old-user".into()),
        size: Some("2048x1152".into()),
        ..params("gpt-image-2.5-sunburst")
    };
    let r = p.validate(&Catalog::default()).expect("valid on 2.5");
    assert_eq!(r.frame_count(), Some(12));
    assert_eq!(r.complexity(), Some(Complexity::High));
    assert_eq!(
        (r.safety_identifier(), r.safety_identifier_param()),
        (Some("user-hash-1"), "safety_identifier"),
        "a non-empty safety_identifier wins over user"
    );
    let user_only = GenerateParams {
        safety_identifier: Some(String::new()),
        user: Some("old-user".into()),
        ..params("gpt-image-1.5")
    };
    let r = user_only.validate(&Catalog::default()).expect("valid");
    assert_eq!(
        (r.safety_identifier(), r.safety_identifier_param()),
        (Some("old-user"), "user")
    );
}

#[test]
fn svg_output_is_refused_until_its_authoring_price_is_set() {
    let svg = GenerateParams {
        format: Some(OutputFormat::Svg),
        ..params("gpt-image-2.5-flare")
    };
    let err = svg
        .clone()
        .validate(&Catalog::default())
        .expect_err("unpriced");
    assert_eq!(err.code(), ErrorCode::ModelUnpriced);
    assert!(
        err.message().contains("svg_output_per_mtok"),
        "{}",
        err.message()
    );

    let mut config = crate::domain::CatalogConfig::default();
    let mut price = toml::Table::new();
    price.insert("svg_input_per_mtok".into(), toml::Value::Float(1.25));
    price.insert("svg_output_per_mtok".into(), toml::Value::Float(10.0));
    config.prices.insert("gpt-image-2.5-flare".into(), price);
    let catalog = Catalog::with_config(&config).expect("loads");
    svg.validate(&catalog).expect("priced now");
}

#[test]
fn unknown_parameters_are_forwarded_or_refused_as_the_policy_says() {
    let p = GenerateParams {
        model: "gpt-image-2".into(),
        prompt: "a cat".into(),
        extra: [("new_knob".to_owned(), serde_json::json!({"x": 1}))].into(),
        ..GenerateParams::default()
    };
    let r = p
        .clone()
        .validate(&Catalog::default())
        .expect("forwarded by default");
    assert_eq!(
        r.forwarded().get("new_knob"),
        Some(&serde_json::json!({"x": 1}))
    );

    let strict = Catalog::default().with_policy(
        crate::domain::model::CatalogPolicy::default()
            .with_unknown_params(crate::domain::model::UnknownParams::Reject),
    );
    let err = p.validate(&strict).expect_err("rejected");
    assert_eq!(err.code(), ErrorCode::UnknownParameter);
    assert_eq!(err.param(), Some("new_knob"));
}

#[test]
fn dall_e_defaults_to_its_largest_square_and_standard_quality() {
    let r = params("dall-e-2")
        .validate(&Catalog::default())
        .expect("valid");
    assert_eq!(r.size(), SizeSpec::Exact(Dimensions::new(1024, 1024)));
    assert_eq!(r.effective_quality(), Quality::Standard);
}

fn any_params() -> impl Strategy<Value = GenerateParams> {
    let models = Catalog::default()
        .models()
        .map(|m| m.id.clone())
        .collect::<Vec<_>>();
    let sizes = prop_oneof![
        Just(None),
        Just(Some("auto".to_string())),
        prop::sample::select(vec![
            "256x256",
            "512x512",
            "1024x1024",
            "1536x1024",
            "1024x1536",
            "1792x1024",
            "1024x1792",
            "2048x1152",
            "1000x1000",
            "3840x2160",
            "4000x4000",
            "16x4096"
        ])
        .prop_map(|s| Some(s.to_string())),
        (1u32..5000, 1u32..5000).prop_map(|(w, h)| Some(format!("{w}x{h}"))),
    ];
    let gif = (
        prop::option::of(0u32..20),
        prop::option::of(prop_oneof![Just(0u32), 1u32..70_000]),
    );
    (
        (
            prop::sample::select(models),
            prop_oneof![
                Just(String::new()),
                "[a-z ]{1,40}",
                Just("y".repeat(1500)),
                Just("z".repeat(5000))
            ],
            prop::option::of(0u32..14),
            sizes,
        ),
        prop::option::of(prop::sample::select(Quality::ALL.to_vec())),
        prop::option::of(prop::sample::select(OutputFormat::ALL.to_vec())),
        prop::option::of(prop_oneof![0u32..120, Just(100u32)]),
        prop::option::of(prop::sample::select(Background::ALL.to_vec())),
        prop::option::of(prop::sample::select(Moderation::ALL.to_vec())),
        prop::option::of(prop::sample::select(Complexity::ALL.to_vec())),
        prop::option::of(prop::sample::select(Style::ALL.to_vec())),
        (prop::option::of(any::<bool>()), prop::option::of(0u32..6)),
        gif,
    )
        .prop_map(
            |(
                (model, prompt, n, size),
                quality,
                format,
                output_compression,
                background,
                moderation,
                complexity,
                style,
                (stream, partial_images),
                (frame_count, frame_duration_ms),
            )| {
                GenerateParams {
                    model,
                    prompt,
                    n,
                    size,
                    quality,
                    format,
                    output_compression,
                    background,
                    moderation,
                    complexity,
                    style,
                    stream,
                    partial_images,
                    frame_count,
                    frame_duration_ms,
                    ..GenerateParams::default()
                }
            },
        )
}

/// An independent statement of the capability matrix: which param, if any, is wrong.
fn first_violation(p: &GenerateParams, m: &ModelSpec) -> Option<&'static str> {
    if m.pricing == crate::domain::Pricing::Unknown {
        return Some("model");
    }
    let chars = p.prompt.chars().count();
    if p.prompt.trim().is_empty() || chars > m.max_prompt_chars as usize {
        return Some("prompt");
    }
    if let Some(n) = p.n {
        if n == 0 || n > u32::from(m.max_n) {
            return Some("n");
        }
    }
    if let Some(size) = &p.size {
        let ok = if size == "auto" {
            m.sizes.accepts_auto()
        } else {
            match (Dimensions::parse(size), &m.sizes) {
                (None, _) => false,
                (Some(d), SizeRule::Fixed { sizes, .. }) => sizes.contains(&d),
                (Some(d), SizeRule::Free { .. }) => {
                    let (w, h) = (d.width, d.height);
                    w % 16 == 0
                        && h % 16 == 0
                        && w.max(h) <= 3840
                        && w.max(h) <= 3 * w.min(h)
                        && (655_360..=8_294_400).contains(&d.pixels())
                }
            }
        };
        if !ok {
            return Some("size");
        }
    }
    if p.quality.is_some_and(|q| !m.qualities.contains(&q)) {
        return Some("quality");
    }
    if p.format.is_some_and(|f| !m.output_formats.contains(&f)) {
        return Some("output_format");
    }
    let format = p.format.unwrap_or(OutputFormat::Png);
    if let Some(c) = p.output_compression {
        let lossy = matches!(format, OutputFormat::Jpeg | OutputFormat::Webp);
        if c > 100 || !m.output_compression || format == OutputFormat::Svg || (c < 100 && !lossy) {
            return Some("output_compression");
        }
    }
    if let Some(b) = p.background {
        if !m.backgrounds.contains(&b)
            || (b == Background::Transparent && format == OutputFormat::Jpeg)
        {
            return Some("background");
        }
    }
    if p.moderation.is_some() && !m.moderation {
        return Some("moderation");
    }
    if p.complexity.is_some() && !m.complexity {
        return Some("complexity");
    }
    if p.style.is_some_and(|s| !m.styles.contains(&s)) {
        return Some("style");
    }
    let stream = p.stream.unwrap_or(false);
    if stream && !m.streaming {
        return Some("stream");
    }
    if let Some(pi) = p.partial_images {
        if pi > 3 || (stream && pi > u32::from(m.max_partial_images)) {
            return Some("partial_images");
        }
    }
    if format == OutputFormat::Gif {
        if p.frame_count.is_some_and(|c| !(2..=16).contains(&c)) {
            return Some("frame_count");
        }
        if p.frame_duration_ms.is_some_and(|ms| ms == 0 || ms > 60_000) {
            return Some("frame_duration_ms");
        }
    } else if p.frame_count.is_some() {
        return Some("frame_count");
    } else if p.frame_duration_ms.is_some() {
        return Some("frame_duration_ms");
    }
    if format == OutputFormat::Svg {
        if p.n.unwrap_or(1) != 1 {
            return Some("n");
        }
        if stream {
            return Some("stream");
        }
        if stream && p.partial_images.unwrap_or(0) > 0 {
            return Some("partial_images");
        }
        // No SVG authoring price is shipped.
        return Some("output_format");
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn validator_agrees_with_the_capability_matrix(p in any_params()) {
        let catalog = Catalog::default();
        let model = catalog.get(&p.model).expect("generated from the catalogue").clone();
        let expected = first_violation(&p, &model);
        match (p.clone().validate(&catalog), expected) {
            (Ok(r), None) => {
                // Everything accepted is allowed by the matrix.
                prop_assert!(r.n().get() >= 1 && r.n().get() <= model.max_n);
                if let SizeSpec::Exact(d) = r.size() {
                    prop_assert!(model.sizes.check(d).is_ok());
                }
                let q = r.effective_quality();
                prop_assert!(model.qualities.contains(&q) || q == model.default_quality);
                prop_assert!(r.partial_images().is_none() || r.stream());
            }
            (Err(err), Some(param)) => prop_assert_eq!(err.param(), Some(param), "{}", err),
            (Ok(_), Some(param)) => prop_assert!(false, "accepted, but {} is invalid", param),
            (Err(err), None) => prop_assert!(false, "refused a valid request: {}", err),
        }
    }
}
