//! The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`.
//!
//! Operations come from the handlers' `#[utoipa::path]` attributes, and request and answer
//! schemas from the DTOs themselves ([`crate::wire`], [`crate::present`]). What utoipa cannot
//! see is filled in here: enums built from the core's own value lists (so wire names cannot
//! drift), one error response per status listing the codes
//! [`status_code`] maps to it, and the bearer security scheme. [`strict`] and [`answers`] then
//! write in what the derive cannot state, so the document refuses what the server refuses and
//! describes answers as they are sent.

pub mod answers;
pub mod schemas;
pub mod strict;

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use artgen_core::{ErrorCode, ErrorKind};
use axum::http::StatusCode;
use axum::Json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Components, ContentBuilder, Ref, RefOr, Required, Response, ResponseBuilder,
};
use utoipa::{IntoParams, IntoResponses, OpenApi, ToSchema};

use self::schemas::{ErrorCodeSchema, ImageFile, ImageStream};
use crate::error::status_code;
use crate::routes;

/// Name of the bearer security scheme (`Authorization: Bearer <API key or OIDC token>`).
pub const BEARER: &str = "bearer";

/// The optional `Idempotency-Key` header of the POST routes.
pub struct IdempotencyKey;

impl IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some(strict::IDEMPOTENCY_KEY));
        vec![ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "1–255 visible ASCII characters. A retry with the same key and request gets the \
                 first answer for 24 h (marked `Idempotent-Replayed: true`) instead of a second \
                 run and charge; the same key with another request is 409 `conflict`, one still \
                 running is 409 `idempotency_in_progress`. Event streams are never replayed.",
            ))
            .schema(Some(schema))
            .build()]
    }
}

/// Every error answer: `{"error": {...}}`.
#[derive(ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The error itself.
#[derive(ToSchema)]
pub struct ErrorBody {
    /// The stable code.
    pub code: ErrorCodeSchema,
    /// Safe to show the caller; generic for internal errors.
    pub message: String,
    /// OpenAI's error class, so OpenAI SDKs classify the error as they would theirs.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// The offending parameter, form part or header, when one is to blame.
    #[schema(required = true)]
    pub param: Option<String>,
    /// The request id (also in the `x-request-id` header).
    #[schema(required = true)]
    pub request_id: Option<String>,
}

/// OpenAI's error classes, as OpenAI sends them.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// Bad input and a refused key: 400, 401, 404, 405, 408, 409, 413, 415.
    InvalidRequestError,
    /// A safety refusal of a GPT image model (`moderation_blocked`).
    ImageGenerationUserError,
    /// 403.
    PermissionError,
    /// A request rate limit (`rate_limit_exceeded`).
    Requests,
    /// A budget (`budget_exceeded`).
    InsufficientQuota,
    /// 5xx.
    ServerError,
}

/// Sets of error responses, each a reference to the shared response of its status.
macro_rules! error_set {
    ($(#[$meta:meta])* $name:ident: $($status:ident),+) => {
        $(#[$meta])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let reference = |s: StatusCode| Ref::from_response_name(response_name(s)).into();
                [$(StatusCode::$status),+]
                    .into_iter()
                    .map(|s| (s.as_str().to_owned(), reference(s)))
                    .collect()
            }
        }
    };
}

error_set!(
    /// Errors of the JSON job routes (`/generate`, `/v1/images/generations`); 404 is
    /// `model_not_found` or `model_retired`.
    JobErrors: BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, REQUEST_TIMEOUT, CONFLICT, PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE, TOO_MANY_REQUESTS, INTERNAL_SERVER_ERROR, BAD_GATEWAY,
    SERVICE_UNAVAILABLE, GATEWAY_TIMEOUT
);
error_set!(
    /// Errors of the multipart job routes: those of the JSON ones.
    UploadErrors: BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, REQUEST_TIMEOUT, CONFLICT, PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE, TOO_MANY_REQUESTS, INTERNAL_SERVER_ERROR, BAD_GATEWAY,
    SERVICE_UNAVAILABLE, GATEWAY_TIMEOUT
);
error_set!(
    /// Errors of `GET /images/{id}` (400: two `Authorization` headers).
    ImageErrors: BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, INTERNAL_SERVER_ERROR
);
error_set!(
    /// Errors of `GET /v1/models` (400: two `Authorization` headers).
    ReadErrors: BAD_REQUEST, UNAUTHORIZED, INTERNAL_SERVER_ERROR
);
error_set!(
    /// Errors of `GET /v1/models/{id}`: those of the list, and 404 `model_not_found`.
    ModelErrors: BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, INTERNAL_SERVER_ERROR
);
error_set!(
    /// Errors of the admin routes without a body (403: not an admin; 404: no such user or
    /// key).
    AdminErrors: BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, INTERNAL_SERVER_ERROR
);
error_set!(
    /// Errors of the admin routes with a JSON body: those without, and the body's own.
    AdminBodyErrors: BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE, INTERNAL_SERVER_ERROR
);
error_set!(
    /// Errors of `GET /metrics` (400: two `Authorization` headers).
    MetricsErrors: BAD_REQUEST, UNAUTHORIZED, INTERNAL_SERVER_ERROR
);

