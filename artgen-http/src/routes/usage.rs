//! `GET /usage` (also `/v1/usage`): the caller's own usage in the current budget period (the
//! calendar month in `budget.time_zone`) and what remains of their budget.

use artgen_core::domain::budget::rfc3339_utc;
use artgen_core::domain::RequestId;
use artgen_core::{OwnUsage, RequestContext};
use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{usd, ApiError};
use crate::openapi::UsageErrors;
use crate::state::AppState;

/// Routes of this resource (the router puts them behind authentication).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/usage", get(usage))
        .route("/v1/usage", get(usage))
}

/// The caller's usage this period. USD amounts are decimal numbers; a limit that is not set
/// (no budget in that dimension) is `null`, and so is what remains of it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UsageResponse {
    /// The caller.
    pub user: String,
    /// The period's first instant (RFC 3339, UTC).
    pub period_start: String,
    /// When the budget resets: the next period's first instant (RFC 3339, UTC).
    pub resets_at: String,
    /// Requests this period that reached the upstream.
    pub requests: u64,
    /// Images returned.
    pub images: u64,
    /// Tokens billed (input and output).
    pub tokens: u64,
    /// Cost, USD (requests still running, or interrupted, at their estimate).
    pub cost_usd: f64,
    /// The money limit per month, USD.
    #[schema(required = true)]
    pub budget_usd_per_month: Option<f64>,
    /// Spent this period, USD.
    pub spent_usd: f64,
    /// Held by requests still running, USD.
    pub reserved_usd: f64,
    /// What remains under the money limit, USD.
    #[schema(required = true)]
    pub remaining_usd: Option<f64>,
    /// The token limit per month.
    #[schema(required = true)]
    pub budget_tokens_per_month: Option<u64>,
    /// Tokens spent this period.
    pub spent_tokens: u64,
    /// What remains under the token limit.
    #[schema(required = true)]
    pub remaining_tokens: Option<u64>,
}

impl From<&OwnUsage> for UsageResponse {
    fn from(own: &OwnUsage) -> Self {
        let budget = &own.budget;
        let summary = own.summary.as_ref();
        Self {
            user: own.user.clone(),
            period_start: rfc3339_utc(budget.period.start_ms),
            resets_at: rfc3339_utc(budget.resets_at_ms()),
            requests: summary.map_or(0, |s| s.requests),
            images: summary.map_or(0, |s| s.images),
            tokens: summary.map_or(0, |s| s.input_tokens.saturating_add(s.output_tokens)),
            cost_usd: usd(summary.map_or(0, |s| s.cost.micros())),
            budget_usd_per_month: budget.limits.usd.map(|m| usd(m.micros())),
            spent_usd: usd(budget.spent.usd.micros()),
            reserved_usd: usd(budget.reserved.usd.micros()),
            remaining_usd: budget.remaining_usd.map(|m| usd(m.micros())),
            budget_tokens_per_month: budget.limits.tokens,
            spent_tokens: budget.spent.tokens,
            remaining_tokens: budget.remaining_tokens,
        }
    }
}

/// The caller's own usage this month and what remains of their budget.
///
/// Requests, images, tokens and cost of the caller's requests in the current budget period,
/// and their budget: its limits (their own, else the server's defaults), what is spent,
/// held by running requests, and remaining, and when it resets.
#[utoipa::path(
    get,
    path = "/usage",
    operation_id = "own_usage",
    tag = "operations",
    responses((status = 200, description = "The caller's usage.", body = UsageResponse), UsageErrors),
    security(("bearer" = [])),
)]
async fn usage(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(request_id): Extension<RequestId>,
) -> Result<Json<UsageResponse>, ApiError> {
    let own = state
        .service()
        .own_usage(&ctx.principal)
        .await
        .map_err(|e| ApiError::new(e, Some(request_id)))?;
    Ok(Json(UsageResponse::from(&own)))
}
