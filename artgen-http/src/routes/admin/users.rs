//! Users and organisations: create, list, read, set limits, disable and enable.

use artgen_core::domain::{LimitsPatch, Money, OrgRecord, UserLimits, UserRecord};
use artgen_core::{Error, RequestContext};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::admin;
use super::usage::usd;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::openapi::{AdminBodyErrors, AdminErrors};
use crate::state::AppState;

/// A user's or organisation's own limits; `null` is the default (the organisation's or the
/// server's).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LimitsDto {
    /// Most US dollars per calendar month.
    #[schema(required = true)]
    pub budget_usd_per_month: Option<f64>,
    /// Most tokens per calendar month.
    #[schema(required = true)]
    pub budget_tokens_per_month: Option<u64>,
    /// Rate-limit units per minute (always `null` for an organisation).
    #[schema(required = true)]
    pub rate_limit_per_minute: Option<u32>,
    /// Rate-limit units at once (always `null` for an organisation).
    #[schema(required = true)]
    pub rate_limit_burst: Option<u32>,
}

impl From<&UserLimits> for LimitsDto {
    fn from(limits: &UserLimits) -> Self {
        Self {
            budget_usd_per_month: limits.budget_usd_per_month.map(usd),
            budget_tokens_per_month: limits.budget_tokens_per_month,
            rate_limit_per_minute: limits.rate_limit_per_minute,
            rate_limit_burst: limits.rate_limit_burst,
        }
    }
}

/// A user's row.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UserDto {
    /// The user's id, as credentials name it.
    pub user: String,
    /// The organisation an admin set (a credential's own wins).
    #[schema(required = true)]
    pub org: Option<String>,
    /// The user's own limits.
    pub limits: LimitsDto,
    /// Whether the user's credentials are refused.
    pub disabled: bool,
    /// When the row was made (Unix ms).
    pub created_at_ms: i64,
    /// When the row last changed (Unix ms).
    pub updated_at_ms: i64,
}

impl From<&UserRecord> for UserDto {
    fn from(row: &UserRecord) -> Self {
        Self {
            user: row.id.clone(),
            org: row.org.clone(),
            limits: LimitsDto::from(&row.limits),
            disabled: row.disabled,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        }
    }
}

/// The answer of `GET /admin/users`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UserList {
    /// Every user with a row, by id.
    pub users: Vec<UserDto>,
}

/// An organisation's row.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OrgDto {
    /// The organisation's id.
    pub org: String,
    /// Its budgets.
    pub limits: LimitsDto,
    /// When the row last changed (Unix ms).
    pub updated_at_ms: i64,
}

impl From<&OrgRecord> for OrgDto {
    fn from(row: &OrgRecord) -> Self {
        Self {
            org: row.id.clone(),
            limits: LimitsDto::from(&row.limits),
            updated_at_ms: row.updated_at_ms,
        }
    }
}

/// The body of `POST /admin/users`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    /// The user's id, as their credentials name it.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub user: String,
    /// Their organisation.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub org: Option<String>,
}

/// Reads a present field, `null` included, as `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The body of `PUT /admin/users/{user}/limits`: the fields to change; `null` clears one
/// (back to the default), an absent field keeps its value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    /// Most US dollars per calendar month (0 or more).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1_000_000_000_000_f64)]
    pub budget_usd_per_month: Option<Option<f64>>,
    /// Most tokens per calendar month.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub budget_tokens_per_month: Option<Option<u64>>,
    /// Rate-limit units per minute (1 or more).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 4_294_967_295_u32)]
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// Rate-limit units at once (1 or more).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 4_294_967_295_u32)]
    pub rate_limit_burst: Option<Option<u32>>,
}

/// The body of `PUT /admin/orgs/{org}/limits`: budgets only.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgLimitsBody {
    /// Most US dollars per calendar month (0 or more), shared by the organisation's users.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1_000_000_000_000_f64)]
    pub budget_usd_per_month: Option<Option<f64>>,
    /// Most tokens per calendar month, shared by the organisation's users.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub budget_tokens_per_month: Option<Option<u64>>,
}

