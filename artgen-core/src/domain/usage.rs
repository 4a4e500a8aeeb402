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

/// Where a request stands: in flight, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageStatus {
    /// About to be sent upstream, or on its way: the row is written before the call and its
    /// `cost` is the estimate until the request finishes.
    Started,
    /// Images were returned.
    Succeeded,
    /// The upstream call failed.
    Failed,
    /// The process stopped while the request was in flight, so whether the upstream billed it
    /// is not known; it counts at its estimate (`cost` = `estimated_cost`), so spend is never
    /// under-counted.
    Unknown,
}

impl UsageStatus {
    /// Every status, in the order of a request's life.
    pub const ALL: [UsageStatus; 4] = [Self::Started, Self::Succeeded, Self::Failed, Self::Unknown];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    /// The status with this wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// Whether the request has ended with a known outcome (`succeeded` or `failed`).
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// One request's usage: started before the upstream call, finished after it (the request id
/// is unique, so a retried write is never counted twice).
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
