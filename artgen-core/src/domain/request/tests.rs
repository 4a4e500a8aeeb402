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
            "format",
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
                partial_images: Some(2),
                ..params("gpt-image-1")
            },
            "partial_images",
        ),
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
        prop::option::of(prop::sample::select(Quality::ALL.to_vec())),
        prop::option::of(prop::sample::select(OutputFormat::ALL.to_vec())),
        prop::option::of(0u32..120),
        prop::option::of(prop::sample::select(Background::ALL.to_vec())),
        prop::option::of(prop::sample::select(Moderation::ALL.to_vec())),
        prop::option::of(prop::sample::select(Style::ALL.to_vec())),
        (prop::option::of(any::<bool>()), prop::option::of(0u32..6)),
    )
        .prop_map(
            |(
                model,
                prompt,
                n,
                size,
                quality,
                format,
                output_compression,
                background,
                moderation,
                style,
                (stream, partial_images),
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
                    style,
                    stream,
                    partial_images,
                    response_format: None,
                    user: None,
                }
            },
        )
}

/// An independent statement of the capability matrix: which param, if any, is wrong.
fn first_violation(p: &GenerateParams, m: &ModelSpec) -> Option<&'static str> {
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
        return Some("format");
    }
    if let Some(c) = p.output_compression {
        if !m.output_compression
            || !matches!(p.format, Some(OutputFormat::Jpeg | OutputFormat::Webp))
            || c > 100
        {
            return Some("output_compression");
        }
    }
    if let Some(b) = p.background {
        if !m.backgrounds.contains(&b)
            || (b == Background::Transparent && p.format == Some(OutputFormat::Jpeg))
        {
            return Some("background");
        }
    }
    if p.moderation.is_some() && !m.moderation {
        return Some("moderation");
    }
    if p.style.is_some_and(|s| !m.styles.contains(&s)) {
        return Some("style");
    }
    let stream = p.stream.unwrap_or(false);
    if stream && !m.streaming {
        return Some("stream");
    }
    if let Some(pi) = p.partial_images {
        if !stream || pi > 3 {
            return Some("partial_images");
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

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
                prop_assert!(model.qualities.contains(&r.effective_quality()));
            }
            (Err(err), Some(param)) => prop_assert_eq!(err.param(), Some(param), "{}", err),
            (Ok(_), Some(param)) => prop_assert!(false, "accepted, but {} is invalid", param),
            (Err(err), None) => prop_assert!(false, "refused a valid request: {}", err),
        }
    }
}
