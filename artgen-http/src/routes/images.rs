//! `GET /images/{id}`: the image bytes, for the owner's credentials or a signed link;
//! `GET /images`: the caller's gallery, from the metadata rows alone; `DELETE /images/{id}`.

use artgen_core::domain::RequestId;
use artgen_core::ports::{ImageCursor, ImageMeta};
use artgen_core::{
    Error, ErrorCode, ImageAccess, ImageDelivery, ImageReader, GALLERY_PAGE_DEFAULT,
    GALLERY_PAGE_MAX,
};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::middleware::authenticate_headers;
use crate::openapi::schemas::{ImageFile, LinkExpiry};
use crate::openapi::{ImageErrors, ReadErrors};
use crate::signing::parse_expiry;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/images", get(gallery))
        .route("/images/{id}", get(image).delete(delete))
}

/// The query of a signed link, as sent: both are checked for their canonical form.
#[derive(Debug, Deserialize)]
struct Signature {
    exp: Option<String>,
    sig: Option<String>,
}

/// The base of the URLs handed out in one answer: the configured public URL, else the
/// request's own `Host` (and `X-Forwarded-Proto`), so links work behind any proxy or bind
/// address. Put in the request's extensions by the outermost middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    /// The base for a request with these headers.
    pub fn for_request(config: &crate::state::HttpConfig, headers: &HeaderMap) -> Self {
        if let Some(url) = &config.public_url {
            return Self(url.trim_end_matches('/').to_owned());
        }
        let header = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let host =
            header("host").filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()));
        let https = header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let scheme = if https { "https" } else { "http" };
        Self(format!("{scheme}://{}", host.unwrap_or("localhost")))
    }
}

/// The signed URL of an image, valid for the configured time.
pub fn signed_url(state: &AppState, base: &BaseUrl, image_id: &str) -> String {
    let expires = state.service().clock().now_secs() + state.config().signed_url_ttl.as_secs();
    let sig = state.signer().sign(image_id, expires);
    format!("{}/images/{image_id}?exp={expires}&sig={sig}", base.0)
}

/// The bytes of an image.
///
/// For a signed link (`exp` and `sig`, as in the answers' `url`) or, without either, the
/// owner's (or an admin's) key. A bad, expired or half signature (`exp` or `sig` alone), or
/// someone else's image, is 404 `not_found`. The bytes are streamed from the image store; with
/// `images_redirect_secs` and a store that signs links (S3), the answer is instead a 307 to
/// the store's own expiring link.
#[utoipa::path(
    get,
    path = "/images/{id}",
    tag = "operations",
    params(
        ("id" = String, Path, description = "Image id, as in the answers' `id` or `image_id`."),
        ("exp" = inline(Option<LinkExpiry>), Query,
            description = "Expiry of a signed link, Unix seconds, in canonical decimal."),
        ("sig" = Option<String>, Query, pattern = "^[0-9a-f]{64}$",
            description = "Signature of a signed link: 64 lower-case hex characters."),
    ),
    responses(
        (status = 200, description = "The image, cacheable privately for an hour.", content(
            (ImageFile = "image/png"),
            (ImageFile = "image/jpeg"),
            (ImageFile = "image/webp"),
        )),
        (status = 307, description = "Only with `images_redirect_secs` and an image store that signs links: \
            `Location` is the store's own link to the bytes, valid that long.",
            headers(("location" = String, description = "The store's signed link."))),
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
    let principal;
    let access = match (signature.exp, signature.sig) {
        (Some(exp), Some(sig)) => {
            let now = service.clock().now_secs();
            let valid =
                parse_expiry(&exp).is_some_and(|exp| state.signer().verify(&id, exp, &sig, now));
            if !valid {
                return Err(fail(Error::new(ErrorCode::NotFound, "no such image")));
            }
            ImageAccess::Verified
        }
        (None, None) => {
            principal = authenticate_headers(&state, &headers).await.map_err(fail)?;
            ImageAccess::Principal(&principal)
        }
        // Half a link is a malformed one, whatever key comes with it.
        _ => return Err(fail(Error::new(ErrorCode::NotFound, "no such image"))),
    };
    let delivery = service
        .deliver_image(access, &id, state.config().image_redirect)
        .await
        .map_err(fail)?;
    Ok(match delivery {
        ImageDelivery::Redirect { url, .. } => redirect(&url).map_err(fail)?,
        ImageDelivery::Stream(reader) => stream(reader, request_id),
    })
}

/// A temporary redirect to the store's own signed link; the answer itself is never cached (the
/// link expires).
fn redirect(url: &str) -> Result<Response, Error> {
    let location = HeaderValue::from_str(url).map_err(Error::internal)?;
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The bytes as they come from the store, never held whole. A failure once the body has
/// started (the store's integrity check included) cuts the connection short of its
/// `Content-Length`, so the client sees an incomplete image, never a wrong one; it is logged
/// here, as the access log has already counted a 200.
fn stream(reader: ImageReader, request_id: RequestId) -> Response {
    let ImageReader { meta, body } = reader;
    let image_id = meta.id.clone();
    let body = body.inspect(move |item| {
        if let Err(err) = item {
            tracing::error!(
                request_id = %request_id,
                image_id = image_id.as_str(),
                error = err as &dyn std::error::Error,
                "image body failed while streaming; the answer was cut short"
            );
        }
    });
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len));
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
    response
}

