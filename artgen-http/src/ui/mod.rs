//! The web UI: server-rendered pages for signing in, writing a prompt and seeing one's images,
//! with a small script that improves them (live prompt length, busy state, copying links) but
//! is never needed: the whole flow works with JavaScript off.
//!
//! Every page carries a strict Content-Security-Policy (scripts and styles only from this
//! server, no inline script, no framing). Pages other than the sign-in page need a session
//! ([`session`]); state-changing posts need the session's CSRF token.

mod admin;
pub mod assets;
mod controls;
pub mod dashboard;
mod derive;
mod form;
pub mod pages;
pub mod session;
pub mod sso;
pub mod toast;

use std::time::Duration;

use artgen_core::domain::{Date, RequestId};
use artgen_core::ports::ImageCursor;
use artgen_core::{Error, ErrorCode, RequestContext};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use maud::Markup;
use serde::Deserialize;

use crate::routes::images::{signed_url, BaseUrl};
use crate::state::AppState;
use form::{params, GenerateForm};
use pages::{Choices, GalleryItem, Home, ModelChoice};
use session::{Session, SessionKey};

/// How long a browser session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// Images on the prompt page.
const GALLERY_PAGE: u32 = 24;

/// The Content-Security-Policy of every UI answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob: https:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

#[derive(Clone)]
struct Ui {
    key: SessionKey,
}

/// The UI's routes. `state` gives the key sessions are sealed with.
pub fn router(state: &AppState) -> Router<AppState> {
    let ui = Ui {
        key: SessionKey::from_signer(state.signer()),
    };
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-in/sso", get(sso::start))
        .route(sso::CALLBACK_PATH, get(sso::callback))
        .route("/sign-out", post(sign_out))
        .route("/ui/generate", post(generate))
        .route("/ui/estimate", get(estimate))
        .route("/ui/stream", post(stream))
        .route("/ui/images/{id}", get(image_page))
        .route("/ui/edit", post(derive::edit))
        .route("/ui/variation", post(derive::variation))
        .route("/ui/admin", get(admin::page))
        .route("/ui/admin/usage.csv", get(admin::csv))
        .route(
            "/ui/admin/users",
            post(change_route(admin::Change::CreateUser)),
        )
        .route(
            "/ui/admin/limits",
            post(change_route(admin::Change::SetLimits)),
        )
        .route(
            "/ui/admin/keys",
            post(change_route(admin::Change::CreateKey)),
        )
        .route(
            "/ui/admin/keys/revoke",
            post(change_route(admin::Change::RevokeKey)),
        )
        .route("/ui/assets/{name}", get(assets::serve))
        .layer(Extension(ui))
        .layer(from_fn(security_headers))
}

/// A management form's body, or why it could not be read.
type ChangeBody = Result<Form<admin::ChangeForm>, axum::extract::rejection::FormRejection>;

/// The future a management form's handler returns.
type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// The handler of one of the dashboard's management forms.
fn change_route(
    change: admin::Change,
) -> impl Fn(State<AppState>, Extension<Ui>, HeaderMap, ChangeBody) -> Answer
       + Clone
       + Send
       + Sync
       + 'static {
    move |State(state), Extension(ui), headers, form| {
        Box::pin(admin::change(state, ui, headers, change, form))
    }
}

/// Security headers on every UI answer; HTML is never cached.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if html || response.status().is_redirection() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        markup.into_string(),
    )
        .into_response()
}

fn now_secs(state: &AppState) -> u64 {
    state.service().clock().now_secs()
}

/// The request's session: a cookie we sealed, not expired, whose key is still live and whose
/// user is not disabled (checked on every page, so revoking the key or disabling the user
/// ends the session at once), acting under the user's own rate limit and budget and their
/// organisation's budget as the rows say now. A session begun with SSO names no key; only its
/// user row is checked. A failure to check counts as no session.
async fn current(ui: &Ui, state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let session =
        session::cookie_value(headers).and_then(|value| ui.key.open(value, now_secs(state)))?;
    let Some(admin) = state.admin() else {
        return Some(session);
    };
    if let Some(id) = &session.credential_id {
        let keys = admin.list_keys(Some(&session.user)).await.ok()?;
        let live = keys
            .iter()
            .any(|k| &k.public_id == id && k.revoked_at_ms.is_none());
        if !live {
            return None;
        }
    }
    match admin.user(&session.user).await {
        Ok(row) if row.disabled => None,
        Ok(row) => with_org_budget(admin, session.with_limits(&row.limits)).await,
        Err(err) if err.code() == ErrorCode::NotFound => with_org_budget(admin, session).await,
        Err(_) => None,
    }
}

