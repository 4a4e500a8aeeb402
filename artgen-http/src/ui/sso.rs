//! "Sign in with SSO": the web UI's side of the OIDC authorization-code flow with PKCE.
//!
//! - `GET /sign-in/sso` makes a fresh [`Flow`] (`state`, `nonce`, PKCE verifier, redirect
//!   URI), seals it into the short-lived flow cookie and answers 303 to the IdP's
//!   `authorization_endpoint`.
//! - `GET /sign-in/sso/callback?code&state` opens the flow cookie, checks `state` against it
//!   (constant time), lets the [`SsoClient`] redeem the code and check the ID token, seals the
//!   usual [`Session`] and clears the flow cookie.
//!
//! The flow cookie is `HttpOnly`, `SameSite=Lax` (the way back from the IdP is a cross-site
//! top-level navigation, which a `Strict` cookie would not ride), scoped to the callback's path
//! and valid for ten minutes (its expiry is inside what is signed, not only in `Max-Age`).
//! Every failure renders the sign-in page with a message saying what to do, with 400, 401, 403
//! or 503; none logs the code, a token or the client secret.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup};
use serde::{Deserialize, Serialize};

use super::session::{self, Session};
use super::{current, html as page_of, https, now_secs, pages, Ui, SESSION_TTL};
use crate::oidc::browser::error_code;
use crate::oidc::{Flow, SsoError};
use crate::routes::images::BaseUrl;
use crate::state::AppState;

/// The path the IdP sends the browser back to (register `{public_url}` + this at the IdP).
pub const CALLBACK_PATH: &str = "/sign-in/sso/callback";

/// The flow cookie's name.
pub const FLOW_COOKIE: &str = "artgen_sso";

/// How long a sign-in at the IdP may take.
pub const FLOW_TTL: Duration = Duration::from_secs(600);

/// What the flow cookie is sealed for (a session cookie never opens as a flow, nor the
/// other way round).
const FLOW_PURPOSE: &[u8] = b"sso flow\n";

/// Longest `code` taken from the IdP, bytes (codes are short; some IdPs sign them).
const MAX_CODE_BYTES: usize = 4096;

/// The flow cookie's content.
#[derive(Serialize, Deserialize)]
struct SealedFlow {
    #[serde(flatten)]
    flow: Flow,
    /// Unix seconds after which the flow is over.
    #[serde(rename = "e")]
    expires: u64,
}

/// The sign-in page, with the SSO button when SSO is configured.
pub(super) fn sign_in_page(state: &AppState, error: Option<&str>) -> Markup {
    pages::sign_in(error, state.sso().map(|sso| sso.display_name()))
}

/// The sign-in page with `message` as its error, answered with `status`.
fn refused(state: &AppState, status: StatusCode, message: &str) -> Response {
    page_of(status, sign_in_page(state, Some(message)))
}

/// The `Set-Cookie` value of the flow cookie (`max_age` 0: clears it).
fn flow_cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{FLOW_COOKIE}={value}; Path={CALLBACK_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    )
}

fn add_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// `GET /sign-in/sso`: off to the IdP.
pub(super) async fn start(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    headers: HeaderMap,
) -> Response {
    let Some(sso) = state.sso() else {
        return refused(
            &state,
            StatusCode::NOT_FOUND,
            "Single sign-on is not set up on this server; sign in with an API key.",
        );
    };
    if current(&ui, &state, &headers).await.is_some() {
        return Redirect::to("/").into_response();
    }
    // The public URL when set (it should be, in production: the IdP must know the redirect
    // URI in advance), else the request's Host, as image links do.
    let base = BaseUrl::for_request(state.config(), &headers);
    let flow = Flow::new(format!("{}{CALLBACK_PATH}", base.0));
    match sso.authorization_url(&flow).await {
        Ok(url) => {
            let sealed = ui.key.seal_as(
                FLOW_PURPOSE,
                &SealedFlow {
                    flow,
                    expires: now_secs(&state) + FLOW_TTL.as_secs(),
                },
            );
            let mut response = Redirect::to(url.as_str()).into_response();
            add_cookie(
                &mut response,
                &flow_cookie(&sealed, FLOW_TTL.as_secs(), https(&state, &headers)),
            );
            response
        }
        Err(err) => {
            tracing::warn!(error = %crate::oidc::jwks::error_chain(&err), "sso sign-in cannot start");
            refused(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "The identity provider cannot be reached right now. Try again shortly, or sign in with an API key.",
            )
        }
    }
}

