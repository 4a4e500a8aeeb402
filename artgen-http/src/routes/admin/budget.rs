//! `GET /admin/users/{user}/budget`: where one user's monthly budget stands.

use artgen_core::domain::budget::rfc3339_utc;
use artgen_core::domain::{BudgetLimits, BudgetScope};
use artgen_core::{Error, ErrorCode, RequestContext};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::admin;
use super::usage::usd;
use crate::error::ApiError;
use crate::openapi::AdminErrors;
use crate::state::AppState;

/// A user's budget this period. USD are decimal numbers (micro-dollars inside); a limit not
/// set anywhere is `null`, and so is what remains of it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BudgetDto {
    /// The user.
    pub user: String,
    /// The money limit in force: the user's own, else the server's default.
    #[schema(required = true)]
    pub budget_usd_per_month: Option<f64>,
    /// Spent this period (finished requests at their cost, interrupted ones at their
    /// estimate).
    pub spent_usd: f64,
    /// Held by requests still running.
    pub reserved_usd: f64,
    /// The limit less what is spent and held.
    #[schema(required = true)]
    pub remaining_usd: Option<f64>,
    /// The token limit in force.
    #[schema(required = true)]
    pub budget_tokens_per_month: Option<u64>,
    /// Tokens spent this period.
    pub spent_tokens: u64,
    /// Tokens left.
    #[schema(required = true)]
    pub remaining_tokens: Option<u64>,
    /// The period's start, RFC 3339 (UTC).
    pub period_start: String,
    /// When the budget resets (the next period's start), RFC 3339 (UTC).
    pub resets_at: String,
}

/// Where a user's budget stands this period (their own limits, else the server's defaults).
#[utoipa::path(
    get,
    path = "/admin/users/{user}/budget",
    tag = "admin",
    params(("user" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "The user's budget.", body = BudgetDto), AdminErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<BudgetDto>, ApiError> {
    let (admin, _) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let user = super::users::segment(path, "user").map_err(fail)?;
    artgen_core::service::check_id("user", &user).map_err(fail)?;
    // A user without a row has no limits of their own: the defaults apply.
    let own = match admin.user(&user).await {
        Ok(row) => BudgetLimits {
            usd: row.limits.budget_usd_per_month,
            tokens: row.limits.budget_tokens_per_month,
        },
        Err(err) if err.code() == ErrorCode::NotFound => BudgetLimits::default(),
        Err(err) => return Err(fail(err)),
    };
    let view = state
        .service()
        .budget_of(BudgetScope::User(user.clone()), own)
        .await
        .map_err(fail)?;
    Ok(Json(BudgetDto {
        user,
        budget_usd_per_month: view.limits.usd.map(usd),
        spent_usd: usd(view.spent.usd),
        reserved_usd: usd(view.reserved.usd),
        remaining_usd: view.remaining_usd.map(usd),
        budget_tokens_per_month: view.limits.tokens,
        spent_tokens: view.spent.tokens,
        remaining_tokens: view.remaining_tokens,
        period_start: rfc3339_utc(view.period.start_ms),
        resets_at: rfc3339_utc(view.period.end_ms),
    }))
}
