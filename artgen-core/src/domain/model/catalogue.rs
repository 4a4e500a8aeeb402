//! The models ArtGen ships with: the reference's capability matrix and prices, as data.

use super::{EditCaps, ModelFamily, ModelSpec, SizeRule};
use crate::domain::options::{Background, Dimensions, OutputFormat, Quality, Style};
use crate::domain::pricing::{
    ImagePrice, Money, OutputTokens, PerMillionTokens, Pricing, TokenRates,
};

const fn d(width: u32, height: u32) -> Dimensions {
    Dimensions::new(width, height)
}

const GPT_SIZES: [Dimensions; 3] = [d(1024, 1024), d(1024, 1536), d(1536, 1024)];

fn usd(micros: u64) -> PerMillionTokens {
    PerMillionTokens::usd_micros(micros)
}

/// Output-token table for gpt-image-1 and 1.5 (the reference's table 7b).
fn gpt_image_tokens() -> Vec<OutputTokens> {
    let rows = [
        (Quality::Low, [272, 408, 400]),
        (Quality::Medium, [1056, 1584, 1568]),
        (Quality::High, [4160, 6240, 6208]),
    ];
    token_table(&rows)
}

fn token_table(rows: &[(Quality, [u32; 3])]) -> Vec<OutputTokens> {
    rows.iter()
        .flat_map(|(quality, per_size)| {
            GPT_SIZES
                .iter()
                .zip(per_size)
                .map(|(size, tokens)| OutputTokens {
                    quality: *quality,
                    size: *size,
                    tokens: *tokens,
                })
        })
        .collect()
}

fn gpt_model(id: &str, pricing: TokenRates, sizes: SizeRule) -> ModelSpec {
    ModelSpec {
        id: id.into(),
        upstream_id: id.into(),
        family: ModelFamily::GptImage,
        sizes,
        qualities: vec![Quality::Auto, Quality::Low, Quality::Medium, Quality::High],
        default_quality: Quality::Auto,
        max_n: 10,
        max_prompt_chars: 32_000,
        output_formats: OutputFormat::ALL.to_vec(),
        output_compression: true,
        backgrounds: Background::ALL.to_vec(),
        styles: vec![],
        moderation: true,
        streaming: true,
        reports_usage: true,
        revises_prompt: false,
        pricing: Pricing::Tokens(pricing),
        edits: Some(EditCaps::gpt()),
        variations: false,
        input_fidelity: !matches!(
            id,
            "gpt-image-2" | "gpt-image-2-2026-04-21" | "gpt-image-1-mini"
        ),
    }
}

fn fixed_gpt_sizes() -> SizeRule {
    SizeRule::Fixed {
        sizes: GPT_SIZES.to_vec(),
        auto: true,
    }
}

fn price_table(rows: &[(Quality, Dimensions, u64)]) -> Pricing {
    Pricing::PerImage {
        prices: rows
            .iter()
            .map(|(quality, size, micros)| ImagePrice {
                quality: *quality,
                size: *size,
                price: Money::from_micros(*micros),
            })
            .collect(),
    }
}

