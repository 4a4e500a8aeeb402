//! Multipart forms of `/edit`, `/variation` and their `/v1/images/*` twins: every part is
//! checked before anything goes upstream, and each failure names the part.

use artgen_core::domain::{Catalog, RequestId, UploadedImage};
use artgen_core::{Error, ErrorCode, RequestContext};
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::extract::{capped_message, echo};
use crate::middleware::note_model;
use crate::middleware::read_timeout::{is_read_timeout, read_timeout_error};
use crate::state::AppState;

/// Most parts a form may have (16 images, a mask and the text fields).
pub const MAX_PARTS: usize = 48;

/// Which parts a form accepts.
#[derive(Debug, Clone, Copy)]
pub struct FormSpec {
    /// Text fields accepted.
    pub text: &'static [&'static str],
    /// Text fields that carry integers.
    pub integers: &'static [&'static str],
    /// Text fields that carry booleans.
    pub booleans: &'static [&'static str],
    /// Text fields sent as nested objects in the SDKs' bracket style (`svg[model]`,
    /// `svg[reasoning][effort]`).
    pub objects: &'static [&'static str],
    /// Whether a `mask` part is accepted.
    pub mask: bool,
    /// Whether a `markup` part is accepted.
    pub markup: bool,
    /// Whether several images are accepted (`image[]`).
    pub many_images: bool,
}

/// A read form: text fields as JSON values (typed where the field is numeric or boolean), for
/// the route's DTO in [`crate::wire`] to read, and the files.
#[derive(Debug, Default)]
pub struct ImageForm {
    /// Text fields.
    pub fields: Map<String, Value>,
    /// The file parts.
    pub uploads: Uploads,
}

/// The file parts of a form, each inspected.
#[derive(Debug, Default)]
pub struct Uploads {
    /// Images in the order sent.
    pub images: Vec<UploadedImage>,
    /// The mask.
    pub mask: Option<UploadedImage>,
    /// The markup overlay.
    pub markup: Option<UploadedImage>,
}

fn is_image_part(name: &str) -> bool {
    name == "image"
        || name == "image[]"
        || name
            .strip_prefix("image[")
            .and_then(|rest| rest.strip_suffix(']'))
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks that the body is declared as a form: exactly one `Content-Type`, of type
/// `multipart/form-data` (any case). Whether it has a usable boundary is the form reader's
/// concern, so a JSON body is never told about boundaries.
///
/// # Errors
/// `unsupported_media_type` naming the expected type, with `param` `Content-Type`.
pub fn multipart_content_type(headers: &HeaderMap) -> Result<(), Error> {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let essence = match (values.next(), values.next()) {
        (Some(value), None) => value
            .to_str()
            .ok()
            .map(|t| t.split(';').next().unwrap_or(t)),
        _ => None,
    };
    if essence.is_some_and(|t| t.trim().eq_ignore_ascii_case("multipart/form-data")) {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::UnsupportedMediaType,
        "this route takes a multipart/form-data form (the image as a file part, the other \
         fields as text parts), not another Content-Type",
    )
    .with_param("Content-Type"))
}

/// Middleware for the upload routes: a body that is not declared as `multipart/form-data` is
/// a 415 before it takes an upload slot or a byte of it is read.
pub async fn require_multipart(request: Request, next: Next) -> Response {
    match multipart_content_type(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(err) => {
            let request_id = request.extensions().get::<RequestId>().cloned();
            ApiError::new(err, request_id).into_response()
        }
    }
}

fn multipart_error(err: &MultipartError) -> Error {
    if is_read_timeout(err) {
        read_timeout_error()
    } else if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::new(ErrorCode::PayloadTooLarge, "the upload is too large")
    } else {
        Error::new(
            ErrorCode::InvalidRequest,
            // The parser's message may quote a part's name or headers.
            format!(
                "malformed multipart body: {}",
                capped_message(&err.body_text())
            ),
        )
    }
}

/// Splits `svg[reasoning][effort]` into `svg` and `["reasoning", "effort"]`; `None` for a
/// plain name or a malformed one.
fn bracket_path(name: &str) -> Option<(&str, Vec<&str>)> {
    let open = name.find('[')?;
    let (root, mut rest) = name.split_at(open);
    let mut path = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let close = inner.find(']')?;
        let key = &inner[..close];
        if key.is_empty() || !is_param_name(key) {
            return None;
        }
        path.push(key);
        rest = &inner[close + 1..];
    }
    (rest.is_empty() && !path.is_empty() && is_param_name(root)).then_some((root, path))
}

