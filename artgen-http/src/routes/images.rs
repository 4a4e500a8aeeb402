//! `GET /images/{id}`: the image bytes, for the owner's credentials or a signed link.

use artgen_core::domain::RequestId;
use artgen_core::ports::ImageReader;
use artgen_core::{Error, ErrorCode, ImageAccess, ImageDelivery};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::StreamExt as _;
use serde::Deserialize;

use crate::error::ApiError;
use crate::middleware::authenticate_headers;
use crate::openapi::schemas::{ImageFile, LinkExpiry};
use crate::openapi::ImageErrors;
use crate::signing::parse_expiry;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/images/{id}", get(image))
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
    let ImageReader { head, body } = reader;
    let image_id = head.meta.id.clone();
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
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(head.len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(head.meta.format.mime()),
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