/// Checks a patch's values, naming the first bad field.
fn try_into_patch(body: LimitsBody) -> Result<LimitsPatch, Error> {
    let money = match body.budget_usd_per_month {
        None => None,
        Some(None) => Some(None),
        Some(Some(usd)) => Some(Some(Money::from_usd(usd).ok_or_else(|| {
            Error::invalid_param(
                "budget_usd_per_month",
                "budget_usd_per_month must be a number from 0 to 1e12",
            )
        })?)),
    };
    if body
        .budget_tokens_per_month
        .flatten()
        .is_some_and(|t| i64::try_from(t).is_err())
    {
        return Err(Error::invalid_param(
            "budget_tokens_per_month",
            "budget_tokens_per_month must be below 2^63",
        ));
    }
    for (name, value) in [
        ("rate_limit_per_minute", body.rate_limit_per_minute),
        ("rate_limit_burst", body.rate_limit_burst),
    ] {
        if value == Some(Some(0)) {
            return Err(Error::invalid_param(
                name,
                format!("{name} must be at least 1"),
            ));
        }
    }
    Ok(LimitsPatch {
        budget_usd_per_month: money,
        budget_tokens_per_month: body.budget_tokens_per_month,
        rate_limit_per_minute: body.rate_limit_per_minute,
        rate_limit_burst: body.rate_limit_burst,
    })
}

/// A path segment, or the error naming it.
fn segment(path: Result<Path<String>, PathRejection>, name: &str) -> Result<String, Error> {
    let Path(value) =
        path.map_err(|_| Error::invalid_param(name, format!("{name} is malformed")))?;
    artgen_core::service::check_id(name, &value)?;
    Ok(value)
}

/// Creates a user's row (201), or answers the existing one unchanged (200).
#[utoipa::path(
    post,
    path = "/admin/users",
    tag = "admin",
    request_body = CreateUserBody,
    responses(
        (status = 201, description = "Created.", body = UserDto),
        (status = 200, description = "The user had a row already; unchanged.", body = UserDto),
        AdminBodyErrors,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: Result<JsonBody<CreateUserBody>, ApiError>,
) -> Result<(StatusCode, Json<UserDto>), ApiError> {
    let (admin, actor) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let JsonBody(body) = body?;
    let (row, created) = admin
        .create_user(&actor, &body.user, body.org.as_deref())
        .await
        .map_err(fail)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(UserDto::from(&row))))
}

