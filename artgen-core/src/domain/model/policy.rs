//! What the catalogue does with what it does not know: parameters, prices, retired models.

use serde::{Deserialize, Serialize};

/// What happens to a request parameter ArtGen does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownParams {
    /// Forward it unchanged; the upstream decides. Noted in the usage row.
    #[default]
    Forward,
    /// Refuse the request with `unknown_parameter` naming it.
    Reject,
}

/// What happens to a request for a model without a known price (or not in the catalogue).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnpricedModels {
    /// Refuse it, naming the config key that sets the price.
    #[default]
    Refuse,
    /// Serve it, recorded as unpriced and counted in a metric.
    Serve,
}

/// What happens to a request for a model past its retirement date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetiredModels {
    /// The upstream may still serve it (Azure, a compatible server, the mock): forward it and
    /// warn in a response header.
    #[default]
    Warn,
    /// The upstream is OpenAI's own API, which no longer serves it: refuse with
    /// `model_retired` before any call.
    Refuse,
}

/// The catalogue's policy for what it does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogPolicy {
    /// Unknown request parameters.
    pub unknown_params: UnknownParams,
    /// Models without a price.
    pub unpriced: UnpricedModels,
    /// Models past their retirement date.
    pub retired: RetiredModels,
}

impl CatalogPolicy {
    /// Sets the unknown-parameter policy.
    #[must_use]
    pub fn with_unknown_params(mut self, unknown_params: UnknownParams) -> Self {
        self.unknown_params = unknown_params;
        self
    }

    /// Sets the unpriced-model policy.
    #[must_use]
    pub fn with_unpriced(mut self, unpriced: UnpricedModels) -> Self {
        self.unpriced = unpriced;
        self
    }

    /// Sets the retired-model policy.
    #[must_use]
    pub fn with_retired(mut self, retired: RetiredModels) -> Self {
        self.retired = retired;
        self
    }
}
