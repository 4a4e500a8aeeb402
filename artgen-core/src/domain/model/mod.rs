//! The model catalogue: what each model accepts, what it costs and when it retires, as data.
//!
//! The shipped catalogue is `artgen-core/catalog.toml`, compiled in. An operator's file of the
//! same shape and the server config's `catalog.*` entries are merged over it at start
//! ([`Catalog::load`]), so a model that appears, changes price or retires next month needs no
//! release.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::options::{Background, Dimensions, OutputFormat, Quality, Style};
use super::pricing::Pricing;
use super::usage::Operation;
use crate::error::{Error, ErrorCode, Result};

mod file;
mod lifecycle;
mod policy;

pub use file::{CatalogConfig, CatalogSource, SHIPPED_CATALOG};
pub use lifecycle::{Date, Lifecycle, LifecycleState, RETIREMENT_WARNING_DAYS};
pub use policy::{CatalogPolicy, RetiredModels, UnknownParams, UnpricedModels};

/// Which API family a model belongs to; decides the shape of its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFamily {
    /// gpt-image-* and chatgpt-image-latest: base64 output, usage reported, options echoed.
    GptImage,
    /// dall-e-3.
    #[serde(rename = "dall_e_3")]
    DallE3,
    /// dall-e-2.
    #[serde(rename = "dall_e_2")]
    DallE2,
}

/// Which sizes a model accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SizeRule {
    /// A fixed list of sizes, optionally `auto`.
    Fixed {
        /// Allowed sizes.
        sizes: Vec<Dimensions>,
        /// Whether `auto` is accepted.
        auto: bool,
    },
    /// Any `WxH` within limits, and `auto` (gpt-image-2 and later).
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
    ///
    /// # Errors
    /// A caller-safe sentence saying which rule the size breaks.
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
                let multiple = (*edge_multiple).max(1);
                if w == 0 || h == 0 || w % multiple != 0 || h % multiple != 0 {
                    return Err(format!(
                        "each edge must be a positive multiple of {multiple}"
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

/// What a model accepts as edit input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditCaps {
    /// Most input images.
    pub max_images: u8,
    /// Largest input image (and mask or markup), bytes.
    pub max_image_bytes: u64,
    /// Accepted input formats.
    pub input_formats: Vec<OutputFormat>,
    /// Whether inputs must be square.
    pub square_only: bool,
    /// Whether a `mask` is accepted.
    #[serde(default = "yes")]
    pub mask: bool,
    /// Whether a `markup` overlay is accepted (gpt-image-2.5).
    #[serde(default)]
    pub markup: bool,
}

/// Animated GIF output limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GifCaps {
    /// Fewest frames.
    pub min_frames: u8,
    /// Most frames.
    pub max_frames: u8,
    /// Frames when `frame_count` is not sent.
    pub default_frames: u8,
    /// Frame duration when `frame_duration_ms` is not sent.
    pub default_frame_duration_ms: u32,
}

const fn yes() -> bool {
    true
}

/// Everything ArtGen knows about one model: capabilities, prices and lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelSpec {
    /// The id callers send.
    pub id: String,
    /// The id sent upstream.
    pub upstream_id: String,
    /// API family.
    pub family: ModelFamily,
    /// One line for listings.
    pub description: String,
    /// The model this one is a dated snapshot of.
    pub snapshot_of: Option<String>,
    /// Retirement date and replacements.
    pub lifecycle: Lifecycle,
    /// Accepted sizes.
    pub sizes: SizeRule,
    /// Size used when the caller sends none and `auto` is not accepted.
    pub default_size: Option<Dimensions>,
    /// Accepted qualities.
    pub qualities: Vec<Quality>,
    /// Quality used when the caller sends none (or `auto` where the model has no `auto`).
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
    /// Whether `complexity` is accepted.
    pub complexity: bool,
    /// Whether the upstream takes `response_format` (DALL·E): ArtGen always asks for base64.
    pub response_format: bool,
    /// Whether `stream` is accepted.
    pub streaming: bool,
    /// Most `partial_images` while streaming.
    pub max_partial_images: u8,
    /// Whether the upstream reports token usage.
    pub reports_usage: bool,
    /// Whether the upstream returns a revised prompt.
    pub revises_prompt: bool,
    /// GIF limits, where `gif` is an output format.
    pub gif: Option<GifCaps>,
    /// Whether the `svg` options object is accepted, where `svg` is an output format.
    pub svg: bool,
    /// Prices.
    pub pricing: Pricing,
    /// Where the prices come from.
    pub price_source: String,
    /// What the model accepts for edits (`None`: no edits).
    pub edits: Option<EditCaps>,
    /// Whether the model makes variations of an image.
    pub variations: bool,
    /// Whether edits accept `input_fidelity`.
    pub input_fidelity: bool,
    /// What is uncertain or assumed about this entry.
    pub notes: Vec<String>,
    /// `false` for the permissive stand-in of a model the catalogue does not know.
    pub known: bool,
}