/// Every user with a row (made by an admin), by id.
#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "admin",
    responses((status = 200, description = "The users.", body = UserList), AdminErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> Result<Json<UserList>, ApiError> {
    let (admin, _) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let rows = admin.list_users().await.map_err(fail)?;
    Ok(Json(UserList {
        users: rows.iter().map(UserDto::from).collect(),
    }))
}

/// One user's row; 404 when they have none (they still sign in, with the defaults).
#[utoipa::path(
    get,
    path = "/admin/users/{user}",
    tag = "admin",
    params(("user" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "The user.", body = UserDto), AdminErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<UserDto>, ApiError> {
    let (admin, _) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let user = segment(path, "user").map_err(fail)?;
    let row = admin.user(&user).await.map_err(fail)?;
    Ok(Json(UserDto::from(&row)))
}

/// Changes a user's limits (making their row when missing); applies to their next request.
#[utoipa::path(
    put,
    path = "/admin/users/{user}/limits",
    tag = "admin",
    params(("user" = String, Path, description = "The user's id.")),
    request_body = LimitsBody,
    responses((status = 200, description = "The user as now.", body = UserDto), AdminBodyErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn set_limits(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    path: Result<Path<String>, PathRejection>,
    body: Result<JsonBody<LimitsBody>, ApiError>,
) -> Result<Json<UserDto>, ApiError> {
    let (admin, actor) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let user = segment(path, "user").map_err(fail)?;
    let JsonBody(body) = body?;
    let patch = try_into_patch(body).map_err(fail)?;
    let row = admin
        .set_user_limits(&actor, &user, &patch)
        .await
        .map_err(fail)?;
    Ok(Json(UserDto::from(&row)))
}

async fn set_disabled(
    state: &AppState,
    ctx: &RequestContext,
    path: Result<Path<String>, PathRejection>,
    disabled: bool,
) -> Result<Json<UserDto>, ApiError> {
    let (admin, actor) = admin(state, ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let user = segment(path, "user").map_err(fail)?;
    let row = admin
        .set_user_disabled(&actor, &user, disabled)
        .await
        .map_err(fail)?;
    Ok(Json(UserDto::from(&row)))
}

/// Disables a user (making their row when missing): their credentials are refused (401) from
/// their next request on.
#[utoipa::path(
    post,
    path = "/admin/users/{user}/disable",
    tag = "admin",
    params(("user" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "The user as now.", body = UserDto), AdminErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn disable(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<UserDto>, ApiError> {
    set_disabled(&state, &ctx, path, true).await
}

/// Enables a disabled user again.
#[utoipa::path(
    post,
    path = "/admin/users/{user}/enable",
    tag = "admin",
    params(("user" = String, Path, description = "The user's id.")),
    responses((status = 200, description = "The user as now.", body = UserDto), AdminErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn enable(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<UserDto>, ApiError> {
    set_disabled(&state, &ctx, path, false).await
}

/// Changes an organisation's budgets (making its row when missing).
#[utoipa::path(
    put,
    path = "/admin/orgs/{org}/limits",
    tag = "admin",
    params(("org" = String, Path, description = "The organisation's id.")),
    request_body = OrgLimitsBody,
    responses(
        (status = 200, description = "The organisation as now.", body = OrgDto),
        AdminBodyErrors,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn set_org_limits(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    path: Result<Path<String>, PathRejection>,
    body: Result<JsonBody<OrgLimitsBody>, ApiError>,
) -> Result<Json<OrgDto>, ApiError> {
    let (admin, actor) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let org = segment(path, "org").map_err(fail)?;
    let JsonBody(body) = body?;
    let patch = try_into_patch(LimitsBody {
        budget_usd_per_month: body.budget_usd_per_month,
        budget_tokens_per_month: body.budget_tokens_per_month,
        ..LimitsBody::default()
    })
    .map_err(fail)?;
    let row = admin
        .set_org_limits(&actor, &org, &patch)
        .await
        .map_err(fail)?;
    Ok(Json(OrgDto::from(&row)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;

    fn patch(body: &str) -> Result<LimitsPatch, Error> {
        try_into_patch(parse_json::<LimitsBody>(body.as_bytes())?)
    }

    #[test]
    fn absent_keeps_null_clears_a_value_sets() {
        let patch =
            patch(r#"{"budget_usd_per_month": 12.5, "rate_limit_burst": null}"#).expect("valid");

        assert_eq!(
            patch.budget_usd_per_month,
            Some(Some(Money::from_micros(12_500_000)))
        );
        assert_eq!(patch.rate_limit_burst, Some(None));
        assert_eq!(patch.rate_limit_per_minute, None);
        assert_eq!(patch.budget_tokens_per_month, None);
    }

    #[test]
    fn bad_values_and_unknown_fields_name_the_field() {
        for (body, param) in [
            (r#"{"budget_usd_per_month": -1}"#, "budget_usd_per_month"),
            (r#"{"budget_usd_per_month": "5"}"#, "budget_usd_per_month"),
            (
                r#"{"budget_tokens_per_month": -1}"#,
                "budget_tokens_per_month",
            ),
            (
                r#"{"budget_tokens_per_month": 1.5}"#,
                "budget_tokens_per_month",
            ),
            (r#"{"rate_limit_per_minute": 0}"#, "rate_limit_per_minute"),
            (r#"{"rate_limit_burst": 5000000000}"#, "rate_limit_burst"),
            (r#"{"rate_limit": 5}"#, "rate_limit"),
        ] {
            let err = patch(body).expect_err(body);
            assert_eq!(err.param(), Some(param), "{body}");
        }
    }
}
