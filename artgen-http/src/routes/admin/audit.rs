//! `GET /admin/audit`: the audit trail, newest first.

use artgen_core::ports::{AuditEntry, AuditQuery};
use artgen_core::service::AUDIT_LIMIT_MAX;
use artgen_core::{Error, RequestContext};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::period::instant;
use super::{admin, param, query_pairs};
use crate::error::ApiError;
use crate::openapi::AdminErrors;
use crate::state::AppState;

/// Entries a listing returns when it names no limit.
const AUDIT_LIMIT_DEFAULT: u32 = 100;

/// One admin action.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntryDto {
    /// When (Unix ms).
    pub at_ms: i64,
    /// The acting admin's user id (`cli` for the command line).
    pub actor: String,
    /// The public id of the admin's credential, when known.
    #[schema(required = true)]
    pub credential_id: Option<String>,
    /// What was done: `user.created`, `user.limits.set`, `user.disabled`, `user.enabled`,
    /// `org.limits.set`, `key.created`, `key.revoked`.
    pub action: String,
    /// What it was done to: a user or organisation id, or a key's public id.
    pub target: String,
    /// The change (new limits, a key's owner and role); never a secret.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(entry: AuditEntry) -> Self {
        Self {
            at_ms: entry.at_ms,
            actor: entry.actor,
            credential_id: entry.credential_id,
            action: entry.action,
            target: entry.target,
            detail: entry.detail,
        }
    }
}

/// The answer of `GET /admin/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditList {
    /// Entries, newest first.
    pub entries: Vec<AuditEntryDto>,
}

/// The audit trail of admin actions, newest first.
#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin",
    params(
        ("from" = Option<String>, Query, description = "Only entries at or after: RFC 3339 or `YYYY-MM-DD`."),
        ("to" = Option<String>, Query,
            description = "Only entries before: RFC 3339, or `YYYY-MM-DD` to include that day."),
        ("target" = Option<String>, Query, description = "Only entries about this user, organisation or key."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
            description = "Most entries, 1 to 1000 (default 100)."),
    ),
    responses((status = 200, description = "The entries.", body = AuditList), AdminErrors),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    let (admin, _) = admin(&state, &ctx)?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let pairs = query_pairs(query, &["from", "to", "target", "limit"], &ctx.request_id)?;
    let from_ms = param(&pairs, "from")
        .map(|t| instant("from", t, false))
        .transpose()
        .map_err(fail)?;
    let to_ms = param(&pairs, "to")
        .map(|t| instant("to", t, true))
        .transpose()
        .map_err(fail)?;
    let limit = match param(&pairs, "limit") {
        None => AUDIT_LIMIT_DEFAULT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=AUDIT_LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                fail(Error::invalid_param(
                    "limit",
                    format!("limit must be a whole number from 1 to {AUDIT_LIMIT_MAX}"),
                ))
            })?,
    };
    let query = AuditQuery {
        from_ms,
        to_ms,
        target: param(&pairs, "target").map(str::to_owned),
        limit,
    };
    let entries = admin.audit(query).await.map_err(fail)?;
    Ok(Json(AuditList {
        entries: entries.into_iter().map(AuditEntryDto::from).collect(),
    }))
}
