//! The catalogue's data format: TOML tables merged in layers, `like` inheritance, and the
//! conversion of each resolved entry into a [`ModelSpec`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use super::lifecycle::{Date, Lifecycle};
use super::policy::{CatalogPolicy, UnpricedModels};
use super::{Catalog, DefaultModels, EditCaps, GifCaps, ModelFamily, ModelSpec, SizeRule};
use crate::domain::options::{Background, Dimensions, OutputFormat, Quality, Style};
use crate::domain::pricing::{
    ImagePrice, Money, OutputTokens, PerMillionTokens, Pricing, TokenRates,
};
use crate::error::{Error, ErrorCode, Result};

/// The catalogue shipped inside the binary (`artgen-core/catalog.toml`).
pub const SHIPPED_CATALOG: &str = include_str!("../../../catalog.toml");

/// Keys a `like` entry does not inherit: they describe one model, not its capabilities.
const NOT_INHERITED: [&str; 5] = [
    "description",
    "snapshot_of",
    "retired_on",
    "replacement",
    "upstream_id",
];

/// One catalogue file's text and where it came from (for error messages).
#[derive(Debug, Clone, Copy)]
pub struct CatalogSource<'a> {
    /// Where the text came from, e.g. a path.
    pub origin: &'a str,
    /// The file's TOML text.
    pub text: &'a str,
}

/// Catalogue changes in the server's config (`[catalog]`), applied after the files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Model entries in the catalogue file's format, merged over it (e.g. `{ like =
    /// "gpt-image-2", upstream_id = "…", price = { … } }`).
    pub models: BTreeMap<String, Table>,
    /// Alternative names: alias → model id. An alias may shadow a model id.
    pub aliases: BTreeMap<String, String>,
    /// Price changes by model id: shorthand for `models.<id>.price`.
    pub prices: BTreeMap<String, Table>,
    /// Default model per operation (`generate`, `edit`, `variation`).
    pub defaults: BTreeMap<String, String>,
    /// Whether models without a known price (and models not in the catalogue) are served.
    pub unpriced: UnpricedModels,
}

fn config_error(message: String) -> Error {
    Error::new(ErrorCode::InvalidRequest, message).with_param("catalog")
}