/// `session` under its organisation's own budget as the organisation's row says now; a
/// failure to read the row counts as no session.
async fn with_org_budget(admin: &artgen_core::service::Admin, session: Session) -> Option<Session> {
    let Some(org) = session.org.clone() else {
        return Some(session);
    };
    match admin.org(&org).await {
        Ok(Some(row)) => Some(session.with_org_limits(&row.limits)),
        Ok(None) => Some(session),
        Err(_) => None,
    }
}

/// Whether cookies must be `Secure`: the public URL, or the proxy in front, says HTTPS.
fn https(state: &AppState, headers: &HeaderMap) -> bool {
    match &state.config().public_url {
        Some(url) => url.starts_with("https://"),
        None => headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https")),
    }
}

/// The 403 for a post whose CSRF token is not `session`'s, or `None` when it is.
fn refuse_forged(ui: &Ui, session: &Session, token: &str) -> Option<Response> {
    (!ui.key.csrf_ok(session, token))
        .then(|| (StatusCode::FORBIDDEN, "invalid form token; reload the page").into_response())
}

/// The session a state-changing post acts in, or the answer that turns it away: back to the
/// sign-in page without a session, 403 when `token` is not the session's CSRF token.
async fn posting(
    ui: &Ui,
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
) -> Result<Session, Response> {
    let session = current(ui, state, headers).await.ok_or_else(to_sign_in)?;
    match refuse_forged(ui, &session, token) {
        Some(refused) => Err(refused),
        None => Ok(session),
    }
}

fn to_sign_in() -> Response {
    Redirect::to("/sign-in").into_response()
}

async fn sign_in_page(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    headers: HeaderMap,
) -> Response {
    if current(&ui, &state, &headers).await.is_some() {
        return Redirect::to("/").into_response();
    }
    html(StatusCode::OK, sso::sign_in_page(&state, None))
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    api_key: String,
}

async fn sign_in(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let key = form.map(|Form(f)| f.api_key).unwrap_or_default();
    let refused = || {
        html(
            StatusCode::UNAUTHORIZED,
            sso::sign_in_page(
                &state,
                Some("That key was not accepted. Check it and try again."),
            ),
        )
    };
    let key = key.trim();
    if key.is_empty() {
        return refused();
    }
    match state.service().authenticate(key).await {
        Ok(principal) => {
            let expires = now_secs(&state) + SESSION_TTL.as_secs();
            let sealed = ui.key.seal(&Session::new(&principal, expires));
            let cookie =
                session::set_cookie(&sealed, SESSION_TTL.as_secs(), https(&state, &headers));
            tracing::info!(user = %principal.user, "ui session started");
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(err) if err.code() == artgen_core::ErrorCode::Unauthenticated => refused(),
        Err(err) => {
            tracing::error!(error = %err, "sign-in failed");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                sso::sign_in_page(
                    &state,
                    Some("Signing in is not possible right now; try again shortly."),
                ),
            )
        }
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let token = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if let Err(refused) = posting(&ui, &state, &headers, &token).await {
        return refused;
    }
    let mut response = to_sign_in();
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie("", 0, https(&state, &headers))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, Deserialize, Default)]
struct HomeQuery {
    cursor: Option<String>,
    made: Option<String>,
}

fn models(state: &AppState) -> Vec<ModelChoice> {
    let catalog = state.service().catalog();
    let today = Date::from_unix_secs(i64::try_from(now_secs(state)).unwrap_or(i64::MAX));
    let mut choices: Vec<ModelChoice> = catalog
        .models()
        .filter(|m| catalog.serves(m, today))
        .filter(|m| m.lifecycle.retired_on.is_none_or(|d| d > today))
        .map(|m| ModelChoice {
            id: m.id.clone(),
            spec: m.clone(),
            note: m.lifecycle.retired_on.map(|d| format!("retires {d}")),
        })
        .collect();
    choices.sort_by(|a, b| a.id.cmp(&b.id));
    choices
}

