//! The crate's error type, and how each failure maps to the core's error codes under the
//! `ImageProvider::run` contract.

use artgen_core::{Error, ErrorCode};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

pub use crate::api_error::ApiError;

/// Everything that can go wrong talking to the upstream. Converts into [`artgen_core::Error`]
/// with the right code and retry advice, keeping itself as the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenAiError {
    /// The configuration cannot work.
    #[error("invalid OpenAI provider config: {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The request body could not be encoded.
    #[error("could not encode the request body")]
    Encode(#[source] serde_json::Error),
    /// The multipart body of an edit or variation could not be built.
    #[error("could not build the multipart request body")]
    Form(#[source] reqwest::Error),
    /// The job cannot be streamed (a variation, or a model without streaming).
    #[error("cannot stream: {reason}")]
    NotStreamable {
        /// Why.
        reason: String,
    },
    /// No answer: connecting, sending or reading failed, or the deadline passed.
    #[error("the call to the upstream failed")]
    Transport(#[source] reqwest::Error),
    /// The upstream answered with an error status.
    #[error(transparent)]
    Api(Box<ApiError>),
    /// A success answer that is not the expected JSON.
    #[error("the upstream's answer is not valid JSON")]
    Decode(#[source] serde_json::Error),
    /// An image whose `b64_json` is not valid base64.
    #[error("image {index} of the upstream's answer is not valid base64")]
    Base64 {
        /// Position of the image in `data`.
        index: usize,
        /// The decoding failure.
        #[source]
        source: base64::DecodeError,
    },
    /// The answer (for a stream: one event) is larger than `max_response_bytes`.
    #[error("the upstream's answer exceeds {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A success answer without any image (for a stream: one that ended before a completed
    /// image).
    #[error("the upstream's answer holds no images")]
    NoImages,
    /// An image given only as a URL, which ArtGen does not fetch.
    #[error("image {index} of the upstream's answer is a URL, not base64 data")]
    UrlOnly {
        /// Position of the image in `data`.
        index: usize,
    },
    /// An image with neither base64 data nor a URL.
    #[error("image {index} of the upstream's answer has no data")]
    EmptyImage {
        /// Position of the image in `data`.
        index: usize,
    },
}

/// Maps an error answer (status, headers, body) to the core error, keeping it as the cause.
pub(crate) fn error_from_response(
    model: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    OpenAiError::Api(Box::new(ApiError::from_response(
        model, status, headers, body,
    )))
    .into()
}

impl From<OpenAiError> for Error {
    fn from(err: OpenAiError) -> Self {
        let error = match &err {
            OpenAiError::InvalidConfig { .. }
            | OpenAiError::Client(_)
            | OpenAiError::Encode(_)
            | OpenAiError::Form(_) => Error::new(ErrorCode::Internal, "internal error"),
            OpenAiError::NotStreamable { reason } => {
                Error::new(ErrorCode::UpstreamError, format!("cannot stream: {reason}"))
            }
            OpenAiError::Transport(cause) => transport(cause),
            OpenAiError::Api(api) => api.classify(),
            OpenAiError::TooLarge { limit } => Error::new(
                ErrorCode::UpstreamError,
                format!("the upstream's answer exceeded {limit} bytes"),
            ),
            OpenAiError::Decode(_)
            | OpenAiError::Base64 { .. }
            | OpenAiError::NoImages
            | OpenAiError::UrlOnly { .. }
            | OpenAiError::EmptyImage { .. } => Error::new(
                ErrorCode::UpstreamError,
                "the upstream sent an answer ArtGen cannot use",
            ),
        };
        error.with_source(err)
    }
}

/// A call that got no answer. Nothing was sent when connecting failed, so that is retryable;
/// after a timeout or a broken connection the upstream may have done (and billed) the work,
/// so those are not.
fn transport(cause: &reqwest::Error) -> Error {
    if cause.is_connect() {
        Error::new(
            ErrorCode::UpstreamError,
            "could not connect to the upstream",
        )
        .retryable(true)
    } else if cause.is_timeout() {
        Error::new(
            ErrorCode::UpstreamTimeout,
            "the upstream did not answer in time",
        )
    } else {
        Error::new(
            ErrorCode::UpstreamError,
            "the connection to the upstream failed during the call",
        )
    }
}