impl ModelSpec {
    /// A stand-in for a model the catalogue does not know, served only when the operator opts
    /// in: it accepts every value ArtGen can type-check and leaves the rest to the upstream.
    pub fn unknown(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            upstream_id: id.to_owned(),
            family: ModelFamily::GptImage,
            description: "not in the catalogue: served as the operator allows, unpriced".into(),
            snapshot_of: None,
            lifecycle: Lifecycle::default(),
            sizes: SizeRule::Free {
                edge_multiple: 1,
                max_ratio: 16,
                min_pixels: 1,
                max_pixels: 64 * 1024 * 1024,
                max_edge: 16_384,
            },
            default_size: None,
            qualities: Quality::ALL.to_vec(),
            default_quality: Quality::Auto,
            max_n: 10,
            max_prompt_chars: 32_000,
            output_formats: OutputFormat::ALL.to_vec(),
            output_compression: true,
            backgrounds: Background::ALL.to_vec(),
            styles: Style::ALL.to_vec(),
            moderation: true,
            complexity: true,
            response_format: false,
            streaming: true,
            max_partial_images: 3,
            reports_usage: true,
            revises_prompt: true,
            gif: Some(GifCaps {
                min_frames: 2,
                max_frames: 16,
                default_frames: 9,
                default_frame_duration_ms: 200,
            }),
            svg: true,
            pricing: Pricing::Unknown,
            price_source: "not in the catalogue".into(),
            edits: Some(EditCaps {
                max_images: 16,
                max_image_bytes: 50 * 1024 * 1024,
                input_formats: vec![OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp],
                square_only: false,
                mask: true,
                markup: true,
            }),
            variations: true,
            input_fidelity: true,
            notes: vec!["not in the catalogue".into()],
            known: false,
        }
    }

    /// The lifecycle state on `today`.
    pub fn state(&self, today: Date) -> LifecycleState {
        self.lifecycle.state(today)
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

/// The models used when a request names none, per operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultModels {
    /// For generations.
    pub generate: String,
    /// For edits.
    pub edit: String,
    /// For variations.
    pub variation: String,
}

impl DefaultModels {
    /// The default for an operation.
    pub fn for_operation(&self, operation: Operation) -> &str {
        match operation {
            Operation::Generate => &self.generate,
            Operation::Edit => &self.edit,
            Operation::Variation => &self.variation,
        }
    }
}

/// The resolved catalogue: models by id, aliases, per-operation defaults and the policy for
/// what it does not know.
#[derive(Debug, Clone)]
pub struct Catalog {
    models: BTreeMap<String, Arc<ModelSpec>>,
    aliases: BTreeMap<String, String>,
    defaults: DefaultModels,
    policy: CatalogPolicy,
}

impl Default for Catalog {
    /// The shipped catalogue with the default policy.
    fn default() -> Self {
        Self::shipped()
    }
}