/// The query of a gallery page, as sent (both checked here, so a bad one is named).
#[derive(Debug, Deserialize)]
struct GalleryQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// One image of a gallery page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct GalleryImage {
    /// The image's id.
    pub id: String,
    /// A signed link to the bytes, as the answers give.
    pub url: String,
    /// The prompt it was made from (empty for images stored before prompts were kept).
    pub prompt: String,
    /// The model that made it (empty for images stored before models were kept).
    pub model: String,
    /// Pixel size, `WIDTHxHEIGHT`.
    #[schema(pattern = "^[0-9]+x[0-9]+$")]
    pub size: String,
    /// Encoding.
    #[schema(example = "png")]
    pub format: String,
    /// When it was made, Unix seconds.
    pub created: u64,
}

/// A page of the caller's images, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct GalleryPage {
    /// The images.
    pub data: Vec<GalleryImage>,
    /// Pass as `cursor` to read the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn gallery_image(state: &AppState, base: &BaseUrl, meta: &ImageMeta) -> GalleryImage {
    GalleryImage {
        id: meta.id.as_str().to_owned(),
        url: signed_url(state, base, meta.id.as_str()),
        prompt: meta.prompt.clone(),
        model: meta.model.clone(),
        size: meta.dimensions.to_string(),
        format: meta.format.as_str().to_owned(),
        created: u64::try_from(meta.created_at_ms / 1000).unwrap_or(0),
    }
}

/// The `limit` of a gallery query: absent is the default; else 1 to the maximum.
fn gallery_limit(text: Option<&str>) -> Result<Option<u32>, Error> {
    let Some(text) = text else { return Ok(None) };
    match text.parse::<u32>() {
        Ok(limit) if (1..=GALLERY_PAGE_MAX).contains(&limit) && !text.starts_with('+') => {
            Ok(Some(limit))
        }
        _ => Err(Error::invalid_param(
            "limit",
            format!(
                "limit must be a whole number from 1 to {GALLERY_PAGE_MAX} \
                 (default {GALLERY_PAGE_DEFAULT})"
            ),
        )),
    }
}

/// The caller's own images, newest first, read from the metadata rows alone (no image is
/// opened). Each has a signed `url`, as the answers give. Page with `next_cursor`.
#[utoipa::path(
    get,
    path = "/images",
    tag = "operations",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200,
            description = "Images per page, 1 to 200 (default 50)."),
        ("cursor" = Option<String>, Query, pattern = "^([0-9a-f]{2})+$",
            description = "The `next_cursor` of the page before."),
    ),
    responses(
        (status = 200, description = "A page of the caller's images.", body = GalleryPage),
        ReadErrors,
    ),
    security(("bearer" = [])),
)]
async fn gallery(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(base): Extension<BaseUrl>,
    query: Result<Query<GalleryQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<GalleryPage>, ApiError> {
    let fail = |e: Error| ApiError::new(e, Some(request_id.clone()));
    let principal = authenticate_headers(&state, &headers).await.map_err(fail)?;
    let Query(query) = query.map_err(|e| {
        fail(Error::new(
            ErrorCode::InvalidRequest,
            format!("the query string is malformed: {e}"),
        ))
    })?;
    let limit = gallery_limit(query.limit.as_deref()).map_err(fail)?;
    let cursor = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(ImageCursor::decode(text).ok_or_else(|| {
            fail(Error::invalid_param(
                "cursor",
                "cursor must be the next_cursor of an earlier page",
            ))
        })?),
    };
    let page = state
        .service()
        .gallery(&principal, cursor.as_ref(), limit)
        .await
        .map_err(fail)?;
    Ok(Json(GalleryPage {
        data: page
            .images
            .iter()
            .map(|meta| gallery_image(&state, &base, meta))
            .collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    }))
}

/// Removes one of the caller's images (an admin may remove anyone's): it is no longer
/// listed or served, signed links included. Someone else's image, or none, is 404.
#[utoipa::path(
    delete,
    path = "/images/{id}",
    tag = "operations",
    params(("id" = String, Path, description = "Image id, as in the answers' `id` or `image_id`.")),
    responses(
        (status = 204, description = "Removed."),
        ImageErrors,
    ),
    security(("bearer" = [])),
)]
async fn delete(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let fail = |e: Error| ApiError::new(e, Some(request_id.clone()));
    let principal = authenticate_headers(&state, &headers).await.map_err(fail)?;
    state
        .service()
        .delete_image(&principal, &id)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::state::HttpConfig;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).parse().expect("name"), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn a_gallery_limit_is_absent_or_a_whole_number_in_range() {
        assert_eq!(gallery_limit(None).expect("absent"), None);
        assert_eq!(gallery_limit(Some("1")).expect("one"), Some(1));
        assert_eq!(
            gallery_limit(Some("200")).expect("max"),
            Some(GALLERY_PAGE_MAX)
        );
        for bad in ["0", "201", "-1", "+5", "ten", ""] {
            let err = gallery_limit(Some(bad)).expect_err(bad);
            assert_eq!(err.param(), Some("limit"), "{bad}");
        }
        assert_eq!(GALLERY_PAGE_DEFAULT, 50);
    }

    #[test]
    fn links_follow_the_request_host_unless_a_public_url_is_configured() {
        let config = HttpConfig::default();
        let plain = headers(&[("host", "10.0.0.5:8080")]);
        assert_eq!(
            BaseUrl::for_request(&config, &plain).0,
            "http://10.0.0.5:8080"
        );
        let proxied = headers(&[("host", "art.example.com"), ("x-forwarded-proto", "https")]);
        assert_eq!(
            BaseUrl::for_request(&config, &proxied).0,
            "https://art.example.com"
        );
        assert_eq!(
            BaseUrl::for_request(&config, &HeaderMap::new()).0,
            "http://localhost"
        );
        let fixed = HttpConfig {
            public_url: Some("https://cdn.example.com/".into()),
            ..HttpConfig::default()
        };
        assert_eq!(
            BaseUrl::for_request(&fixed, &proxied).0,
            "https://cdn.example.com"
        );
    }
}
