//! `GET /admin/usage`: usage totals per user, organisation, model or day over a period, as
//! JSON or CSV.

use artgen_core::domain::{Money, UsageGroupBy, UsageSummary, UsageSummaryQuery};
use artgen_core::{Error, RequestContext};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::{admin, param, period, query_pairs};
use crate::error::ApiError;
use crate::openapi::AdminErrors;
use crate::state::AppState;

/// The totals of one group.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UsageRow {
    /// The group: a user, organisation, model id or `YYYY-MM-DD` day; `null` for requests
    /// without an organisation when grouping by organisation.
    #[schema(required = true)]
    pub key: Option<String>,
    /// Requests.
    pub requests: u64,
    /// Images returned.
    pub images: u64,
    /// Tokens, input and output.
    pub tokens: u64,
    /// Cost in US dollars (settled; requests still running at their estimate).
    pub cost_usd: f64,
}

/// The answer of `GET /admin/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UsageRows {
    /// One row per group.
    pub rows: Vec<UsageRow>,
}

/// Dollars from micro-dollars, as a JSON number (exact to the micro-dollar for any amount
/// below 2^53 micro-dollars, i.e. nine billion dollars).
pub(crate) fn usd(money: Money) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "exact below 2^53 micro-dollars; a display value"
    )]
    let micros = money.micros() as f64;
    micros / 1_000_000.0
}

impl From<&UsageSummary> for UsageRow {
    fn from(summary: &UsageSummary) -> Self {
        Self {
            key: summary.key.clone(),
            requests: summary.requests,
            images: summary.images,
            tokens: summary.input_tokens.saturating_add(summary.output_tokens),
            cost_usd: usd(summary.cost),
        }
    }
}

/// Whether the caller asked for CSV: `format=csv`, or no `format` and an `Accept` naming
/// `text/csv`.
fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> Result<bool, Error> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(Error::invalid_param("format", "format must be json or csv")),
        None => Ok(headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("text/csv"))),
    }
}

/// The rows as CSV: a header row, then one row per group, quoted where needed.
pub(crate) fn csv_body(rows: &[UsageRow]) -> Result<Vec<u8>, Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| Error::internal(e);
    writer
        .write_record(["key", "requests", "images", "tokens", "cost_usd"])
        .map_err(internal)?;
    for row in rows {
        writer
            .write_record([
                row.key.clone().unwrap_or_default(),
                row.requests.to_string(),
                row.images.to_string(),
                row.tokens.to_string(),
                row.cost_usd.to_string(),
            ])
            .map_err(internal)?;
    }
    writer
        .into_inner()
        .map_err(|e| Error::internal(e.into_error()))
}

/// Usage totals over a period (default: the current calendar month, UTC), grouped by user,
/// organisation, model or day, optionally of one user. `format=csv` (or `Accept: text/csv`)
/// answers the same rows as CSV with a header row.
#[utoipa::path(
    get,
    path = "/admin/usage",
    tag = "admin",
    params(
        ("group_by" = String, Query, pattern = "^(user|org|model|day)$",
            description = "What a row totals: `user`, `org`, `model` or `day` (UTC)."),
        ("from" = Option<String>, Query,
            description = "First instant: RFC 3339 or `YYYY-MM-DD` (default: the month's start)."),
        ("to" = Option<String>, Query,
            description = "End, excluded: RFC 3339, or `YYYY-MM-DD` to include that day \
                (default: the next month's start)."),
        ("user" = Option<String>, Query, description = "Only this user's requests."),
        ("format" = Option<String>, Query, pattern = "^(json|csv)$",
            description = "`json` (default) or `csv`."),
    ),
    responses(
        (status = 200, description = "One row per group.", content(
            (UsageRows = "application/json"),
            (String = "text/csv"),
        )),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn usage(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    admin(&state, &ctx)?;
    let pairs = query_pairs(
        query,
        &["group_by", "from", "to", "user", "format"],
        &ctx.request_id,
    )?;
    let group_by = param(&pairs, "group_by")
        .ok_or_else(|| {
            fail(
                Error::new(
                    artgen_core::ErrorCode::MissingParameter,
                    "group_by is required: user, org, model or day",
                )
                .with_param("group_by"),
            )
        })
        .and_then(|name| {
            UsageGroupBy::from_name(name).ok_or_else(|| {
                fail(Error::invalid_param(
                    "group_by",
                    "group_by must be user, org, model or day",
                ))
            })
        })?;
    let csv = wants_csv(param(&pairs, "format"), &headers).map_err(fail)?;
    let now_ms = state.service().clock().now_ms();
    let (from_ms, to_ms) =
        period::period(param(&pairs, "from"), param(&pairs, "to"), now_ms).map_err(fail)?;
    let user = param(&pairs, "user").map(str::to_owned);
    if let Some(user) = &user {
        artgen_core::service::check_id("user", user).map_err(fail)?;
    }
    let query = UsageSummaryQuery {
        group_by,
        from_ms,
        to_ms,
        user,
    };
    let summaries = state
        .service()
        .usage_summary(&ctx.principal, query)
        .await
        .map_err(fail)?;
    let rows: Vec<UsageRow> = summaries.iter().map(UsageRow::from).collect();
    if csv {
        let body = csv_body(&rows).map_err(fail)?;
        let content_type = HeaderValue::from_static("text/csv; charset=utf-8");
        return Ok(([(header::CONTENT_TYPE, content_type)], body).into_response());
    }
    Ok(Json(UsageRows { rows }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_exact_decimals_of_micro_dollars() {
        assert_eq!(usd(Money::from_micros(40_000)), 0.04);
        assert_eq!(usd(Money::from_micros(1_234_567)).to_string(), "1.234567");
        assert_eq!(usd(Money::ZERO), 0.0);
    }

    #[test]
    fn csv_quotes_keys_that_need_it() {
        let rows = [UsageRow {
            key: Some("a,\"b\"".to_owned()),
            requests: 2,
            images: 3,
            tokens: 4,
            cost_usd: 0.5,
        }];

        let text = String::from_utf8(csv_body(&rows).expect("csv")).expect("utf-8");

        assert_eq!(
            text,
            "key,requests,images,tokens,cost_usd\n\"a,\"\"b\"\"\",2,3,4,0.5\n"
        );
    }

    #[test]
    fn the_format_param_wins_over_accept() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/csv"));
        assert!(wants_csv(None, &headers).expect("accept"));
        assert!(!wants_csv(Some("json"), &headers).expect("param"));
        assert_eq!(
            wants_csv(Some("xml"), &headers).expect_err("bad").param(),
            Some("format")
        );
    }
}
