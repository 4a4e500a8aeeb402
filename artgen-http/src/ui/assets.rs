//! The UI's stylesheet and script, embedded in the binary and served under names that carry
//! their content's hash, so browsers may keep them forever and a new build is fetched at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The name pages link to: `app.<hash>.css`.
    pub name: String,
    content_type: &'static str,
    body: &'static str,
}

fn asset(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Asset {
    use sha2::Digest as _;
    let hash = hex::encode(&sha2::Sha256::digest(body.as_bytes())[..5]);
    Asset {
        name: format!("{stem}.{hash}.{ext}"),
        content_type,
        body,
    }
}

/// The stylesheet.
pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "app",
        "css",
        "text/css; charset=utf-8",
        include_str!("../../ui/app.css"),
    )
});

/// The script.
pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "app",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    )
});

/// `GET /ui/assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    for asset in [&*CSS, &*JS] {
        if asset.name == name {
            return (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(asset.content_type),
                    ),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=31536000, immutable"),
                    ),
                ],
                asset.body,
            )
                .into_response();
        }
    }
    (StatusCode::NOT_FOUND, "no such asset").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_carry_their_content_hash() {
        assert!(CSS.name.starts_with("app.") && CSS.name.ends_with(".css"));
        assert_eq!(CSS.name.len(), "app..css".len() + 10);
        assert_ne!(
            CSS.name.trim_end_matches(".css"),
            JS.name.trim_end_matches(".js")
        );
    }
}