/// Names a future parameter could have: `[A-Za-z0-9_]`, at most 64 bytes.
fn is_param_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Puts `value` at `path` inside the object field `root`.
fn insert_nested(
    fields: &mut Map<String, Value>,
    root: &str,
    path: &[&str],
    value: Value,
) -> Result<(), Error> {
    let twice = || Error::invalid_param(root, format!("'{root}' was sent twice"));
    let mut node = fields
        .entry(root.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    for (i, key) in path.iter().enumerate() {
        let Value::Object(map) = node else {
            return Err(twice());
        };
        if i + 1 == path.len() {
            if map.insert((*key).to_owned(), value).is_some() {
                return Err(twice());
            }
            return Ok(());
        }
        node = map
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

/// Reads and checks a whole form. Text fields ArtGen does not know are kept (the catalogue's
/// `unknown_params` policy forwards or refuses them); file parts it does not know are refused.
///
/// # Errors
/// `invalid_request` for a malformed body, too many parts, an unknown file part, a repeated
/// part, a field name no parameter could have, a file where text is expected (or the reverse); `request_timeout` when the body comes too slowly; `payload_too_large` past the body limit or
/// for an image larger than any model accepts; the upload errors of
/// [`UploadedImage::inspect`].
pub async fn read_form(
    mut multipart: Multipart,
    spec: FormSpec,
    catalog: &Catalog,
) -> Result<ImageForm, Error> {
    let max_image_bytes = artgen_core::domain::model::largest_edit_input(catalog);
    let mut form = ImageForm::default();
    let mut parts = 0;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&e))?
    {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("a form may have at most {MAX_PARTS} parts"),
            ));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let unknown = || {
            let shown = echo(&name);
            Error::new(
                ErrorCode::UnknownParameter,
                format!("unknown part '{shown}'"),
            )
            .with_param(shown)
        };
        let is_file = field.file_name().is_some();
        let overlay = (name == "mask" && spec.mask) || (name == "markup" && spec.markup);
        if is_image_part(&name) || overlay {
            if !overlay && name != "image" && !spec.many_images {
                return Err(unknown());
            }
            let filename = field.file_name().map(str::to_owned);
            // Capped: an upload's error may repeat its declared type.
            let declared = field.content_type().map(echo);
            let bytes = field.bytes().await.map_err(|e| multipart_error(&e))?;
            let part = match name.as_str() {
                "mask" => "mask",
                "markup" => "markup",
                _ => "image",
            };
            let image = UploadedImage::inspect(
                part,
                filename.as_deref(),
                declared.as_deref(),
                bytes,
                max_image_bytes,
            )?;
            if overlay {
                let slot = if part == "mask" {
                    &mut form.uploads.mask
                } else {
                    &mut form.uploads.markup
                };
                if slot.replace(image).is_some() {
                    return Err(Error::invalid_param(
                        part,
                        format!("only one {part} may be sent"),
                    ));
                }
            } else {
                if !spec.many_images && !form.uploads.images.is_empty() {
                    return Err(Error::invalid_param("image", "only one image may be sent"));
                }
                form.uploads.images.push(image);
            }
            continue;
        }
        let known = spec.text.contains(&name.as_str());
        let nested = bracket_path(&name);
        if !known && nested.is_none() && !is_param_name(&name) {
            return Err(unknown());
        }
        if is_file {
            // A file ArtGen does not know cannot be checked, so it is never forwarded.
            let shown = echo(&name);
            return Err(if known {
                Error::invalid_param(
                    shown.clone(),
                    format!("'{shown}' must be a text field, not a file"),
                )
            } else {
                Error::new(
                    ErrorCode::UnknownParameter,
                    format!("unknown file part '{shown}'"),
                )
                .with_param(shown)
            });
        }
        let text = field.text().await.map_err(|e| multipart_error(&e))?;
        if let Some((root, path)) = nested {
            if spec.text.contains(&root) && !spec.objects.contains(&root) {
                return Err(unknown());
            }
            let leaf = path.last().copied().unwrap_or(root);
            insert_nested(&mut form.fields, root, &path, typed(leaf, text, spec))?;
            continue;
        }
        if name == "model" {
            note_model(&text);
        }
        let value = match serde_json::from_str::<Value>(&text) {
            // An object field may also come whole, as JSON text.
            Ok(object @ Value::Object(_)) if spec.objects.contains(&name.as_str()) => object,
            _ => typed(&name, text, spec),
        };
        if form.fields.insert(name.clone(), value).is_some() {
            return Err(Error::invalid_param(
                name.clone(),
                format!("'{name}' was sent twice"),
            ));
        }
    }
    Ok(form)
}

