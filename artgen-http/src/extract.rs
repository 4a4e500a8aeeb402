//! Extractors that turn every client mistake into an [`ApiError`] naming the parameter.

use artgen_core::domain::RequestId;
use artgen_core::{Error, ErrorCode};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::middleware::note_model;

/// A JSON body parsed strictly: a `Content-Type` other than `application/json` (UTF-8) is a 415;
/// malformed JSON, a non-object, an unknown field, a wrong type or an out-of-range value is a
/// 400 naming the field; a body over the limit is a 413.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = req.extensions().get::<RequestId>().cloned();
        let fail = |e: Error| ApiError::new(e, request_id.clone());
        json_content_type(req.headers()).map_err(fail)?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| fail(body_error(&r)))?;
        note_named_model(&bytes);
        parse_json(&bytes).map(JsonBody).map_err(fail)
    }
}

/// Notes the body's top-level `model` string, if it has one, before anything can fail.
fn note_named_model(bytes: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Named {
        model: Option<String>,
    }
    if let Ok(Named { model: Some(model) }) = serde_json::from_slice(bytes) {
        note_model(&model);
    }
}

/// Checks that the body is declared as JSON: exactly one `Content-Type`, whose type is
/// `application/json` (any case, any parameters) with no charset or `charset=utf-8`. JSON is
/// UTF-8 (RFC 8259), so another charset would be misread rather than converted; `+json` types
/// are refused too, as no client of this API needs them.
///
/// # Errors
/// `unsupported_media_type` naming the expected type, with `param` `Content-Type`.
fn json_content_type(headers: &HeaderMap) -> Result<(), Error> {
    let refuse = || {
        Error::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be JSON sent with 'Content-Type: application/json' \
             (charset utf-8 or none)",
        )
        .with_param("Content-Type")
    };
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(refuse());
    };
    let mut parts = value.to_str().map_err(|_| refuse())?.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(refuse());
    }
    for parameter in parts {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if name.trim().eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
            return Err(refuse());
        }
    }
    Ok(())
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

/// Most characters of the request's own text (a field name, a value) that an error repeats.
pub const ECHO_CHARS: usize = 64;

/// Most characters of an error message built around the request's text.
const MESSAGE_CHARS: usize = 256;

/// The request's text as an error may repeat it: at most [`ECHO_CHARS`] characters, then `…`.
pub fn echo(text: &str) -> String {
    truncated(text, ECHO_CHARS)
}

fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A message from a parser that may quote the request: every quoted or backticked stretch
/// shortened with [`echo`], and the whole at most 256 characters (a quote inside the
/// request's text could otherwise hide the rest of it from the first pass).
pub fn capped_message(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=open]);
        let inner = &rest[open + 1..];
        let close = closing_quote(inner, quote).unwrap_or(inner.len());
        out.push_str(&echo(&inner[..close]));
        rest = &inner[close..];
        if let Some(after) = rest.strip_prefix(quote) {
            out.push(quote);
            rest = after;
        }
    }
    out.push_str(rest);
    truncated(&out, MESSAGE_CHARS)
}

/// Where `quote` closes `text` (skipping backslash escapes inside double quotes).
fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quote == '"' => escaped = true,
            _ if c == quote => return Some(at),
            _ => {}
        }
    }
    None
}

/// Parses a JSON object into `T`, naming the offending field on failure.
///
/// # Errors
/// `invalid_request`, with `param` set whenever one field is to blame.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorCode::InvalidRequest,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            "the body must be a JSON object",
        ));
    }
    // A JSON value keeps only the last of two equal keys; refuse the ambiguity instead.
    if let Err(e) = serde_json::from_slice::<UniqueKeys>(bytes) {
        let message = e.to_string();
        let field = echo(backticked(&message, "duplicate field `").unwrap_or_default());
        return Err(Error::invalid_param(
            field.clone(),
            format!("'{field}' appears twice"),
        ));
    }
    from_value(value)
}

/// Deserialises a JSON object only to check that no top-level key repeats.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
                    }
                }
                Ok(UniqueKeys)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Deserialises a JSON value into `T`, naming the offending field on failure.
///
/// # Errors
/// `invalid_request`, with `param` set whenever one field is to blame.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.inner().to_string();
        let param = backticked(&inner, "unknown field `")
            .or_else(|| backticked(&inner, "missing field `"))
            .map(echo)
            .or_else(|| Some(echo(&e.path().to_string())).filter(|p| p != "."));
        let message = match backticked(&inner, "unknown field `") {
            Some(field) => format!("unknown parameter '{}'", echo(field)),
            None => capped_message(
                &(inner
                    .split(", expected one of")
                    .next()
                    .unwrap_or(&inner)
                    .to_owned()
                    + &expected_suffix(&inner)),
            ),
        };
        let code = if backticked(&inner, "missing field `").is_some() {
            ErrorCode::MissingParameter
        } else if backticked(&inner, "unknown field `").is_some() {
            ErrorCode::UnknownParameter
        } else if param.is_some() {
            ErrorCode::InvalidValue
        } else {
            ErrorCode::InvalidRequest
        };
        let err = Error::new(code, message);
        match param {
            Some(p) => err.with_param(p),
            None => err,
        }
    })
}