/// Merges `over` into `base`, table by table. A table of another `kind` (a `price` or
/// `sizes`) replaces the inherited one whole, so fields never leak from one kind into another.
fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(inner)), Value::Table(value)) => {
                let kind_changes = value
                    .get("kind")
                    .is_some_and(|kind| inner.get("kind") != Some(kind));
                if kind_changes {
                    *inner = value;
                } else {
                    merge(inner, value);
                }
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The layers' tables, merged, before `like` is resolved.
#[derive(Default)]
struct Raw {
    models: BTreeMap<String, Table>,
    aliases: BTreeMap<String, String>,
    defaults: Table,
    /// `catalog.prices`: changes to a model's effective price, applied after `like`.
    price_changes: BTreeMap<String, Table>,
}

impl Raw {
    fn add_file(&mut self, origin: &str, text: &str) -> Result<()> {
        let root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| config_error(format!("{origin}: {}", e.message())))?;
        for (key, value) in root {
            let table = |value: Value| match value {
                Value::Table(t) => Ok(t),
                _ => Err(config_error(format!("{origin}: '{key}' must be a table"))),
            };
            match key.as_str() {
                "models" => {
                    for (id, entry) in table(value)? {
                        let Value::Table(entry) = entry else {
                            return Err(config_error(format!(
                                "{origin}: models.\"{id}\" must be a table"
                            )));
                        };
                        self.add_model(id, entry);
                    }
                }
                "aliases" => {
                    for (alias, target) in table(value)? {
                        let Value::String(target) = target else {
                            return Err(config_error(format!(
                                "{origin}: aliases.\"{alias}\" must be a model id"
                            )));
                        };
                        self.aliases.insert(alias, target);
                    }
                }
                "defaults" => merge(&mut self.defaults, table(value)?),
                other => {
                    return Err(config_error(format!(
                        "{origin}: unknown top-level key '{other}' (expected models, aliases, defaults)"
                    )))
                }
            }
        }
        Ok(())
    }

    fn add_model(&mut self, id: String, entry: Table) {
        match self.models.get_mut(&id) {
            Some(existing) => merge(existing, entry),
            None => {
                self.models.insert(id, entry);
            }
        }
    }

    fn add_config(&mut self, config: &CatalogConfig) -> Result<()> {
        for (id, entry) in &config.models {
            self.add_model(id.clone(), entry.clone());
        }
        for (id, price) in &config.prices {
            if !self.models.contains_key(id) {
                return Err(config_error(format!(
                    "catalog.prices.\"{id}\": unknown model"
                )));
            }
            self.price_changes.insert(id.clone(), price.clone());
        }
        self.aliases.extend(config.aliases.clone());
        for (operation, model) in &config.defaults {
            self.defaults
                .insert(operation.clone(), Value::String(model.clone()));
        }
        Ok(())
    }

    /// The entry with its `like` chain applied.
    fn resolve(&self, id: &str, chain: &mut Vec<String>) -> Result<Table> {
        let Some(own) = self.models.get(id) else {
            let from = chain
                .last()
                .map_or(String::new(), |c| format!("models.\"{c}\".like: "));
            return Err(config_error(format!("{from}unknown model '{id}'")));
        };
        if chain.iter().any(|c| c == id) {
            chain.push(id.to_owned());
            return Err(config_error(format!(
                "a 'like' cycle: {}",
                chain.join(" → ")
            )));
        }
        let mut own = own.clone();
        let Some(like) = own.remove("like") else {
            return Ok(own);
        };
        let Value::String(like) = like else {
            return Err(config_error(format!(
                "models.\"{id}\".like must be a model id"
            )));
        };
        chain.push(id.to_owned());
        let mut base = self.resolve(&like, chain)?;
        chain.pop();
        for key in NOT_INHERITED {
            base.remove(key);
        }
        // A model that states a price states all of it: rates and token tables of the model
        // it is like are not mixed into it.
        if own.contains_key("price") {
            base.remove("price");
        }
        merge(&mut base, own);
        Ok(base)
    }
}

/// Loads the shipped catalogue, the sources and the config, in that order.
pub(super) fn load(sources: &[CatalogSource<'_>], config: &CatalogConfig) -> Result<Catalog> {
    let mut raw = Raw::default();
    raw.add_file("the shipped catalogue", SHIPPED_CATALOG)?;
    for source in sources {
        raw.add_file(source.origin, source.text)?;
    }
    raw.add_config(config)?;

    let mut models = BTreeMap::new();
    for id in raw.models.keys() {
        let mut table = raw.resolve(id, &mut Vec::new())?;
        if let Some(change) = raw.price_changes.get(id) {
            let mut over = Table::new();
            over.insert("price".into(), Value::Table(change.clone()));
            merge(&mut table, over);
        }
        let entry: ModelEntry = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                config_error(format!("models.\"{id}\": {}", e.message()))
            })?;
        let spec = entry
            .into_spec(id)
            .map_err(|e| config_error(format!("models.\"{id}\": {e}")))?;
        models.insert(id.clone(), Arc::new(spec));
    }
    for (alias, target) in &raw.aliases {
        if !models.contains_key(target) {
            return Err(config_error(format!(
                "aliases.\"{alias}\": unknown model '{target}'"
            )));
        }
    }
    let defaults: DefaultModels = Value::Table(raw.defaults)
        .try_into()
        .map_err(|e: toml::de::Error| config_error(format!("defaults: {}", e.message())))?;
    for model in [&defaults.generate, &defaults.edit, &defaults.variation] {
        let known = models.contains_key(model) || raw.aliases.contains_key(model);
        if !known {
            return Err(config_error(format!("defaults: unknown model '{model}'")));
        }
    }
    let policy = CatalogPolicy::default().with_unpriced(config.unpriced);
    Ok(Catalog::from_parts(models, raw.aliases, defaults, policy))
}

