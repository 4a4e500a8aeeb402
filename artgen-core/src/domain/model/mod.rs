//! The model catalogue: what each model accepts and what it costs, as data.
//!
//! The shipped defaults come from the upstream reference; a [`CatalogConfig`] (read from the
//! server's config file) can add models and aliases or change prices without a code change.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::options::{Background, Dimensions, OutputFormat, Quality, Style};
use super::pricing::{ImagePrice, Money, PerMillionTokens, Pricing};
use crate::error::{Error, ErrorCode, Result};

mod catalogue;

pub use catalogue::default_models;

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
mod tests;
