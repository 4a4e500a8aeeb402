//! Multipart forms of `/edit`, `/variation` and their `/v1/images/*` twins: every part is
//! checked before anything goes upstream, and each failure names the part.

use artgen_core::domain::{Catalog, RequestId, UploadedImage};
use artgen_core::{Error, ErrorCode};
use axum::extract::multipart::{Multipart, MultipartError};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::extract::{capped_message, echo};

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
    /// Whether a `mask` part is accepted.
    pub mask: bool,
    /// Whether several images are accepted (`image[]`).
    pub many_images: bool,
}

/// A read form: text fields as JSON values (typed where the field is numeric or boolean),
/// images in order, the mask.
#[derive(Debug, Default)]
pub struct ImageForm {
    /// Text fields.
    pub fields: Map<String, Value>,
    /// Images in the order sent.
    pub images: Vec<UploadedImage>,
    /// The mask.
    pub mask: Option<UploadedImage>,
}

impl ImageForm {
    /// Removes and returns a text field.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.fields.remove(name)
    }
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
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
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

/// Reads and checks a whole form.
///
/// # Errors
/// `invalid_request` for a malformed body, too many parts, an unknown or repeated part, a
/// file where text is expected (or the reverse); `payload_too_large` past the body limit or
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
            Error::invalid_param(shown.clone(), format!("unknown part '{shown}'"))
        };
        let is_file = field.file_name().is_some();
        if is_image_part(&name) || name == "mask" {
            if name == "mask" && !spec.mask {
                return Err(unknown());
            }
            if name != "image" && name != "mask" && !spec.many_images {
                return Err(unknown());
            }
            let filename = field.file_name().map(str::to_owned);
            // Capped: an upload's error may repeat its declared type.
            let declared = field.content_type().map(echo);
            let bytes = field.bytes().await.map_err(|e| multipart_error(&e))?;
            let part = if name == "mask" { "mask" } else { "image" };
            let image = UploadedImage::inspect(
                part,
                filename.as_deref(),
                declared.as_deref(),
                bytes,
                max_image_bytes,
            )?;
            if name == "mask" {
                if form.mask.replace(image).is_some() {
                    return Err(Error::invalid_param("mask", "only one mask may be sent"));
                }
            } else {
                if !spec.many_images && !form.images.is_empty() {
                    return Err(Error::invalid_param("image", "only one image may be sent"));
                }
                form.images.push(image);
            }
            continue;
        }
        if !spec.text.contains(&name.as_str()) {
            return Err(unknown());
        }
        if is_file {
            return Err(Error::invalid_param(
                name.clone(),
                format!("'{name}' must be a text field, not a file"),
            ));
        }
        let text = field.text().await.map_err(|e| multipart_error(&e))?;
        let value = typed(&name, text, spec);
        if form.fields.insert(name.clone(), value).is_some() {
            return Err(Error::invalid_param(
                name.clone(),
                format!("'{name}' was sent twice"),
            ));
        }
    }
    Ok(form)
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
    fn types_numeric_and_boolean_fields() {
        let spec = FormSpec {
            text: &[],
            integers: &["n"],
            booleans: &["stream"],
            mask: false,
            many_images: false,
        };
        assert_eq!(typed("n", "2".into(), spec), Value::from(2));
        assert_eq!(typed("n", "two".into(), spec), Value::from("two"));
        assert_eq!(typed("stream", "true".into(), spec), Value::Bool(true));
        assert_eq!(typed("prompt", "7".into(), spec), Value::from("7"));
    }
}