/// One model as the file states it, after `like` is resolved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    family: ModelFamily,
    #[serde(default)]
    upstream_id: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    snapshot_of: Option<String>,
    #[serde(default)]
    retired_on: Option<Date>,
    #[serde(default)]
    replacement: Vec<String>,
    sizes: SizeRule,
    #[serde(default)]
    default_size: Option<Dimensions>,
    qualities: Vec<Quality>,
    default_quality: Quality,
    max_n: u8,
    max_prompt_chars: u32,
    output_formats: Vec<OutputFormat>,
    #[serde(default)]
    output_compression: bool,
    #[serde(default)]
    backgrounds: Vec<Background>,
    #[serde(default)]
    styles: Vec<Style>,
    #[serde(default)]
    moderation: bool,
    #[serde(default)]
    complexity: bool,
    #[serde(default)]
    response_format: bool,
    #[serde(default)]
    streaming: bool,
    #[serde(default)]
    max_partial_images: u8,
    #[serde(default)]
    reports_usage: bool,
    #[serde(default)]
    revises_prompt: bool,
    #[serde(default)]
    gif: Option<GifCaps>,
    #[serde(default)]
    svg: bool,
    price: PriceEntry,
    #[serde(default)]
    edits: Option<EditCaps>,
    #[serde(default)]
    variations: bool,
    #[serde(default)]
    input_fidelity: bool,
    #[serde(default)]
    notes: Vec<String>,
}

