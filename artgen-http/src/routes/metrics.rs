//! `GET /metrics`: Prometheus exposition (credentials required unless configured public).

use artgen_core::domain::RequestId;
use artgen_core::Error;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::error::ApiError;
use crate::middleware::authenticate_headers;
use crate::openapi::MetricsErrors;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Prometheus metrics (OpenMetrics text).
///
/// Needs a key unless the server is configured with `metrics_public = true`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "The metrics.", body = String,
            content_type = "application/openmetrics-text"),
        MetricsErrors,
    ),
    security((), ("bearer" = [])),
)]
async fn metrics(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !state.config().metrics_public {
        authenticate_headers(&state, &headers)
            .await
            .map_err(|e| ApiError::new(e, Some(request_id.clone())))?;
    }
    let text = state
        .metrics()
        .render()
        .map_err(|e| ApiError::new(Error::internal(e), Some(request_id)))?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