async fn home_page(
    state: &AppState,
    ui: &Ui,
    session: &Session,
    base: &BaseUrl,
    cursor: Option<&str>,
    mut page: Home,
) -> Home {
    page.user.clone_from(&session.user);
    page.is_admin = session.role == artgen_core::domain::Role::Admin;
    page.csrf = ui.key.csrf(session);
    page.models = models(state);
    if page.selected_model.is_empty() {
        page.selected_model = state
            .service()
            .catalog()
            .default_model(artgen_core::domain::Operation::Generate)
            .to_owned();
    }
    let after = cursor.and_then(ImageCursor::decode);
    match state
        .service()
        .gallery(&session.principal(), after.as_ref(), Some(GALLERY_PAGE))
        .await
    {
        Ok(gallery) => {
            page.next_cursor = gallery.next_cursor.as_ref().map(ImageCursor::encode);
            page.gallery = gallery
                .images
                .into_iter()
                .map(|meta| GalleryItem {
                    url: signed_url(state, base, meta.id.as_str()),
                    meta,
                })
                .collect();
        }
        Err(err) => {
            tracing::error!(error = %err, "the gallery could not be read");
            page.error
                .get_or_insert_with(|| "Your images cannot be listed right now.".to_owned());
        }
    }
    page
}

async fn home(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    Extension(base): Extension<BaseUrl>,
    headers: HeaderMap,
    query: Result<Query<HomeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(session) = current(&ui, &state, &headers).await else {
        return to_sign_in();
    };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let notice = match &query.made {
        Some(made) => Some(made_notice(&state, &session, made).await),
        None => None,
    };
    let page = Home {
        notice,
        ..Home::default()
    };
    let page = home_page(&state, &ui, &session, &base, query.cursor.as_deref(), page).await;
    html(StatusCode::OK, pages::home(&page))
}

async fn generate(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    Extension(base): Extension<BaseUrl>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    form: Result<Form<GenerateForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let session = match posting(&ui, &state, &headers, &form.csrf).await {
        Ok(session) => session,
        Err(refused) => return refused,
    };
    let failed = |toast: toast::Toast| {
        let state = state.clone();
        let ui = ui.clone();
        let session = session.clone();
        let base = base.clone();
        let form = form.clone();
        async move {
            let page = Home {
                prompt: form.prompt,
                selected_model: form.model,
                error: Some(toast.message),
                error_link: toast.link,
                choices: Choices {
                    size: form.size,
                    width: form.width,
                    height: form.height,
                    quality: form.quality,
                    background: form.background,
                    format: form.format,
                    n: form.n,
                },
                ..Home::default()
            };
            let page = home_page(&state, &ui, &session, &base, None, page).await;
            html(toast.status, pages::home(&page))
        }
    };
    let params = match params(state.service().catalog(), &form) {
        Ok(params) => params,
        Err(refusal) => {
            return failed(toast::Toast {
                status: StatusCode::BAD_REQUEST,
                message: refusal.message,
                link: None,
            })
            .await
        }
    };
    let ctx = RequestContext::new(request_id, session.principal());
    match state.service().generate(&ctx, params).await {
        Ok(generation) => made(&generation),
        Err(err) => failed(toast::of(&err)).await,
    }
}

/// The answer to a request that made images: back to the prompt page, which announces what
/// the first image's request cost (read back from its usage row).
fn made(generation: &artgen_core::Generation) -> Response {
    let first = generation
        .images
        .first()
        .map_or("", |image| image.id.as_str());
    let mut response = Redirect::to(&format!("/?made={}", urlencode(first))).into_response();
    response
        .extensions_mut()
        .insert(crate::present::summary(generation));
    response
}