/// The models ArtGen ships with, with the reference's capabilities and prices.
pub fn default_models() -> Vec<ModelSpec> {
    let gpt_image_1 = TokenRates {
        text_input: usd(5_000_000),
        image_input: usd(10_000_000),
        image_output: usd(40_000_000),
        text_output: usd(0),
        output_tokens: gpt_image_tokens(),
    };
    let gpt_image_15 = TokenRates {
        text_input: usd(5_000_000),
        image_input: usd(8_000_000),
        image_output: usd(32_000_000),
        text_output: usd(10_000_000),
        output_tokens: gpt_image_tokens(),
    };
    // The mini model's token counts are not published; these are its list prices divided by
    // its $8/M output rate, so that estimates match the per-image prices.
    let mini = TokenRates {
        text_input: usd(2_000_000),
        image_input: usd(2_500_000),
        image_output: usd(8_000_000),
        text_output: usd(0),
        output_tokens: token_table(&[
            (Quality::Low, [625, 750, 750]),
            (Quality::Medium, [1375, 1875, 1875]),
            (Quality::High, [4500, 6500, 6500]),
        ]),
    };
    // gpt-image-2: community readings of the calculator (uncertain in the reference); free
    // sizes are estimated by scaling the square entry by pixel count.
    let gpt_image_2 = TokenRates {
        text_input: usd(5_000_000),
        image_input: usd(8_000_000),
        image_output: usd(30_000_000),
        text_output: usd(10_000_000),
        output_tokens: token_table(&[
            (Quality::Low, [200, 167, 167]),
            (Quality::Medium, [1767, 1367, 1367]),
            (Quality::High, [7024, 5488, 5488]),
        ]),
    };
    let free = SizeRule::Free {
        edge_multiple: 16,
        max_ratio: 3,
        min_pixels: 655_360,
        max_pixels: 8_294_400,
        max_edge: 3840,
    };
    let mut gpt2 = gpt_model("gpt-image-2", gpt_image_2.clone(), free.clone());
    gpt2.default_quality = Quality::Auto;
    let mut gpt2_snapshot = gpt_model("gpt-image-2-2026-04-21", gpt_image_2, free);
    gpt2_snapshot.default_quality = Quality::Auto;

    let dalle3 = ModelSpec {
        id: "dall-e-3".into(),
        upstream_id: "dall-e-3".into(),
        family: ModelFamily::DallE3,
        sizes: SizeRule::Fixed {
            sizes: vec![d(1024, 1024), d(1792, 1024), d(1024, 1792)],
            auto: false,
        },
        qualities: vec![Quality::Standard, Quality::Hd],
        default_quality: Quality::Standard,
        max_n: 1,
        max_prompt_chars: 4000,
        output_formats: vec![OutputFormat::Png],
        output_compression: false,
        backgrounds: vec![],
        styles: Style::ALL.to_vec(),
        moderation: false,
        streaming: false,
        reports_usage: false,
        revises_prompt: true,
        pricing: price_table(&[
            (Quality::Standard, d(1024, 1024), 40_000),
            (Quality::Standard, d(1792, 1024), 80_000),
            (Quality::Standard, d(1024, 1792), 80_000),
            (Quality::Hd, d(1024, 1024), 80_000),
            (Quality::Hd, d(1792, 1024), 120_000),
            (Quality::Hd, d(1024, 1792), 120_000),
        ]),
        edits: None,
        variations: false,
        input_fidelity: false,
    };
    let dalle2 = ModelSpec {
        id: "dall-e-2".into(),
        upstream_id: "dall-e-2".into(),
        family: ModelFamily::DallE2,
        sizes: SizeRule::Fixed {
            sizes: vec![d(256, 256), d(512, 512), d(1024, 1024)],
            auto: false,
        },
        qualities: vec![Quality::Standard],
        default_quality: Quality::Standard,
        max_n: 10,
        max_prompt_chars: 1000,
        output_formats: vec![OutputFormat::Png],
        output_compression: false,
        backgrounds: vec![],
        styles: vec![],
        moderation: false,
        streaming: false,
        reports_usage: false,
        revises_prompt: false,
        pricing: price_table(&[
            (Quality::Standard, d(256, 256), 16_000),
            (Quality::Standard, d(512, 512), 18_000),
            (Quality::Standard, d(1024, 1024), 20_000),
        ]),
        edits: Some(EditCaps::dall_e_2()),
        variations: true,
        input_fidelity: false,
    };

    vec![
        gpt2,
        gpt2_snapshot,
        gpt_model("gpt-image-1.5", gpt_image_15.clone(), fixed_gpt_sizes()),
        gpt_model("chatgpt-image-latest", gpt_image_15, fixed_gpt_sizes()),
        gpt_model("gpt-image-1", gpt_image_1, fixed_gpt_sizes()),
        gpt_model("gpt-image-1-mini", mini, fixed_gpt_sizes()),
        dalle3,
        dalle2,
    ]
}
