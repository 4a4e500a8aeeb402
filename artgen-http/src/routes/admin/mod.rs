//! The admin API under `/admin`: usage summaries (JSON or CSV), users and their limits,
//! organisations' budgets, API keys and the audit trail. Admins only: the router puts these
//! routes behind authentication (401), and each handler asks the admin service for an
//! [`Actor`], which refuses other roles (403 `forbidden`).
//!
//! Each change goes through [`Admin`](artgen_core::service::Admin), which writes the audit
//! row and the `admin_action` log line and clears the credential cache, so a new limit or a
//! disabling applies to the user's next request on this replica.

pub(crate) mod audit;
pub(crate) mod keys;
pub(crate) mod period;
pub(crate) mod usage;
pub(crate) mod users;

use artgen_core::domain::RequestId;
use artgen_core::service::{Actor, Admin};
use artgen_core::{Error, ErrorCode, RequestContext};
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::error::ApiError;
use crate::extract::echo;
use crate::state::AppState;

pub use audit::{AuditEntryDto, AuditList};
pub use keys::{CreateKeyBody, CreatedKey, KeyDto, KeyList, RoleDto};
pub use usage::{UsageRow, UsageRows};
pub use users::{CreateUserBody, LimitsBody, LimitsDto, OrgDto, OrgLimitsBody, UserDto, UserList};

/// Routes of the admin API (the router puts them behind authentication).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/usage", get(usage::usage))
        .route("/admin/users", post(users::create).get(users::list))
        .route("/admin/users/{user}", get(users::get))
        .route("/admin/users/{user}/limits", put(users::set_limits))
        .route("/admin/users/{user}/disable", post(users::disable))
        .route("/admin/users/{user}/enable", post(users::enable))
        .route("/admin/orgs/{org}/limits", put(users::set_org_limits))
        .route("/admin/keys", post(keys::create).get(keys::list))
        .route("/admin/keys/{public_id}", delete(keys::revoke))
        .route("/admin/audit", get(audit::list))
}

/// The admin service and the acting admin of a request, or the error to answer with.
fn admin<'a>(state: &'a AppState, ctx: &RequestContext) -> Result<(&'a Admin, Actor), ApiError> {
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let actor = Actor::admin(&ctx.principal).map_err(fail)?;
    let admin = state
        .admin()
        .ok_or_else(|| fail(Error::new(ErrorCode::NotFound, "no such route")))?;
    Ok((admin, actor))
}

/// The query string's pairs, each name at most once and among `known`.
///
/// # Errors
/// `invalid_request` for a malformed query string; `unknown_parameter` or `invalid_value`
/// naming the parameter that is unknown or repeated.
fn query_pairs(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    known: &[&str],
    request_id: &RequestId,
) -> Result<Vec<(String, String)>, ApiError> {
    let fail = |e: Error| ApiError::new(e, Some(request_id.clone()));
    let Query(pairs) = query.map_err(|e| {
        fail(Error::new(
            ErrorCode::InvalidRequest,
            format!("the query string is malformed: {e}"),
        ))
    })?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(fail(
                Error::new(
                    ErrorCode::UnknownParameter,
                    format!("unknown parameter '{}'", echo(name)),
                )
                .with_param(echo(name)),
            ));
        }
        if pairs[..i].iter().any(|(other, _)| other == name) {
            return Err(fail(Error::invalid_param(
                name.clone(),
                format!("'{name}' appears twice"),
            )));
        }
    }
    Ok(pairs)
}

/// The value of `name` among `pairs`.
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
