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
    /// The user's organisation, from [`Principal::org`](super::Principal::org), when the
    /// credential names one.
    pub org: Option<String>,
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

/// A filter over usage records, newest first: by `created_at_ms` descending, then
/// `request_id` descending, an order every page of a listing keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageQuery {
    /// Only this user's records.
    pub user: Option<String>,
    /// Only records at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// At most this many records (adapters cap it).
    pub limit: Option<u32>,
    /// Only records after this position in the order (the `next_cursor` of the page
    /// before): keyset pagination, so rows written meanwhile neither repeat nor hide rows.
    pub after: Option<UsageCursor>,
}

/// A position in the newest-first order of usage records: the `(created_at_ms, request_id)`
/// of the last record of a page. On the wire it is an opaque string ([`UsageCursor::encode`],
/// [`UsageCursor::decode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCursor {
    /// The last record's time (Unix ms).
    pub created_at_ms: i64,
    /// The last record's request id.
    pub request_id: String,
}

impl UsageCursor {
    /// The position just after `record`.
    pub fn after(record: &UsageRecord) -> Self {
        Self {
            created_at_ms: record.created_at_ms,
            request_id: record.request_id.as_str().to_owned(),
        }
    }

    /// Whether `record` comes after this position in the newest-first order.
    pub fn precedes(&self, record: &UsageRecord) -> bool {
        (record.created_at_ms, record.request_id.as_str())
            < (self.created_at_ms, self.request_id.as_str())
    }

    /// The opaque string form: lowercase hex of `<created_at_ms>:<request_id>`, safe in a
    /// query string.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.created_at_ms, self.request_id)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Reads a string [`UsageCursor::encode`] made; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if !text.len().is_multiple_of(2) || text.len() > 512 {
            return None;
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let plain = String::from_utf8(bytes).ok()?;
        let (ms, request_id) = plain.split_once(':')?;
        if request_id.is_empty() {
            return None;
        }
        Some(Self {
            created_at_ms: ms.parse().ok()?,
            request_id: request_id.to_owned(),
        })
    }
}

/// One page of a usage listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePage {
    /// The records, newest first.
    pub records: Vec<UsageRecord>,
    /// Where the next page starts, when this one was full (there may be more).
    pub next_cursor: Option<UsageCursor>,
}

impl UsagePage {
    /// The page of `records` a query with the effective `limit` returned.
    pub fn new(records: Vec<UsageRecord>, limit: usize) -> Self {
        let next_cursor = (limit > 0 && records.len() >= limit)
            .then(|| records.last().map(UsageCursor::after))
            .flatten();
        Self {
            records,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UsageCursor;

    #[test]
    fn a_cursor_round_trips_through_its_opaque_form() {
        let cursor = UsageCursor {
            created_at_ms: -12,
            request_id: "req_01:x".to_owned(),
        };

        let text = cursor.encode();

        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(UsageCursor::decode(&text), Some(cursor));
    }

    #[test]
    fn a_cursor_that_was_not_encoded_is_refused() {
        for text in ["", "zz", "abc", "3132", "3a78"] {
            assert_eq!(UsageCursor::decode(text), None, "{text}");
        }
    }
}
