//! Usage records: one per request that reached the upstream.

use serde::{Deserialize, Serialize};

use super::ids::RequestId;
use super::pricing::{Money, TokenUsage};

/// Which operation a request performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Text to image.
    Generate,
    /// Image edit.
    Edit,
    /// Image variation.
    Variation,
}

impl Operation {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Generate => "generate",
            Self::Edit => "edit",
            Self::Variation => "variation",
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageStatus {
    /// Images were returned.
    Succeeded,
    /// The upstream call failed.
    Failed,
}

impl UsageStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// One request's usage, written once (the request id is unique, so a retried write is a no-op).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Unique request id.
    pub request_id: RequestId,
    /// User who made the request.
    pub user: String,
    /// Operation.
    pub operation: Operation,
    /// Model id (after alias resolution).
    pub model: String,
    /// Which provider served (or last failed) the call.
    pub provider: String,
    /// Images requested.
    pub n: u8,
    /// Size requested (`auto` or `WxH`).
    pub size: String,
    /// Quality used for pricing.
    pub quality: String,
    /// Outcome.
    pub status: UsageStatus,
    /// Error code on failure.
    pub error_code: Option<String>,
    /// Images returned.
    pub images: u32,
    /// Token usage (reported, or zero where the model bills per image).
    pub tokens: TokenUsage,
    /// Estimated cost before the call.
    pub estimated_cost: Money,
    /// Settled cost.
    pub cost: Money,
    /// Total time in ArtGen, milliseconds.
    pub latency_ms: u64,
    /// Time spent waiting for the upstream (all attempts), milliseconds.
    pub upstream_latency_ms: u64,
    /// The prompt (expires with the retention period).
    pub prompt: String,
    /// Whether the model had no known price (served because the operator allows it): `cost`
    /// is then zero and must not be read as free.
    pub unpriced: bool,
    /// Parameters ArtGen did not know and forwarded unchanged, by name.
    pub forwarded_params: Vec<String>,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
}

/// A filter over usage records, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageQuery {
    /// Only this user's records.
    pub user: Option<String>,
    /// Only records at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// At most this many records (adapters cap it).
    pub limit: Option<u32>,
}
