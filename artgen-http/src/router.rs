//! The router: every route, with its layers.

use artgen_core::domain::RequestId;
use artgen_core::{Error, ErrorCode};
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::error::ApiError;
use crate::form::require_multipart;
use crate::middleware::{idempotency, observe, read_timeout, require_auth, upload_slot};
use crate::routes;
use crate::state::AppState;

/// Builds the whole application. Both the server binary and the tests call this.
pub fn build_router(state: AppState) -> Router {
    // Route layers wrap outside-in from the bottom: auth, then idempotency (which needs the
    // authenticated user), then the handler.
    let protect = |routes: Router<AppState>| {
        routes
            .route_layer(from_fn_with_state(state.idempotency().clone(), idempotency))
            .route_layer(from_fn_with_state(state.clone(), require_auth))
    };
    // Uploads are buffered (up to the upload limit each), so only so many are read at once,
    // and one user holds at most a share of them (see `middleware::uploads`): inside auth
    // (anonymous clients cannot take the slots), outside idempotency (which reads the body).
    // The slot layer takes the caller's rate-limit unit first, so a caller over their limit
    // never waits for a slot. Further uploads wait before a byte of their body is read. A body
    // not declared as multipart/form-data is refused (415) before any of this.
    let json = protect(
        Router::new()
            .merge(routes::generate::router())
            .nest("/v1/images", routes::openai::json_router()),
    );
    // The upload limit sits outside the idempotency layer, which reads the body first.
    let uploads = Router::new()
        .merge(routes::edit::router())
        .nest("/v1/images", routes::openai::upload_router())
        .route_layer(from_fn_with_state(state.idempotency().clone(), idempotency))
        .route_layer(from_fn_with_state(state.clone(), upload_slot))
        .route_layer(from_fn(require_multipart))
        .route_layer(from_fn_with_state(state.clone(), require_auth))
        .layer(DefaultBodyLimit::max(state.config().max_upload_bytes));
    // Read-only routes take authentication only: a GET has no body to limit or fingerprint,
    // and is idempotent by nature.
    let reads = Router::new()
        .merge(routes::models::router())
        .route_layer(from_fn_with_state(state.clone(), require_auth));
    // The admin API takes authentication only (its handlers refuse other roles with 403);
    // its JSON bodies keep the JSON body limit set below.
    let admin =
        routes::admin::router().route_layer(from_fn_with_state(state.clone(), require_auth));
    let protected = Router::new()
        .merge(json)
        .merge(uploads)
        .merge(reads)
        .merge(admin);
    let open = Router::new()
        .merge(routes::health::router())
        .merge(routes::images::router())
        .merge(routes::metrics::router())
        .route("/openapi.json", get(crate::openapi::openapi_json))
        .merge(crate::ui::router(&state));
    Router::new()
        .merge(protected)
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Layers run outside-in from the bottom: `observe` (request id, access log, metrics)
        // wraps everything, then the body read deadline (whose clock starts at the body's
        // first read, so uploads waiting for a slot are not timed), then the body limit.
        .layer(DefaultBodyLimit::max(state.config().max_body_bytes))
        .layer(from_fn_with_state(state.clone(), read_timeout))
        .layer(from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found(request_id: Option<Extension<RequestId>>) -> Response {
    let err = Error::new(ErrorCode::NotFound, "no such route");
    ApiError::new(err, request_id.map(|Extension(id)| id)).into_response()
}

/// A known route called with another method; axum adds the `Allow` header listing its methods.
async fn method_not_allowed(request_id: Option<Extension<RequestId>>) -> Response {
    let err = Error::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take this method; the Allow header lists those it takes",
    );
    ApiError::new(err, request_id.map(|Extension(id)| id)).into_response()
}