/// `components/responses` name of a status's error response, e.g. `TooManyRequests`.
fn response_name(status: StatusCode) -> String {
    status.canonical_reason().map_or_else(
        || format!("Error{}", status.as_u16()),
        |reason| reason.split([' ', '-']).collect(),
    )
}

/// The error response of a status: the envelope, described by the codes that map to it.
fn error_response(status: StatusCode, codes: &[&str]) -> Response {
    let envelope = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorEnvelope::name())))
        .build();
    let mut response = ResponseBuilder::new()
        .description(format!(
            "The error envelope; `error.code` is one of: `{}`.",
            codes.join("`, `")
        ))
        .content("application/json", envelope);
    let header = |description: &str, kind: Type| {
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(kind)))
            .description(Some(description))
            .build()
    };
    if status == StatusCode::UNAUTHORIZED {
        response = response.header("WWW-Authenticate", header("`Bearer`.", Type::String));
    }
    if matches!(status.as_u16(), 409 | 429 | 503) {
        let advice = "Seconds to wait before retrying, when known.";
        response = response.header("Retry-After", header(advice, Type::Integer));
    }
    response.build()
}

/// Copies a request schema for the OpenAI-compatible twin of a route, naming the shipped
/// catalogue's default `model` (optional on every route).
fn with_default_model(components: &mut Components, from: &str, to: &str, default: &str) {
    let Some(RefOr::T(Schema::Object(mut object))) = components.schemas.get(from).cloned() else {
        return;
    };
    object.required.retain(|field| field != "model");
    if let Some(RefOr::T(Schema::Object(model))) = object.properties.get_mut("model") {
        model.description = Some(format!("Model id or alias (default `{default}`)."));
    }
    components
        .schemas
        .insert(to.to_owned(), Schema::Object(object).into());
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ArtGen",
        description = "A gateway in front of OpenAI's Image API: native routes (`/generate`, \
            `/edit`, `/variation`) and OpenAI-compatible ones (`/v1/images/*`), with API keys, \
            rate limits, budgets and accounting. Every answer carries `x-request-id`; every \
            error is the envelope `{\"error\":{\"code\",\"message\",\"type\",\"param\",\
            \"request_id\"}}`."
    ),
    paths(
        routes::generate::generate,
        routes::edit::edit,
        routes::edit::variation,
        routes::openai::generations,
        routes::openai::edits,
        routes::openai::variations,
        routes::models::list,
        routes::models::retrieve,
        routes::images::image,
        routes::images::gallery,
        routes::images::delete,
        routes::health::health,
        routes::metrics::metrics,
        routes::admin::usage::usage,
        routes::admin::users::create,
        routes::admin::users::list,
        routes::admin::users::get,
        routes::admin::users::set_limits,
        routes::admin::users::disable,
        routes::admin::users::enable,
        routes::admin::users::set_org_limits,
        routes::admin::keys::create,
        routes::admin::keys::list,
        routes::admin::keys::revoke,
        routes::admin::audit::list,
        openapi_json,
    ),
    components(schemas(ErrorEnvelope, ImageFile, ImageStream)),
    tags(
        (name = "native", description = "ArtGen's own request and answer shapes."),
        (name = "openai", description = "OpenAI's Image API shapes, for the official SDKs."),
        (name = "operations", description = "Images, health, metrics and this document."),
        (name = "admin", description = "Users, limits, keys, usage and the audit trail; admins only."),
    )
)]
struct ApiDoc;

/// The whole document, as served.
pub fn document() -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Components::new);
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "`Authorization: Bearer <API key>`, or `Bearer <OIDC access token>` when \
                 `oidc.issuer` is set",
        ))
        .build();
    components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    let mut codes: HashMap<StatusCode, Vec<&str>> = HashMap::new();
    for code in ErrorCode::ALL {
        // `cancelled` is never answered: the client has gone.
        if code.kind() != ErrorKind::Cancelled {
            let status = status_code(code.kind());
            let names = codes.entry(status).or_default();
            if !names.contains(&code.as_str()) {
                names.push(code.as_str());
            }
        }
    }
    for (status, codes) in &codes {
        let response = error_response(*status, codes);
        components
            .responses
            .insert(response_name(*status), response.into());
    }
    with_default_model(
        components,
        "GenerateRequest",
        "OpenAiGenerateRequest",
        "dall-e-2",
    );
    with_default_model(components, "EditForm", "OpenAiEditForm", "gpt-image-1.5");
    // utoipa cannot tell a body given by reference is required; every body here is.
    for item in doc.paths.paths.values_mut() {
        for op in [item.post.as_mut(), item.put.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(RefOr::T(body)) = op.request_body.as_mut() {
                body.required = Some(Required::True);
            }
        }
    }
    let mut doc = serde_json::to_value(&doc).unwrap_or_default();
    let codes = codes.iter().map(|(s, c)| (response_name(*s), c.as_slice()));
    strict::tighten(&mut doc);
    answers::describe(&mut doc, codes);
    doc
}

/// This OpenAPI document (built once, then served from memory).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1).", body = Object))
)]
pub(crate) async fn openapi_json() -> Json<&'static serde_json::Value> {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(document))
}
