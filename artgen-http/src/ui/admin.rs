//! The admin dashboard's routes: the page, CSV exports, and the management forms. Admin
//! sessions only (others get 403); every change goes through the admin service, which audits
//! it as the API's admin routes do.

use artgen_core::domain::{
    Date, KeyEnv, LimitsPatch, Money, Role, UsageGroupBy, UsageSummaryQuery,
};
use artgen_core::service::Actor;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::dashboard::{Dashboard, QueueRow};
use super::session::Session;
use super::{current, html, Ui};
use crate::routes::admin::period::period;
use crate::routes::admin::usage::{csv_body, UsageRow};
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "this page is for admins only").into_response()
}

async fn admin_session(
    ui: &Ui,
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Session, Response> {
    match current(ui, state, headers).await {
        None => Err(super::to_sign_in()),
        Some(session) if session.role == Role::Admin => Ok(session),
        Some(_) => Err(forbidden()),
    }
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
}

fn day(ms: i64) -> String {
    Date::from_unix_secs(ms.div_euclid(1000)).to_string()
}

async fn summaries(
    state: &AppState,
    session: &Session,
    group_by: UsageGroupBy,
    from_ms: i64,
    to_ms: i64,
) -> artgen_core::Result<Vec<artgen_core::domain::UsageSummary>> {
    state
        .service()
        .usage_summary(
            &session.principal(),
            UsageSummaryQuery {
                group_by,
                from_ms,
                to_ms,
                user: None,
            },
        )
        .await
}

async fn build(
    state: &AppState,
    ui: &Ui,
    session: &Session,
    query: &PeriodQuery,
    mut page: Dashboard,
) -> Dashboard {
    page.user.clone_from(&session.user);
    page.csrf = ui.key.csrf(session);
    page.soft_threshold = u32::from(state.service().budget_policy().soft_threshold_percent);
    let now_ms = state.service().clock().now_ms();
    let (from_ms, to_ms) = match period(query.from.as_deref(), query.to.as_deref(), now_ms) {
        Ok(period) => period,
        Err(err) => {
            page.error = Some(err.message().to_owned());
            crate::routes::admin::period::month_of(now_ms)
        }
    };
    page.from = day(from_ms);
    page.to = day(to_ms - DAY_MS);
    let mut failed = false;
    for (group, slot) in [
        (UsageGroupBy::User, &mut page.by_user),
        (UsageGroupBy::Model, &mut page.by_model),
        (UsageGroupBy::Day, &mut page.by_day),
    ] {
        match summaries(state, session, group, from_ms, to_ms).await {
            Ok(rows) => *slot = rows,
            Err(_) => failed = true,
        }
    }
    if let Some(admin) = state.admin() {
        match admin.list_users().await {
            Ok(users) => page.users = users,
            Err(_) => failed = true,
        }
        for user in &page.users {
            let own = artgen_core::domain::BudgetLimits {
                usd: user.limits.budget_usd_per_month,
                tokens: user.limits.budget_tokens_per_month,
            };
            match state
                .service()
                .budget_of(artgen_core::domain::BudgetScope::User(user.id.clone()), own)
                .await
            {
                Ok(view) => page.budgets.push(view),
                Err(_) => failed = true,
            }
        }
        match admin.list_keys(None).await {
            Ok(keys) => page.keys = keys,
            Err(_) => failed = true,
        }
    }
    if failed {
        page.error
            .get_or_insert_with(|| "Some figures cannot be read right now.".to_owned());
    }
    for (upstream, gates) in &state.provider().admission {
        for (model, gate) in gates.readings() {
            page.queues.push(QueueRow {
                name: format!("{upstream} / {model}"),
                limit: gate.limit,
                in_flight: gate.in_flight,
                queued: gate.queued,
            });
        }
    }
    page.quota = state.metrics().quota_snapshot();
    page
}

/// `GET /ui/admin`.
pub(super) async fn page(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    headers: HeaderMap,
    query: Result<Query<PeriodQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match admin_session(&ui, &state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let page = build(&state, &ui, &session, &query, Dashboard::default()).await;
    html(StatusCode::OK, super::dashboard::dashboard(&page))
}

/// `GET /ui/admin/usage.csv?group_by=user|org|model|day&from=&to=`.
pub(super) async fn csv(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    headers: HeaderMap,
    query: Result<Query<PeriodQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match admin_session(&ui, &state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let Some(group_by) = query.group_by.as_deref().and_then(UsageGroupBy::from_name) else {
        return (
            StatusCode::BAD_REQUEST,
            "group_by must be user, org, model or day",
        )
            .into_response();
    };
    let now_ms = state.service().clock().now_ms();
    let (from_ms, to_ms) = match period(query.from.as_deref(), query.to.as_deref(), now_ms) {
        Ok(period) => period,
        Err(err) => return (StatusCode::BAD_REQUEST, err.message().to_owned()).into_response(),
    };
    let rows = match summaries(&state, &session, group_by, from_ms, to_ms).await {
        Ok(rows) => rows,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let rows: Vec<UsageRow> = rows.iter().map(UsageRow::from).collect();
    match csv_body(&rows) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    public_id: String,
    #[serde(default)]
    budget_usd_per_month: String,
    #[serde(default)]
    rate_limit_per_minute: String,
    #[serde(default)]
    rate_limit_burst: String,
}

/// What a management form asks for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    CreateUser,
    SetLimits,
    CreateKey,
    RevokeKey,
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<Option<T>, String> {
    match text.trim() {
        "" => Ok(None),
        t => t
            .parse()
            .map(Some)
            .map_err(|_| format!("{what} must be a whole number above zero")),
    }
}

fn limits(form: &ChangeForm) -> Result<LimitsPatch, String> {
    let budget = match form.budget_usd_per_month.trim() {
        "" => None,
        t => Some(
            t.parse::<f64>()
                .ok()
                .and_then(Money::from_usd)
                .ok_or_else(|| "The budget must be a dollar amount, e.g. 25 or 12.50".to_owned())?,
        ),
    };
    Ok(LimitsPatch {
        budget_usd_per_month: Some(budget),
        rate_limit_per_minute: Some(number(&form.rate_limit_per_minute, "Requests per minute")?),
        rate_limit_burst: Some(number(&form.rate_limit_burst, "The burst")?),
        ..LimitsPatch::default()
    })
}

async fn apply(
    state: &AppState,
    actor: &Actor,
    change: Change,
    form: &ChangeForm,
) -> Result<String, String> {
    let admin = state
        .admin()
        .ok_or_else(|| "User management is not available on this server.".to_owned())?;
    let user = form.user.trim();
    let failed = |err: artgen_core::Error| err.message().to_owned();
    match change {
        Change::CreateUser => {
            let org = Some(form.org.trim()).filter(|o| !o.is_empty());
            let (_, created) = admin.create_user(actor, user, org).await.map_err(failed)?;
            Ok(if created {
                format!("User {user} created.")
            } else {
                format!("User {user} already existed; nothing changed.")
            })
        }
        Change::SetLimits => {
            let patch = limits(form)?;
            admin
                .set_user_limits(actor, user, &patch)
                .await
                .map_err(failed)?;
            Ok(format!("Limits of {user} set."))
        }
        Change::CreateKey => {
            let role = if form.role == "admin" {
                Role::Admin
            } else {
                Role::User
            };
            let key = admin
                .create_key(actor, user, role, KeyEnv::Live)
                .await
                .map_err(failed)?;
            Ok(format!(
                "Key for {user} created. It is shown only this once: {}",
                key.expose_secret()
            ))
        }
        Change::RevokeKey => {
            admin
                .revoke_key(actor, form.public_id.trim())
                .await
                .map_err(failed)?;
            Ok(format!("Key {} revoked.", form.public_id.trim()))
        }
    }
}

/// The management forms' posts: the change, then the dashboard with what happened.
pub(super) async fn change(
    state: AppState,
    ui: Ui,
    headers: HeaderMap,
    change: Change,
    form: Result<Form<ChangeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let session = match admin_session(&ui, &state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if let Some(refused) = super::refuse_forged(&ui, &session, &form.csrf) {
        return refused;
    }
    let actor = Actor {
        user: session.user.clone(),
        credential_id: session.credential_id.clone(),
    };
    let (status, page) = match apply(&state, &actor, change, &form).await {
        Ok(notice) => (
            StatusCode::OK,
            Dashboard {
                notice: Some(notice),
                ..Dashboard::default()
            },
        ),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Dashboard {
                error: Some(error),
                ..Dashboard::default()
            },
        ),
    };
    let page = build(&state, &ui, &session, &PeriodQuery::default(), page).await;
    let mut response = html(status, super::dashboard::dashboard(&page));
    if matches!(change, Change::CreateKey) {
        // The page shows a secret once: never from a cache.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