/// The notice of `/?made=`: the made image's request and what it cost, from the usage store
/// (`streamed`: the newest image, which the page's script has just streamed).
async fn made_notice(state: &AppState, session: &Session, made: &str) -> String {
    let principal = session.principal();
    let id = if made == "streamed" {
        match state.service().gallery(&principal, None, Some(1)).await {
            Ok(page) => page.images.first().map(|m| m.id.as_str().to_owned()),
            Err(_) => None,
        }
    } else {
        Some(made.to_owned())
    };
    let details = match id {
        Some(id) => state.service().image_details(&principal, &id).await.ok(),
        None => None,
    };
    match details.and_then(|d| d.usage) {
        Some(row) if row.unpriced => {
            "Done: your image is first in the gallery (cost unknown: the model has no price)."
                .to_owned()
        }
        Some(row) => {
            let what = if row.images > 1 {
                format!("{} images", row.images)
            } else {
                "image".to_owned()
            };
            format!(
                "Done: your {what} is first in the gallery; it cost {}.",
                toast::dollars(row.cost)
            )
        }
        None => "Done: your image is first in the gallery.".to_owned(),
    }
}

/// `POST /ui/stream` (the form's fields, CSRF token included): the same request as
/// `/ui/generate`, streamed as server-sent events in the API's stream format, so the page's
/// script shows partial images as they come. Refusals before the first event are JSON errors.
async fn stream(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    Extension(base): Extension<BaseUrl>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    form: Result<Form<GenerateForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(session) = current(&ui, &state, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if let Some(refused) = refuse_forged(&ui, &session, &form.csrf) {
        return refused;
    }
    let mut params = match params(state.service().catalog(), &form) {
        Ok(params) => params,
        Err(refusal) => {
            let err = Error::invalid_param(refusal.param, refusal.message);
            return toast::json(&err, &request_id);
        }
    };
    params.stream = Some(true);
    params.partial_images = Some(2);
    let ctx = RequestContext::new(request_id.clone(), session.principal());
    match crate::sse::respond(
        state,
        ctx,
        base,
        artgen_core::domain::JobParams::Generate(params),
    )
    .await
    {
        Ok(response) => response,
        Err(err) => toast::json(err.error(), &request_id),
    }
}

/// `GET /ui/images/{id}`: one of the user's images large, with its parameters, its cost and
/// the forms that make edits and variations of it.
async fn image_page(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    Extension(base): Extension<BaseUrl>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let Some(session) = current(&ui, &state, &headers).await else {
        return to_sign_in();
    };
    derive::show(
        &state,
        &ui,
        &session,
        &base,
        &id,
        derive::Outcome::default(),
    )
    .await
}

/// `GET /ui/estimate?model=&size=&width=&height=&quality=&n=&prompt=`: what the form as set would cost, for
/// the price shown before the click. `{"cost_usd": …}` (a decimal, `null` when the model has
/// no price), or `{"error": …, "param": …}` naming the control the model refuses.
async fn estimate(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    headers: HeaderMap,
    query: Result<Query<GenerateForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(session) = current(&ui, &state, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // What is left of the caller's money budget this month, where one applies.
    let remaining = match state.service().budget(&session.principal()).await {
        Ok(view) => view
            .remaining_usd
            .map(|left| (left.as_usd(), rfc3339(view.period.end_ms))),
        Err(_) => None,
    };
    let mut form = query.map(|Query(q)| q).unwrap_or_default();
    if form.prompt.trim().is_empty() {
        // The price does not depend on the words for per-image models, and barely for
        // token-priced ones; a missing prompt must not hide it.
        form.prompt = "a".to_owned();
    }
    let body = match params(state.service().catalog(), &form) {
        Err(refusal) => serde_json::json!({ "error": refusal.message, "param": refusal.param }),
        Ok(params) => match artgen_core::domain::JobParams::Generate(params)
            .validate(state.service().catalog())
        {
            Ok(job) => {
                let (_, cost) = job.estimate();
                let usd = job.is_priced().then(|| cost.as_usd());
                serde_json::json!({
                    "cost_usd": usd,
                    "remaining_usd": remaining.as_ref().map(|r| r.0),
                    "resets_at": remaining.as_ref().map(|r| r.1.clone()),
                })
            }
            Err(err) => serde_json::json!({ "error": err.message(), "param": err.param() }),
        },
    };
    axum::Json(body).into_response()
}

fn rfc3339(at_ms: i64) -> String {
    artgen_core::domain::budget::rfc3339_utc(at_ms)
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
