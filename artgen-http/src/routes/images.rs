//! `GET /images/{id}`: the image bytes, for the owner's credentials or a signed link.

use artgen_core::domain::RequestId;
use artgen_core::{Error, ErrorCode};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

use crate::error::ApiError;
use crate::middleware::authenticate_headers;
use crate::openapi::schemas::ImageFile;
use crate::openapi::ImageErrors;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/images/{id}", get(image))
}

/// The query of a signed link.
#[derive(Debug, Deserialize)]
struct Signature {
    exp: Option<u64>,
    sig: Option<String>,
}

/// The signed URL of an image, valid for the configured time.
pub fn signed_url(state: &AppState, image_id: &str) -> String {
    let expires = state.service().clock().now_secs() + state.config().signed_url_ttl.as_secs();
    let sig = state.signer().sign(image_id, expires);
    format!(
        "{}/images/{image_id}?exp={expires}&sig={sig}",
        state.config().public_url.trim_end_matches('/')
    )
}

/// The bytes of an image.
///
/// For a signed link (`exp` and `sig`, as in the answers' `url`) or the owner's (or an
/// admin's) key. A bad or expired signature, or someone else's image, is 404 `not_found`.
#[utoipa::path(
    get,
    path = "/images/{id}",
    tag = "operations",
    params(
        ("id" = String, Path, description = "Image id, as in the answers' `id` or `image_id`."),
        ("exp" = Option<u64>, Query, description = "Expiry of a signed link, Unix seconds."),
        ("sig" = Option<String>, Query, description = "Signature of a signed link."),
    ),
    responses(
        (status = 200, description = "The image, cacheable privately for an hour.", content(
            (ImageFile = "image/png"),
            (ImageFile = "image/jpeg"),
            (ImageFile = "image/webp"),
        )),
        ImageErrors,
    ),
    security((), ("bearer" = [])),
)]
async fn image(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    signature: Result<Query<Signature>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let fail = |e: Error| ApiError::new(e, Some(request_id.clone()));
    // A malformed signature is as good as none: the same 404 as a wrong one.
    let Ok(Query(signature)) = signature else {
        return Err(fail(Error::new(ErrorCode::NotFound, "no such image")));
    };
    let service = state.service();
    let (meta, bytes) = match (signature.exp, signature.sig) {
        (Some(exp), Some(sig)) => {
            if !state
                .signer()
                .verify(&id, exp, &sig, service.clock().now_secs())
            {
                return Err(fail(Error::new(ErrorCode::NotFound, "no such image")));
            }
            service.image_by_id(&id).await.map_err(fail)?
        }
        _ => {
            let principal = authenticate_headers(&state, &headers).await.map_err(fail)?;
            service.image(&principal, &id).await.map_err(fail)?
        }
    };
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(meta.format.mime()),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600, immutable"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
