//! Money and prices: estimate before the upstream call, settle from its `usage` after it.
//!
//! Money is integer micro-dollars (1 USD = 1 000 000), never floats.

use std::fmt;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

use super::options::{Dimensions, Quality};

/// An amount of money in micro-dollars (millionths of a US dollar).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(u64);

impl Money {
    /// Zero dollars.
    pub const ZERO: Money = Money(0);

    /// From micro-dollars.
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    /// From a decimal dollar amount, rounded to the nearest micro-dollar; `None` if negative or
    /// not finite. Only for configuration input.
    pub fn from_usd(usd: f64) -> Option<Self> {
        if !usd.is_finite() || !(0.0..=1.0e12).contains(&usd) {
            return None;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked finite, non-negative and bounded above"
        )]
        Some(Self((usd * 1_000_000.0).round() as u64))
    }

    /// The amount in micro-dollars.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// The amount in dollars, for display and metrics only.
    #[expect(clippy::cast_precision_loss, reason = "display/metrics only")]
    pub fn as_usd(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    /// Multiplies by a count, saturating.
    #[must_use]
    pub fn times(self, count: u64) -> Self {
        Self(self.0.saturating_mul(count))
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        *self = *self + rhs;
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// A price per one million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PerMillionTokens(pub Money);

impl PerMillionTokens {
    /// From dollars per million tokens.
    pub const fn usd_micros(micros: u64) -> Self {
        Self(Money::from_micros(micros))
    }

    /// Cost of `tokens` tokens, rounded half up to the micro-dollar.
    pub fn cost(self, tokens: u64) -> Money {
        let product = u128::from(tokens) * u128::from(self.0.micros());
        let micros = (product + 500_000) / 1_000_000;
        Money::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }
}

/// Token counts reported by (or estimated for) one upstream call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Text input tokens (the prompt).
    pub input_text_tokens: u64,
    /// Image input tokens (edits).
    pub input_image_tokens: u64,
    /// Image output tokens.
    pub output_image_tokens: u64,
    /// Text output tokens (billed for newer models).
    pub output_text_tokens: u64,
    /// SVG authoring input tokens (`svg_usage`, billed apart from rendering).
    #[serde(default)]
    pub svg_input_tokens: u64,
    /// SVG authoring output tokens, reasoning included (`svg_usage`).
    #[serde(default)]
    pub svg_output_tokens: u64,
}

impl TokenUsage {
    /// All input tokens.
    pub const fn input_tokens(&self) -> u64 {
        self.input_text_tokens + self.input_image_tokens
    }

    /// All output tokens.
    pub const fn output_tokens(&self) -> u64 {
        self.output_image_tokens + self.output_text_tokens
    }

    /// Input plus output of the image call (SVG authoring tokens are counted apart).
    pub const fn total_tokens(&self) -> u64 {
        self.input_tokens() + self.output_tokens()
    }

    /// SVG authoring tokens, input plus output.
    pub const fn svg_tokens(&self) -> u64 {
        self.svg_input_tokens + self.svg_output_tokens
    }
}

/// Per-image list price for one quality and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePrice {
    /// Quality this price is for.
    pub quality: Quality,
    /// Size this price is for.
    pub size: Dimensions,
    /// Price of one image.
    pub price: Money,
}

/// Output image tokens for one image of a quality and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokens {
    /// Quality.
    pub quality: Quality,
    /// Size.
    pub size: Dimensions,
    /// Output image tokens per image.
    pub tokens: u32,
}

/// Token rates of a GPT image model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRates {
    /// Text input.
    pub text_input: PerMillionTokens,
    /// Image input.
    pub image_input: PerMillionTokens,
    /// Image output.
    pub image_output: PerMillionTokens,
    /// Text output.
    pub text_output: PerMillionTokens,
    /// SVG authoring input (`None`: not known, so SVG output is unpriced).
    pub svg_input: Option<PerMillionTokens>,
    /// SVG authoring output, reasoning included (`None`: not known).
    pub svg_output: Option<PerMillionTokens>,
    /// Output image tokens per image, used to estimate before the call.
    pub output_tokens: Vec<OutputTokens>,
}

/// How a model is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pricing {
    /// A list price per image (DALL·E).
    PerImage {
        /// The price table.
        prices: Vec<ImagePrice>,
    },
    /// Billed by tokens (GPT image models).
    Tokens(TokenRates),
    /// No price is known: never priced as $0. Refused unless the operator serves unpriced
    /// models, and then recorded as unpriced.
    Unknown,
}

/// The quality and size an estimate is made for: `auto` is priced as the most expensive choice,
/// so that an estimate never undershoots what a budget must reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceKey {
    /// Concrete or `auto` quality.
    pub quality: Quality,
    /// Concrete size, or `None` for `auto`.
    pub size: Option<Dimensions>,
}

/// Rough text tokens of a prompt (about four characters per token), for estimates only.
pub fn estimate_text_tokens(prompt: &str) -> u64 {
    (prompt.chars().count() as u64).div_ceil(4).max(1)
}