/// The callback's query: a code and the state, or the IdP's `error`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// What the page says about an `error` the IdP sent back, and with which status.
fn idp_refusal(error: &str) -> (StatusCode, String) {
    let code = error_code(error).unwrap_or("unknown");
    let message = match code {
        "access_denied" => {
            "The identity provider did not allow the sign-in (access_denied). Ask for access, or sign in with an API key.".to_owned()
        }
        "login_required" | "interaction_required" | "consent_required" => format!(
            "The identity provider needs you to sign in there first ({code}). Start again."
        ),
        _ => format!(
            "The identity provider could not sign you in ({code}). Start again, or sign in with an API key."
        ),
    };
    let status = if code == "access_denied" {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, message)
}

/// `GET /sign-in/sso/callback`: back from the IdP.
pub(super) async fn callback(
    State(state): State<AppState>,
    Extension(ui): Extension<Ui>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let secure = https(&state, &headers);
    // Whatever happens, the flow is used up.
    let done = |mut response: Response| {
        add_cookie(&mut response, &flow_cookie("", 0, secure));
        response
    };
    let Some(sso) = state.sso() else {
        return refused(
            &state,
            StatusCode::NOT_FOUND,
            "Single sign-on is not set up on this server; sign in with an API key.",
        );
    };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    if let Some(error) = &query.error {
        let (status, message) = idp_refusal(error);
        tracing::info!(
            error = error_code(error).unwrap_or("unknown"),
            "sso sign-in refused by the identity provider"
        );
        return done(refused(&state, status, &message));
    }
    let now = now_secs(&state);
    let flow = session::named_cookie(&headers, FLOW_COOKIE)
        .and_then(|value| ui.key.open_as::<SealedFlow>(FLOW_PURPOSE, value))
        .filter(|sealed| sealed.expires > now)
        .map(|sealed| sealed.flow);
    let Some(flow) = flow else {
        tracing::info!("sso callback without a live flow cookie");
        return done(refused(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was not started in this browser. Start again.",
        ));
    };
    let (Some(code), Some(got_state)) = (&query.code, &query.state) else {
        tracing::info!("sso callback without code or state");
        return done(refused(
            &state,
            StatusCode::BAD_REQUEST,
            "The identity provider's answer is incomplete (no code or state). Start again.",
        ));
    };
    if !flow.state_matches(got_state) {
        tracing::warn!("sso callback with a state that is not this browser's");
        return done(refused(
            &state,
            StatusCode::BAD_REQUEST,
            "This answer does not belong to the sign-in this browser started. Start again.",
        ));
    }
    if code.is_empty() || code.len() > MAX_CODE_BYTES {
        return done(refused(
            &state,
            StatusCode::BAD_REQUEST,
            "The identity provider's answer is not usable (bad code). Start again.",
        ));
    }
    match sso.finish(code, &flow).await {
        Ok(principal) => {
            // A session of the IdP, not of an API key: no key id for `current()` to check
            // (the user row is still checked on every page).
            let mut session = Session::new(&principal, now + SESSION_TTL.as_secs());
            session.credential_id = None;
            let sealed = ui.key.seal(&session);
            tracing::info!(user = %principal.user, "ui session started with sso");
            let mut response = page_of(StatusCode::OK, signed_in(&principal.user));
            add_cookie(
                &mut response,
                &session::set_cookie(&sealed, SESSION_TTL.as_secs(), secure),
            );
            done(response)
        }
        Err(err) => {
            let (status, message) = match &err {
                SsoError::Unavailable(_) | SsoError::Internal(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Signing in with the identity provider is not possible right now. Try again shortly, or sign in with an API key.".to_owned(),
                ),
                SsoError::CodeRefused { error, .. } => (
                    StatusCode::UNAUTHORIZED,
                    format!("The identity provider did not accept this sign-in ({error}). Start again."),
                ),
                SsoError::Disabled => (
                    StatusCode::FORBIDDEN,
                    "This account is disabled in ArtGen. Ask an administrator.".to_owned(),
                ),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    "The identity provider's answer could not be verified. Start again.".to_owned(),
                ),
            };
            let chain = crate::oidc::jwks::error_chain(&err);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::error!(error = %chain, "sso sign-in failed");
            } else {
                tracing::warn!(error = %chain, "sso sign-in refused");
            }
            done(refused(&state, status, &message))
        }
    }
}

/// The answer of a finished sign-in: a page that moves on to `/` by itself.
///
/// Not a redirect: the way back from the IdP is a navigation another site started, and a
/// browser sends no `SameSite=Strict` cookie on it, nor on the redirects that follow; a
/// navigation this page starts is same-site, so `/` gets the new session.
fn signed_in(user: &str) -> Markup {
    super::pages::moving_on(
        "Signed in",
        "/",
        html! {
            section.panel.sign-in aria-labelledby="signed-in-title" {
                h2 #signed-in-title { "Signed in" }
                p { "Signed in as " strong { (user) } "." }
                div.actions { a #continue .button href="/" { "Continue" } }
            }
        },
    )
}
