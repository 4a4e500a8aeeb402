//! API keys: issue (the secret shown once), list (never a secret or hash), revoke.

use artgen_core::domain::{KeyEnv, Role};
use artgen_core::ports::KeyInfo;
use artgen_core::{Error, RequestContext};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{admin, param, query_pairs};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::openapi::{AdminBodyErrors, AdminErrors};
use crate::state::AppState;

/// A role a key grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleDto {
    /// An ordinary user.
    #[default]
    User,
    /// An administrator.
    Admin,
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::User => Role::User,
            RoleDto::Admin => Role::Admin,
        }
    }
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::User => RoleDto::User,
            Role::Admin => RoleDto::Admin,
        }
    }
}

/// The body of `POST /admin/keys`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    /// The user the key belongs to.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub user: String,
    /// The role it grants (default `user`).
    #[serde(default)]
    pub role: Option<RoleDto>,
}

/// A key as listed: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KeyDto {
    /// The public id (`ag_live_` and eight characters).
    pub public_id: String,
    /// The owner.
    pub user: String,
    /// The role it grants.
    pub role: RoleDto,
    /// The key's last four characters, for recognition.
    pub last_four: String,
    /// When it was issued (Unix ms).
    pub created_at_ms: i64,
    /// When it last authenticated a request (Unix ms; written at most once a minute).
    #[schema(required = true)]
    pub last_used_at_ms: Option<i64>,
    /// When it was revoked (Unix ms).
    #[schema(required = true)]
    pub revoked_at_ms: Option<i64>,
}

impl From<&KeyInfo> for KeyDto {
    fn from(key: &KeyInfo) -> Self {
        Self {
            public_id: key.public_id.clone(),
            user: key.user.clone(),
            role: key.role.into(),
            last_four: key.last_four.clone(),
            created_at_ms: key.created_at_ms,
            last_used_at_ms: key.last_used_at_ms,
            revoked_at_ms: key.revoked_at_ms,
        }
    }
}

/// A key just issued: the only answer that holds its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The whole key, shown once: store it now.
    pub key: String,
    /// The public id (`ag_live_` and eight characters).
    pub public_id: String,
    /// The owner.
    pub user: String,
    /// The role it grants.
    pub role: RoleDto,
}

/// The answer of `GET /admin/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KeyList {
    /// Keys, newest first, revoked ones included.
    pub keys: Vec<KeyDto>,
}

/// Issues a key; the answer is the only time its secret is shown.
#[utoipa::path(
    post,
    path = "/admin/keys",
    tag = "admin",
    request_body = CreateKeyBody,
    responses((status = 201, description = "Issued.", body = CreatedKey), AdminBodyErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: Result<JsonBody<CreateKeyBody>, ApiError>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let (admin, actor) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let JsonBody(body) = body?;
    let role = body.role.unwrap_or_default();
    let key = admin
        .create_key(&actor, &body.user, role.into(), KeyEnv::Live)
        .await
        .map_err(fail)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: key.expose_secret().to_owned(),
            public_id: key.public_id().to_owned(),
            user: body.user,
            role,
        }),
    ))
}

/// Keys, newest first, optionally only one user's.
#[utoipa::path(
    get,
    path = "/admin/keys",
    tag = "admin",
    params(("user" = Option<String>, Query, description = "Only this user's keys.")),
    responses((status = 200, description = "The keys.", body = KeyList), AdminErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<KeyList>, ApiError> {
    let (admin, _) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let pairs = query_pairs(query, &["user"], &ctx.request_id)?;
    let user = param(&pairs, "user");
    if let Some(user) = user {
        artgen_core::service::check_id("user", user).map_err(fail)?;
    }
    let keys = admin.list_keys(user).await.map_err(fail)?;
    Ok(Json(KeyList {
        keys: keys.iter().map(KeyDto::from).collect(),
    }))
}

/// Revokes a key: 204, or 404 when no active key has this public id.
#[utoipa::path(
    delete,
    path = "/admin/keys/{public_id}",
    tag = "admin",
    params(("public_id" = String, Path, description = "The key's public id, as listed.")),
    responses((status = 204, description = "Revoked."), AdminErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let (admin, actor) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let Path(public_id) =
        path.map_err(|_| fail(Error::invalid_param("public_id", "public_id is malformed")))?;
    artgen_core::service::check_id("public_id", &public_id).map_err(fail)?;
    admin.revoke_key(&actor, &public_id).await.map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}