/// How a model is billed, as the file states it (dollars; micro-dollars once loaded).
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum PriceEntry {
    Tokens(TokenPrices),
    PerImage(PerImagePrices),
    Unknown(UnknownPrice),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenPrices {
    #[serde(default)]
    source: String,
    text_input_per_mtok: f64,
    image_input_per_mtok: f64,
    image_output_per_mtok: f64,
    #[serde(default)]
    text_output_per_mtok: f64,
    #[serde(default)]
    svg_input_per_mtok: Option<f64>,
    #[serde(default)]
    svg_output_per_mtok: Option<f64>,
    #[serde(default)]
    output_tokens: BTreeMap<String, u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerImagePrices {
    #[serde(default)]
    source: String,
    per_image: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnknownPrice {
    #[serde(default)]
    source: String,
}

fn usd(field: &str, value: f64) -> std::result::Result<Money, String> {
    Money::from_usd(value).ok_or_else(|| format!("price.{field}: invalid amount {value}"))
}

fn per_mtok(field: &str, value: f64) -> std::result::Result<PerMillionTokens, String> {
    usd(field, value).map(PerMillionTokens)
}

/// Parses a `"quality:WIDTHxHEIGHT"` table key.
fn price_key(field: &str, key: &str) -> std::result::Result<(Quality, Dimensions), String> {
    key.split_once(':')
        .and_then(|(q, s)| Some((q.parse::<Quality>().ok()?, Dimensions::parse(s)?)))
        .ok_or_else(|| format!("price.{field}: key '{key}' is not 'quality:WIDTHxHEIGHT'"))
}

impl PriceEntry {
    fn into_pricing(self) -> std::result::Result<(Pricing, String), String> {
        Ok(match self {
            PriceEntry::Unknown(p) => (Pricing::Unknown, p.source),
            PriceEntry::PerImage(p) => {
                let prices = p
                    .per_image
                    .iter()
                    .map(|(key, value)| {
                        let (quality, size) = price_key("per_image", key)?;
                        Ok(ImagePrice {
                            quality,
                            size,
                            price: usd("per_image", *value)?,
                        })
                    })
                    .collect::<std::result::Result<Vec<_>, String>>()?;
                if prices.is_empty() {
                    return Err("price.per_image: at least one price is needed".into());
                }
                (Pricing::PerImage { prices }, p.source)
            }
            PriceEntry::Tokens(p) => {
                let output_tokens = p
                    .output_tokens
                    .iter()
                    .map(|(key, tokens)| {
                        let (quality, size) = price_key("output_tokens", key)?;
                        Ok(OutputTokens {
                            quality,
                            size,
                            tokens: *tokens,
                        })
                    })
                    .collect::<std::result::Result<Vec<_>, String>>()?;
                if output_tokens.is_empty() {
                    return Err(
                        "price.output_tokens: tokens per image by 'quality:WxH' are \
                                needed to estimate before the call"
                            .into(),
                    );
                }
                let rates = TokenRates {
                    text_input: per_mtok("text_input_per_mtok", p.text_input_per_mtok)?,
                    image_input: per_mtok("image_input_per_mtok", p.image_input_per_mtok)?,
                    image_output: per_mtok("image_output_per_mtok", p.image_output_per_mtok)?,
                    text_output: per_mtok("text_output_per_mtok", p.text_output_per_mtok)?,
                    svg_input: p
                        .svg_input_per_mtok
                        .map(|v| per_mtok("svg_input_per_mtok", v))
                        .transpose()?,
                    svg_output: p
                        .svg_output_per_mtok
                        .map(|v| per_mtok("svg_output_per_mtok", v))
                        .transpose()?,
                    output_tokens,
                };
                (Pricing::Tokens(rates), p.source)
            }
        })
    }
}

impl ModelEntry {
    fn into_spec(self, id: &str) -> std::result::Result<ModelSpec, String> {
        let (pricing, price_source) = self.price.into_pricing()?;
        if self.qualities.is_empty() || self.output_formats.is_empty() || self.max_n == 0 {
            return Err("qualities, output_formats and max_n must not be empty".into());
        }
        if !self.qualities.contains(&self.default_quality) && self.default_quality != Quality::Auto
        {
            return Err(format!(
                "default_quality '{}' is not one of its qualities",
                self.default_quality
            ));
        }
        if !self.sizes.accepts_auto() && self.default_size.is_none() {
            return Err("default_size is needed where sizes has no auto".into());
        }
        if let Some(size) = self.default_size {
            self.sizes
                .check(size)
                .map_err(|e| format!("default_size {size}: {e}"))?;
        }
        let formats: BTreeSet<_> = self.output_formats.iter().map(|f| f.as_str()).collect();
        if self.gif.is_none() && formats.contains("gif") {
            return Err("gif is an output format, so a gif table is needed".into());
        }
        if let Some(gif) = self.gif {
            let frames = gif.min_frames..=gif.max_frames;
            if gif.min_frames == 0 || !frames.contains(&gif.default_frames) {
                return Err("gif: default_frames must lie within min_frames..=max_frames".into());
            }
        }
        Ok(ModelSpec {
            id: id.to_owned(),
            upstream_id: self.upstream_id.unwrap_or_else(|| id.to_owned()),
            family: self.family,
            description: self.description,
            snapshot_of: self.snapshot_of,
            lifecycle: Lifecycle {
                retired_on: self.retired_on,
                replacement: self.replacement,
            },
            sizes: self.sizes,
            default_size: self.default_size,
            qualities: self.qualities,
            default_quality: self.default_quality,
            max_n: self.max_n,
            max_prompt_chars: self.max_prompt_chars,
            output_formats: self.output_formats,
            output_compression: self.output_compression,
            backgrounds: self.backgrounds,
            styles: self.styles,
            moderation: self.moderation,
            complexity: self.complexity,
            response_format: self.response_format,
            streaming: self.streaming,
            max_partial_images: self.max_partial_images,
            reports_usage: self.reports_usage,
            revises_prompt: self.revises_prompt,
            gif: self.gif,
            svg: self.svg && formats.contains("svg"),
            pricing,
            price_source,
            edits: self.edits,
            variations: self.variations,
            input_fidelity: self.input_fidelity,
            notes: self.notes,
            known: true,
        })
    }
}
