//! Reading an idempotent request: the key header, the buffered body and the fingerprint.

use artgen_core::{Error, ErrorCode};
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest key accepted, in bytes.
const MAX_KEY_LEN: usize = 255;

/// The parameter name errors about the key point at.
pub(super) const PARAM: &str = "Idempotency-Key";

/// The key of the request: `Ok(None)` without the header.
///
/// # Errors
/// `invalid_request` naming `Idempotency-Key` when the header is sent twice or is not 1 to
/// 255 visible ASCII characters.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::invalid_param(
            PARAM,
            "send at most one Idempotency-Key header",
        ));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN || !bytes.iter().all(u8::is_ascii_graphic) {
        return Err(Error::invalid_param(
            PARAM,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// Reads the whole body (within the route's body limit) and gives back an equivalent request
/// with its fingerprint.
///
/// # Errors
/// `payload_too_large` over the limit, `request_timeout` when it comes too slowly,
/// `invalid_request` when the body cannot be read.
pub(super) async fn buffer(request: Request) -> Result<(Request, [u8; 32]), Error> {
    let (parts, body) = request.into_parts();
    // The `Bytes` extractor honours `DefaultBodyLimit` and stops reading at the limit.
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(|r| body_error(&r))?;
    let fingerprint = fingerprint(&parts, &bytes);
    Ok((Request::from_parts(parts, Body::from(bytes)), fingerprint))
}

fn body_error(rejection: &BytesRejection) -> Error {
    if crate::middleware::read_timeout::is_read_timeout(rejection) {
        crate::middleware::read_timeout::read_timeout_error()
    } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::new(ErrorCode::PayloadTooLarge, "the request body is too large")
    } else {
        Error::new(
            ErrorCode::InvalidRequest,
            "the request body could not be read",
        )
    }
}

/// SHA-256 over the method, the route, the path with query, the media type and the body.
///
/// A multipart body is hashed without its boundary (which clients pick at random on every
/// send), so a retry that re-encodes the same form is still the same request.
pub(super) fn fingerprint(parts: &Parts, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    field(&mut hash, parts.method.as_str().as_bytes());
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    field(&mut hash, route.unwrap_or_default().as_bytes());
    let path = parts.uri.path_and_query().map(|p| p.as_str());
    field(&mut hash, path.unwrap_or_default().as_bytes());
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    match multipart_boundary(&content_type) {
        Some((essence, boundary)) => {
            field(&mut hash, essence.to_ascii_lowercase().as_bytes());
            let mut rest = body;
            while let Some(at) = find(rest, boundary.as_bytes()) {
                field(&mut hash, &rest[..at]);
                rest = &rest[at + boundary.len()..];
            }
            field(&mut hash, rest);
        }
        None => {
            field(&mut hash, content_type.as_bytes());
            field(&mut hash, body);
        }
    }
    hash.finalize().into()
}

/// Hashes one length-prefixed field, so no two different field lists hash alike.
fn field(hash: &mut Sha256, bytes: &[u8]) {
    hash.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
    hash.update(bytes);
}

/// `("multipart/form-data", boundary)` for a multipart media type with a boundary.
fn multipart_boundary(content_type: &str) -> Option<(&str, &str)> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.get(..10)?.eq_ignore_ascii_case("multipart/") {
        return None;
    }
    let boundary = params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        let is_boundary = name.trim().eq_ignore_ascii_case("boundary");
        is_boundary.then(|| value.trim().trim_matches('"'))
    })?;
    (!boundary.is_empty()).then_some((essence, boundary))
}

/// The first position of `needle` in `haystack`.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(offset) = haystack.get(from..)?.iter().position(|b| *b == first) {
        let at = from + offset;
        if haystack.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Method};

    use super::*;

    fn parts(method: Method, uri: &str, content_type: &str) -> Parts {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(())
            .expect("valid request");
        request.into_parts().0
    }

    fn form(boundary: &str, prompt: &str) -> (Parts, Vec<u8>) {
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n{prompt}\
             \r\n--{boundary}--\r\n"
        );
        let content_type = format!("multipart/form-data; boundary=\"{boundary}\"");
        (
            parts(Method::POST, "/edit", &content_type),
            body.into_bytes(),
        )
    }

    #[test]
    fn keys_must_be_short_visible_ascii() {
        let key = |value: &[u8]| {
            let mut headers = HeaderMap::new();
            let value = HeaderValue::from_bytes(value).expect("a header value");
            headers.insert(IDEMPOTENCY_KEY, value);
            idempotency_key(&headers)
        };

        assert_eq!(
            key(b"order-42").expect("valid").as_deref(),
            Some("order-42")
        );
        assert!(key(&[b'k'; 255]).is_ok());
        for bad in [
            &b""[..],
            &[b'k'; 256],
            b"two words",
            b"caf\xc3\xa9",
            b"tab\there",
        ] {
            let err = key(bad).expect_err("refused");
            assert_eq!(err.param(), Some(PARAM));
        }
        assert_eq!(idempotency_key(&HeaderMap::new()).expect("absent"), None);
    }

    #[test]
    fn a_repeated_key_header_is_refused() {
        let mut headers = HeaderMap::new();
        headers.append(IDEMPOTENCY_KEY, HeaderValue::from_static("a"));
        headers.append(IDEMPOTENCY_KEY, HeaderValue::from_static("a"));

        assert!(idempotency_key(&headers).is_err());
    }

    #[test]
    fn fingerprints_differ_by_method_path_media_type_and_body() {
        let base = fingerprint(&parts(Method::POST, "/generate", "application/json"), b"{}");

        for (method, uri, media, body) in [
            (Method::PUT, "/generate", "application/json", &b"{}"[..]),
            (Method::POST, "/generate?x=1", "application/json", b"{}"),
            (Method::POST, "/generate", "text/plain", b"{}"),
            (Method::POST, "/generate", "application/json", b"{ }"),
        ] {
            assert_ne!(fingerprint(&parts(method, uri, media), body), base);
        }
        let again = fingerprint(&parts(Method::POST, "/generate", "application/json"), b"{}");
        assert_eq!(again, base);
    }

    #[test]
    fn a_re_encoded_form_keeps_its_fingerprint_but_not_with_other_content() {
        let (first_parts, first) = form("boundary-1111", "a red fox");
        let (retry_parts, retry) = form("XyZ-2", "a red fox");
        let (other_parts, other) = form("XyZ-2", "a blue fox");

        let fp = fingerprint(&first_parts, &first);

        assert_eq!(fingerprint(&retry_parts, &retry), fp);
        assert_ne!(fingerprint(&other_parts, &other), fp);
    }

    #[test]
    fn find_locates_needles_and_tolerates_edges() {
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"abc", b""), None);
        assert_eq!(multipart_boundary("application/json"), None);
        assert_eq!(multipart_boundary("multipart/form-data"), None);
        assert_eq!(
            multipart_boundary("Multipart/Form-Data; charset=x; Boundary=b1"),
            Some(("Multipart/Form-Data", "b1"))
        );
    }
}