impl Pricing {
    /// Whether a price is known.
    pub const fn is_known(&self) -> bool {
        !matches!(self, Pricing::Unknown)
    }

    /// Whether SVG output can be priced (token rates with SVG authoring rates).
    pub fn prices_svg(&self) -> bool {
        matches!(self, Pricing::Tokens(r) if r.svg_input.is_some() && r.svg_output.is_some())
    }

    /// Estimated usage and cost of `n` images before the call.
    pub fn estimate(&self, key: PriceKey, n: u8, prompt: &str) -> (Option<TokenUsage>, Money) {
        match self {
            Pricing::PerImage { prices } => {
                let price = pick(prices, key, |p| (p.quality, p.size, p.price.micros()));
                (None, Money::from_micros(price).times(u64::from(n)))
            }
            Pricing::Tokens(rates) => {
                let per_image = per_image_tokens(&rates.output_tokens, key);
                let usage = TokenUsage {
                    input_text_tokens: estimate_text_tokens(prompt),
                    output_image_tokens: per_image * u64::from(n),
                    ..TokenUsage::default()
                };
                (Some(usage), rates.cost(&usage))
            }
            Pricing::Unknown => (None, Money::ZERO),
        }
    }

    /// Settles the cost after the call: from the upstream's usage where the model bills tokens
    /// and usage was reported, else from the estimate.
    pub fn settle(&self, key: PriceKey, n: u8, prompt: &str, usage: Option<&TokenUsage>) -> Money {
        match (self, usage) {
            (Pricing::Tokens(rates), Some(usage)) => rates.cost(usage),
            _ => self.estimate(key, n, prompt).1,
        }
    }
}

impl TokenRates {
    /// Cost of the given usage at these rates.
    pub fn cost(&self, usage: &TokenUsage) -> Money {
        let svg = |rate: Option<PerMillionTokens>, tokens| rate.unwrap_or_default().cost(tokens);
        self.text_input.cost(usage.input_text_tokens)
            + self.image_input.cost(usage.input_image_tokens)
            + self.image_output.cost(usage.output_image_tokens)
            + self.text_output.cost(usage.output_text_tokens)
            + svg(self.svg_input, usage.svg_input_tokens)
            + svg(self.svg_output, usage.svg_output_tokens)
    }
}

fn per_image_tokens(table: &[OutputTokens], key: PriceKey) -> u64 {
    let exact = pick(table, key, |t| (t.quality, t.size, u64::from(t.tokens)));
    if exact > 0 {
        return exact;
    }
    // A free size not in the table: scale the square entry of that quality by pixel count.
    let quality = resolve_quality(table.iter().map(|t| t.quality), key.quality);
    let (Some(size), Some(base)) = (
        key.size,
        table
            .iter()
            .filter(|t| t.quality == quality)
            .min_by_key(|t| t.size.pixels()),
    ) else {
        return 0;
    };
    (u64::from(base.tokens) * size.pixels()).div_ceil(base.size.pixels().max(1))
}

/// The most expensive quality in the table stands in for `auto`.
fn resolve_quality(qualities: impl Iterator<Item = Quality> + Clone, wanted: Quality) -> Quality {
    if wanted != Quality::Auto {
        return wanted;
    }
    [
        Quality::Max,
        Quality::Xhigh,
        Quality::High,
        Quality::Hd,
        Quality::Medium,
        Quality::Standard,
        Quality::Low,
    ]
    .into_iter()
    .find(|q| qualities.clone().any(|have| have == *q))
    .unwrap_or(wanted)
}

/// The value for an exact (quality, size) entry; for `auto` parts, the largest matching value.
fn pick<T>(table: &[T], key: PriceKey, get: impl Fn(&T) -> (Quality, Dimensions, u64)) -> u64 {
    let quality = resolve_quality(table.iter().map(|t| get(t).0), key.quality);
    table
        .iter()
        .map(&get)
        .filter(|(q, s, _)| *q == quality && key.size.is_none_or(|want| want == *s))
        .map(|(_, _, v)| v)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_displays_as_dollars() {
        assert_eq!(Money::from_micros(42_240).to_string(), "$0.042240");
        assert_eq!(Money::from_usd(0.02), Some(Money::from_micros(20_000)));
        assert_eq!(Money::from_usd(-1.0), None);
    }

    #[test]
    fn token_cost_rounds_half_up_to_the_micro_dollar() {
        let rate = PerMillionTokens::usd_micros(40_000_000);
        assert_eq!(rate.cost(1056), Money::from_micros(42_240));
        assert_eq!(PerMillionTokens::usd_micros(1).cost(499_999), Money::ZERO);
        assert_eq!(
            PerMillionTokens::usd_micros(1).cost(500_000),
            Money::from_micros(1)
        );
    }

    #[test]
    fn usage_totals_add_up() {
        let usage = TokenUsage {
            input_text_tokens: 20,
            input_image_tokens: 3,
            output_image_tokens: 1056,
            output_text_tokens: 0,
            ..TokenUsage::default()
        };
        assert_eq!(usage.input_tokens(), 23);
        assert_eq!(usage.total_tokens(), 1079);
    }
}
