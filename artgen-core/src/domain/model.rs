//! The model catalogue: what each model accepts and what it costs, as data.
//!
//! The shipped defaults come from the upstream reference; a [`CatalogConfig`] (read from the
//! server's config file) can add models and aliases or change prices without a code change.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::options::{Background, Dimensions, OutputFormat, Quality, Style};
use super::pricing::{ImagePrice, Money, OutputTokens, PerMillionTokens, Pricing, TokenRates};
use crate::error::{Error, ErrorCode, Result};

/// Which API family a model belongs to; decides how the request is sent upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFamily {
    /// gpt-image-* and chatgpt-image-latest: base64 output, usage reported, streaming.
    GptImage,
    /// dall-e-3.
    DallE3,
    /// dall-e-2.
    DallE2,
}

/// Which sizes a model accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SizeRule {
    /// A fixed list of sizes, optionally `auto`.
    Fixed {
        /// Allowed sizes.
        sizes: Vec<Dimensions>,
        /// Whether `auto` is accepted.
        auto: bool,
    },
    /// Any `WxH` within limits, and `auto` (gpt-image-2).
    Free {
        /// Each edge must be a multiple of this.
        edge_multiple: u32,
        /// Longest edge over shortest edge may not exceed this.
        max_ratio: u32,
        /// Fewest total pixels.
        min_pixels: u64,
        /// Most total pixels.
        max_pixels: u64,
        /// Longest allowed edge.
        max_edge: u32,
    },
}

impl SizeRule {
    /// Checks a concrete size against the rule, explaining a refusal.
    pub fn check(&self, size: Dimensions) -> std::result::Result<(), String> {
        match self {
            SizeRule::Fixed { sizes, .. } => {
                if sizes.contains(&size) {
                    Ok(())
                } else {
                    Err(format!("size must be one of: {}", self.describe()))
                }
            }
            SizeRule::Free {
                edge_multiple,
                max_ratio,
                min_pixels,
                max_pixels,
                max_edge,
            } => {
                let (w, h) = (size.width, size.height);
                if w == 0 || h == 0 || w % edge_multiple != 0 || h % edge_multiple != 0 {
                    return Err(format!(
                        "each edge must be a positive multiple of {edge_multiple}"
                    ));
                }
                if w.max(h) > *max_edge {
                    return Err(format!("the longest edge may be at most {max_edge} px"));
                }
                if u64::from(w.max(h)) > u64::from(w.min(h)) * u64::from(*max_ratio) {
                    return Err(format!(
                        "the aspect ratio must be between 1:{max_ratio} and {max_ratio}:1"
                    ));
                }
                let px = size.pixels();
                if px < *min_pixels || px > *max_pixels {
                    return Err(format!(
                        "total pixels must be between {min_pixels} and {max_pixels} (got {px})"
                    ));
                }
                Ok(())
            }
        }
    }

    /// Whether `auto` is accepted.
    pub fn accepts_auto(&self) -> bool {
        match self {
            SizeRule::Fixed { auto, .. } => *auto,
            SizeRule::Free { .. } => true,
        }
    }

    /// A human description of the allowed sizes.
    pub fn describe(&self) -> String {
        match self {
            SizeRule::Fixed { sizes, auto } => {
                let mut all: Vec<String> = sizes.iter().map(ToString::to_string).collect();
                if *auto {
                    all.push("auto".into());
                }
                all.join(", ")
            }
            SizeRule::Free {
                edge_multiple,
                max_ratio,
                max_edge,
                ..
            } => format!(
                "auto or WIDTHxHEIGHT with edges multiple of {edge_multiple}, \
                 at most {max_edge} px, ratio within {max_ratio}:1"
            ),
        }
    }
}