impl Catalog {
    /// The catalogue compiled into the binary, with the default policy.
    pub fn shipped() -> Self {
        #[expect(
            clippy::expect_used,
            reason = "the shipped file is checked by the unit tests of this module"
        )]
        Self::load(&[], &CatalogConfig::default()).expect("the shipped catalogue loads")
    }

    /// The shipped catalogue, then each source in order, then the server config's entries.
    ///
    /// # Errors
    /// `invalid_request` (`param = "catalog"`) naming the source and the entry when a file is
    /// not valid TOML, an entry has an unknown key or a wrong value, `like` names an unknown
    /// model or forms a cycle, an alias or default names an unknown model, or a price is not a
    /// valid amount.
    pub fn load(sources: &[CatalogSource<'_>], config: &CatalogConfig) -> Result<Self> {
        file::load(sources, config)
    }

    /// The shipped catalogue with the server config's entries applied (no operator file).
    ///
    /// # Errors
    /// As [`Catalog::load`].
    pub fn with_config(config: &CatalogConfig) -> Result<Self> {
        Self::load(&[], config)
    }

    /// A catalogue of exactly these models (for tests and embedding), with defaults taken from
    /// the first model.
    pub fn from_models(models: impl IntoIterator<Item = ModelSpec>) -> Self {
        let models: BTreeMap<_, _> = models
            .into_iter()
            .map(|m| (m.id.clone(), Arc::new(m)))
            .collect();
        let first = models.keys().next().cloned().unwrap_or_default();
        Self {
            models,
            aliases: BTreeMap::new(),
            defaults: DefaultModels {
                generate: first.clone(),
                edit: first.clone(),
                variation: first,
            },
            policy: CatalogPolicy::default(),
        }
    }

    /// The same catalogue under another policy.
    #[must_use]
    pub fn with_policy(mut self, policy: CatalogPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The policy for unknown parameters, unpriced models and retired models.
    pub fn policy(&self) -> &CatalogPolicy {
        &self.policy
    }

    /// Looks a model up by alias or id (an alias may shadow an id).
    pub fn get(&self, id_or_alias: &str) -> Option<&Arc<ModelSpec>> {
        let id = self
            .aliases
            .get(id_or_alias)
            .map_or(id_or_alias, String::as_str);
        self.models.get(id)
    }

    /// The model a request names (or the operation's default when it names none), applying
    /// the policy for models the catalogue does not know and models without a price.
    ///
    /// # Errors
    /// `model_not_found` (`param = "model"`) for an unknown model, saying how to add it,
    /// unless the policy serves unpriced models; `model_unpriced` for a model without a price,
    /// naming the config key that sets it, under the same policy.
    pub fn resolve(&self, requested: &str, operation: Operation) -> Result<Arc<ModelSpec>> {
        let id = if requested.is_empty() {
            self.defaults.for_operation(operation)
        } else {
            requested
        };
        let serve_unpriced = self.policy.unpriced == UnpricedModels::Serve;
        match self.get(id) {
            Some(model) if model.pricing.is_known() || serve_unpriced => Ok(model.clone()),
            Some(model) => Err(Error::new(
                ErrorCode::ModelUnpriced,
                format!(
                    "model '{}' has no known price, so it is not served; the operator sets it \
                     with catalog.models.\"{}\".price in the catalogue file, or serves \
                     unpriced models with catalog.unpriced = \"serve\"",
                    model.id, model.id
                ),
            )
            .with_param("model")),
            None if serve_unpriced && is_plausible_model_id(id) => {
                Ok(Arc::new(ModelSpec::unknown(id)))
            }
            None => Err(Error::new(
                ErrorCode::ModelNotFound,
                format!(
                    "unknown model '{}'; the operator adds it with one catalogue entry, e.g. \
                     [models.\"{}\"] like = \"gpt-image-2\" and a price, or serves unknown \
                     models unpriced with catalog.unpriced = \"serve\"",
                    truncate(id),
                    truncate(id)
                ),
            )
            .with_param("model")),
        }
    }

    /// Whether a request for `model` is refused on `today` because the model is retired and
    /// the policy refuses retired models (toward OpenAI's own API).
    pub fn refuses_retired(&self, model: &ModelSpec, today: Date) -> bool {
        self.policy.retired == RetiredModels::Refuse
            && matches!(model.state(today), LifecycleState::Retired(_))
    }

    /// Whether a request for `model` can succeed on `today` under the policy: it has a known
    /// price (or unpriced models are served) and is not refused as retired.
    pub fn serves(&self, model: &ModelSpec, today: Date) -> bool {
        let priced = model.pricing.is_known() || self.policy.unpriced == UnpricedModels::Serve;
        priced && !self.refuses_retired(model, today)
    }

    /// The model used for an operation when a request names none.
    pub fn default_model(&self, operation: Operation) -> &str {
        self.defaults.for_operation(operation)
    }

    /// Every model, by id.
    pub fn models(&self) -> impl Iterator<Item = &Arc<ModelSpec>> {
        self.models.values()
    }

    /// Every alias and its target.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &str)> {
        self.aliases.iter().map(|(a, t)| (a.as_str(), t.as_str()))
    }

    /// The per-operation defaults.
    pub fn defaults(&self) -> &DefaultModels {
        &self.defaults
    }

    pub(crate) fn from_parts(
        models: BTreeMap<String, Arc<ModelSpec>>,
        aliases: BTreeMap<String, String>,
        defaults: DefaultModels,
        policy: CatalogPolicy,
    ) -> Self {
        Self {
            models,
            aliases,
            defaults,
            policy,
        }
    }
}

/// Ids an upstream could serve: printable ASCII without spaces, at most 128 bytes.
fn is_plausible_model_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests;