/// Reads and checks an upload form, answering every failure with the request id.
///
/// The router's [`require_multipart`] has already refused a body not declared as
/// `multipart/form-data`.
///
/// # Errors
/// `invalid_request` when the form's `Content-Type` has no usable boundary; the errors of
/// [`read_form`].
pub async fn read_upload(
    state: &AppState,
    ctx: &RequestContext,
    multipart: Result<Multipart, MultipartRejection>,
    spec: FormSpec,
) -> Result<ImageForm, ApiError> {
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let multipart = multipart_body(multipart).map_err(fail)?;
    read_form(multipart, spec, state.service().catalog())
        .await
        .map_err(fail)
}

/// The multipart body of a request declared as `multipart/form-data`.
///
/// # Errors
/// `invalid_request` (param `Content-Type`) when its boundary is missing or unusable.
pub fn multipart_body(body: Result<Multipart, MultipartRejection>) -> Result<Multipart, Error> {
    body.map_err(|_| {
        Error::invalid_param(
            "Content-Type",
            "the multipart/form-data Content-Type needs a boundary parameter, as HTTP clients \
             set when they build the form",
        )
    })
}

/// Integers and booleans become JSON numbers and booleans when they parse, so that the
/// strict deserialiser names the field when they do not.
fn typed(name: &str, text: String, spec: FormSpec) -> Value {
    let trimmed = text.trim();
    if spec.integers.contains(&name) {
        if let Ok(n) = trimmed.parse::<i64>() {
            return Value::from(n);
        }
    }
    if spec.booleans.contains(&name) {
        match trimmed {
            "true" | "True" | "1" => return Value::Bool(true),
            "false" | "False" | "0" => return Value::Bool(false),
            _ => {}
        }
    }
    Value::String(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_image_part_names() {
        for name in ["image", "image[]", "image[0]", "image[15]"] {
            assert!(is_image_part(name), "{name}");
        }
        for name in ["images", "image[x]", "image[", "mask"] {
            assert!(!is_image_part(name), "{name}");
        }
    }

    #[test]
    fn only_a_single_multipart_form_data_content_type_is_a_form() {
        let headers = |values: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::CONTENT_TYPE, value.parse().expect("a header value"));
            }
            headers
        };
        for ok in ["multipart/form-data; boundary=x", "Multipart/Form-Data"] {
            assert!(multipart_content_type(&headers(&[ok])).is_ok(), "{ok}");
        }
        let refused: [&[&'static str]; 5] = [
            &[],
            &["application/json"],
            &["multipart/mixed; boundary=x"],
            &["text/plain"],
            &[
                "multipart/form-data; boundary=x",
                "multipart/form-data; boundary=y",
            ],
        ];
        for values in refused {
            let err = multipart_content_type(&headers(values)).expect_err("refused");
            assert_eq!(err.code(), ErrorCode::UnsupportedMediaType, "{values:?}");
            assert!(err.message().contains("multipart/form-data"), "{values:?}");
            assert!(!err.message().contains("boundary"), "{values:?}");
        }
    }

    #[test]
    fn reads_the_sdks_bracketed_object_fields() {
        assert_eq!(bracket_path("svg[model]"), Some(("svg", vec!["model"])));
        assert_eq!(
            bracket_path("svg[reasoning][effort]"),
            Some(("svg", vec!["reasoning", "effort"]))
        );
        for bad in ["svg[", "svg[]", "svg[a]x", "[a]", "svg[a b]"] {
            assert_eq!(bracket_path(bad), None, "{bad}");
        }
        let mut fields = Map::new();
        insert_nested(&mut fields, "svg", &["model"], Value::from("m")).expect("first");
        insert_nested(
            &mut fields,
            "svg",
            &["reasoning", "effort"],
            Value::from("high"),
        )
        .expect("second");
        assert_eq!(
            Value::Object(fields.clone()),
            serde_json::json!({"svg": {"model": "m", "reasoning": {"effort": "high"}}})
        );
        assert!(insert_nested(&mut fields, "svg", &["model"], Value::from("x")).is_err());
    }

    #[test]
    fn types_numeric_and_boolean_fields() {
        let spec = FormSpec {
            text: &[],
            integers: &["n"],
            booleans: &["stream"],
            objects: &[],
            mask: false,
            markup: false,
            many_images: false,
        };
        assert_eq!(typed("n", "2".into(), spec), Value::from(2));
        assert_eq!(typed("n", "two".into(), spec), Value::from("two"));
        assert_eq!(typed("stream", "true".into(), spec), Value::Bool(true));
        assert_eq!(typed("prompt", "7".into(), spec), Value::from("7"));
    }
}