/// Everything ArtGen knows about one model: its capability matrix and its prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The id callers send.
    pub id: String,
    /// The id sent upstream.
    pub upstream_id: String,
    /// API family.
    pub family: ModelFamily,
    /// Accepted sizes.
    pub sizes: SizeRule,
    /// Accepted qualities.
    pub qualities: Vec<Quality>,
    /// Quality used when the caller sends none.
    pub default_quality: Quality,
    /// Largest `n`.
    pub max_n: u8,
    /// Longest prompt, in characters.
    pub max_prompt_chars: u32,
    /// Accepted output formats.
    pub output_formats: Vec<OutputFormat>,
    /// Whether `output_compression` is accepted (with jpeg/webp).
    pub output_compression: bool,
    /// Accepted backgrounds (empty: the parameter is not supported).
    pub backgrounds: Vec<Background>,
    /// Accepted styles (empty: not supported).
    pub styles: Vec<Style>,
    /// Whether `moderation` is accepted.
    pub moderation: bool,
    /// Whether `stream` is accepted.
    pub streaming: bool,
    /// Whether the upstream reports token usage.
    pub reports_usage: bool,
    /// Whether the upstream returns a revised prompt.
    pub revises_prompt: bool,
    /// Prices.
    pub pricing: Pricing,
    /// What the model accepts for edits (`None`: no edits).
    pub edits: Option<EditCaps>,
    /// Whether the model makes variations of an image.
    pub variations: bool,
    /// Whether edits accept `input_fidelity`.
    pub input_fidelity: bool,
}

/// What a model accepts as edit input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditCaps {
    /// Most input images.
    pub max_images: u8,
    /// Largest input image (and mask), bytes.
    pub max_image_bytes: u64,
    /// Accepted input formats.
    pub input_formats: Vec<OutputFormat>,
    /// Whether inputs must be square.
    pub square_only: bool,
}

impl EditCaps {
    fn gpt() -> Self {
        Self {
            max_images: 16,
            max_image_bytes: 50 * 1024 * 1024,
            input_formats: OutputFormat::ALL.to_vec(),
            square_only: false,
        }
    }

    fn dall_e_2() -> Self {
        Self {
            max_images: 1,
            max_image_bytes: 4 * 1024 * 1024,
            input_formats: vec![OutputFormat::Png],
            square_only: true,
        }
    }
}

/// The largest upload any model of the catalogue accepts, bytes.
pub fn largest_edit_input(catalog: &Catalog) -> u64 {
    catalog
        .models()
        .filter_map(|m| m.edits.as_ref().map(|e| e.max_image_bytes))
        .max()
        .unwrap_or(0)
}

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

/// Price overrides for one model, in dollars (converted to micro-dollars on load).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    /// USD per 1M text input tokens.
    pub text_input_per_mtok: Option<f64>,
    /// USD per 1M image input tokens.
    pub image_input_per_mtok: Option<f64>,
    /// USD per 1M image output tokens.
    pub image_output_per_mtok: Option<f64>,
    /// USD per 1M text output tokens.
    pub text_output_per_mtok: Option<f64>,
    /// USD per image, keyed by `"quality:WxH"` (per-image models).
    #[serde(default)]
    pub per_image: BTreeMap<String, f64>,
}

/// A model added by configuration: it behaves like an existing one, under its own id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddedModel {
    /// The existing model whose capabilities and prices it copies.
    pub like: String,
    /// The id sent upstream (default: the new model's own id).
    pub upstream_id: Option<String>,
}

/// Catalogue changes from the config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// New models, by id.
    pub models: BTreeMap<String, AddedModel>,
    /// Alternative names: alias → model id.
    pub aliases: BTreeMap<String, String>,
    /// Price changes, by model id.
    pub prices: BTreeMap<String, PriceOverride>,
}

/// The resolved catalogue: models by id and aliases.
#[derive(Debug, Clone)]
pub struct Catalog {
    models: BTreeMap<String, Arc<ModelSpec>>,
    aliases: BTreeMap<String, String>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::from_models(default_models())
    }
}