fn expected_suffix(message: &str) -> String {
    message
        .split_once(", expected one of")
        .map(|(_, rest)| format!(", expected one of{rest}"))
        .unwrap_or_default()
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::GenerateBody;

    fn param_of(body: &str) -> Option<String> {
        parse_json::<GenerateBody>(body.as_bytes())
            .expect_err("invalid")
            .param()
            .map(str::to_owned)
    }

    #[test]
    fn names_unknown_missing_and_mistyped_fields() {
        // An unknown field is kept for the catalogue's policy, not refused here.
        let parsed: GenerateBody =
            parse_json(br#"{"model":"x","prompt":"y","user_id":"z"}"#).expect("kept");
        assert_eq!(parsed.extra["user_id"], "z");
        let missing = parse_json::<GenerateBody>(br#"{"model":"x"}"#).expect_err("missing");
        assert_eq!(missing.param(), Some("prompt"));
        assert_eq!(missing.code(), ErrorCode::MissingParameter);
        assert_eq!(
            param_of(r#"{"model":"x","prompt":"y","n":"2"}"#).as_deref(),
            Some("n")
        );
        assert_eq!(
            param_of(r#"{"model":"x","prompt":"y","n":-1}"#).as_deref(),
            Some("n")
        );
        assert_eq!(
            param_of(r#"{"model":"x","prompt":"y","quality":"ultra"}"#).as_deref(),
            Some("quality")
        );
        assert_eq!(
            param_of(r#"{"model":5,"prompt":"y"}"#).as_deref(),
            Some("model")
        );
    }

    #[test]
    fn repeated_keys_are_refused_naming_the_key() {
        assert_eq!(
            param_of(r#"{"model":"x","prompt":"y","prompt":"z"}"#).as_deref(),
            Some("prompt")
        );
    }

    fn content_type(values: &[&'static str]) -> Result<(), Error> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::CONTENT_TYPE, value.parse().expect("a header value"));
        }
        json_content_type(&headers)
    }

    #[test]
    fn accepts_application_json_with_parameters_and_a_utf8_charset() {
        for value in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
            "application/json; foo=bar",
        ] {
            assert!(content_type(&[value]).is_ok(), "{value}");
        }
    }

    #[test]
    fn refuses_other_types_other_charsets_and_ambiguous_headers() {
        let refused: [&[&'static str]; 8] = [
            &[],
            &["text/plain"],
            &["application/x-www-form-urlencoded"],
            &["application/json; charset=utf-16"],
            &["application/json; charset=iso-8859-1"],
            &["application/jsonl"],
            &["application/problem+json"],
            &["application/json", "application/json"],
        ];
        for values in refused {
            let err = content_type(values).expect_err("refused");
            assert_eq!(err.code(), ErrorCode::UnsupportedMediaType, "{values:?}");
            assert_eq!(err.param(), Some("Content-Type"), "{values:?}");
            assert!(err.message().contains("application/json"), "{values:?}");
        }
    }

    #[test]
    fn echoes_of_the_request_are_capped() {
        let long = "k".repeat(1 << 20);
        let repeated = format!(r#"{{"{long}":1,"{long}":2}}"#);
        let variant = format!(r#"{{"model":"x","prompt":"y","quality":"{long}"}}"#);
        let mistyped = format!(r#"{{"model":"x","prompt":"y","n":"a`\"{long}"}}"#);
        for body in [repeated, variant, mistyped] {
            let err = parse_json::<GenerateBody>(body.as_bytes()).expect_err("invalid");
            assert!(err.message().chars().count() <= 257, "{}", err.message());
            let param = err.param().unwrap_or_default();
            assert!(param.chars().count() <= ECHO_CHARS + 1, "{param}");
        }
    }

    #[test]
    fn capped_messages_keep_short_quotes_and_shorten_long_ones() {
        assert_eq!(
            capped_message("unknown variant `ultra`, expected `low`"),
            "unknown variant `ultra`, expected `low`"
        );
        let long = "x".repeat(100);
        assert_eq!(
            capped_message(&format!("invalid type: string \"{long}\", expected u32")),
            format!("invalid type: string \"{}…\", expected u32", "x".repeat(64))
        );
        assert_eq!(
            capped_message(&format!("string \"a\\\"{long}\" end")),
            format!("string \"a\\\"{}…\" end", "x".repeat(61))
        );
    }

    #[test]
    fn malformed_json_and_non_objects_are_invalid_requests() {
        for body in ["{", "[]", "null", "\"text\""] {
            let err = parse_json::<GenerateBody>(body.as_bytes()).expect_err("invalid");
            assert_eq!(err.code(), ErrorCode::InvalidRequest, "{body}");
        }
    }
}