impl Catalog {
    /// A catalogue of exactly these models.
    pub fn from_models(models: impl IntoIterator<Item = ModelSpec>) -> Self {
        Self {
            models: models
                .into_iter()
                .map(|m| (m.id.clone(), Arc::new(m)))
                .collect(),
            aliases: BTreeMap::new(),
        }
    }

    /// The shipped catalogue with the config's changes applied.
    ///
    /// # Errors
    /// `invalid_request` naming the config entry when a model, alias or price refers to an
    /// unknown model or a price is not a valid amount.
    pub fn with_config(config: &CatalogConfig) -> Result<Self> {
        let mut catalog = Self::default();
        for (id, added) in &config.models {
            let base = catalog.models.get(&added.like).ok_or_else(|| {
                config_error(format!("models.{id}.like: unknown model '{}'", added.like))
            })?;
            let mut spec = (**base).clone();
            spec.id.clone_from(id);
            spec.upstream_id = added.upstream_id.clone().unwrap_or_else(|| id.clone());
            catalog.models.insert(id.clone(), Arc::new(spec));
        }
        for (alias, target) in &config.aliases {
            if !catalog.models.contains_key(target) {
                return Err(config_error(format!(
                    "aliases.{alias}: unknown model '{target}'"
                )));
            }
            catalog.aliases.insert(alias.clone(), target.clone());
        }
        for (id, change) in &config.prices {
            let spec = catalog
                .models
                .get_mut(id)
                .ok_or_else(|| config_error(format!("prices.{id}: unknown model")))?;
            apply_price(Arc::make_mut(spec), change)
                .map_err(|e| config_error(format!("prices.{id}: {e}")))?;
        }
        Ok(catalog)
    }

    /// Looks a model up by id or alias.
    pub fn get(&self, id_or_alias: &str) -> Option<&Arc<ModelSpec>> {
        let id = self
            .aliases
            .get(id_or_alias)
            .map_or(id_or_alias, String::as_str);
        self.models.get(id)
    }

    /// Every model, by id.
    pub fn models(&self) -> impl Iterator<Item = &Arc<ModelSpec>> {
        self.models.values()
    }

    /// Every alias and its target.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &str)> {
        self.aliases.iter().map(|(a, t)| (a.as_str(), t.as_str()))
    }
}

fn config_error(message: String) -> Error {
    Error::new(ErrorCode::InvalidRequest, message).with_param("config")
}

fn apply_price(spec: &mut ModelSpec, change: &PriceOverride) -> std::result::Result<(), String> {
    let money = |usd: f64| Money::from_usd(usd).ok_or_else(|| format!("invalid amount {usd}"));
    match &mut spec.pricing {
        Pricing::Tokens(rates) => {
            let fields = [
                (change.text_input_per_mtok, &mut rates.text_input),
                (change.image_input_per_mtok, &mut rates.image_input),
                (change.image_output_per_mtok, &mut rates.image_output),
                (change.text_output_per_mtok, &mut rates.text_output),
            ];
            for (value, slot) in fields {
                if let Some(usd) = value {
                    *slot = PerMillionTokens(money(usd)?);
                }
            }
            if !change.per_image.is_empty() {
                return Err("per_image prices apply only to per-image models".into());
            }
        }
        Pricing::PerImage { prices } => {
            for (key, usd) in &change.per_image {
                let (quality, size) = key
                    .split_once(':')
                    .and_then(|(q, s)| Some((q.parse::<Quality>().ok()?, Dimensions::parse(s)?)))
                    .ok_or_else(|| format!("per_image key '{key}' is not 'quality:WxH'"))?;
                let price = money(*usd)?;
                match prices
                    .iter_mut()
                    .find(|p| p.quality == quality && p.size == size)
                {
                    Some(existing) => existing.price = price,
                    None => prices.push(ImagePrice {
                        quality,
                        size,
                        price,
                    }),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
