//! "Sign in with SSO" in a real browser, against an identity provider on another site.
//!
//! The app is on `127.0.0.1`, the IdP on `localhost`: different hosts are different sites, so
//! the way back from the IdP is a cross-site navigation, on which a browser sends no
//! `SameSite=Strict` cookie. The IdP is an in-test axum server (discovery, a JWKS, an
//! authorize page with a Continue link, a token endpoint that checks the PKCE verifier, the
//! client id and the redirect URI), like the one of `artgen-http/tests/ui_sso.rs`; it signs
//! ID tokens with an ECDSA P-256 key made per run. It records what the browser sent it, so
//! the scenario can check that the browser really treated the two as different sites.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use artgen_http::oidc::OidcConfig;
use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::drivers::Engine;
use crate::scenarios::{Ctx, Fallible, Outcome};

/// The UI's client id at the IdP.
const CLIENT_ID: &str = "artgen-ui";
/// The user the IdP signs in (`sub`).
const USER: &str = "ines-from-sso";
/// The path of the app's callback (`artgen_http::ui::sso::CALLBACK_PATH`).
const CALLBACK: &str = "/sign-in/sso/callback";

/// What the browser sent the IdP on one request.
#[derive(Debug, Clone)]
struct Seen {
    path: &'static str,
    /// `Sec-Fetch-Site`, where the engine sends it.
    fetch_site: Option<String>,
}

/// A code handed out, and what its authorize request said.
struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
}

struct IdpState {
    issuer: String,
    /// Where the app's callback is (the only redirect URI registered).
    redirect_uri: String,
    /// The app's `/`, for the IdP page that links there.
    app_home: String,
    key: EncodingKey,
    jwk: Value,
    grants: Mutex<HashMap<String, Grant>>,
    seen: Mutex<Vec<Seen>>,
    /// Codes redeemed.
    redeemed: Mutex<u32>,
}

type Shared = Arc<IdpState>;

fn fetch_site(headers: &HeaderMap) -> Option<String> {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

/// A small HTML page of the IdP (no script: a person clicks).
fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         </head><body><main><h1>{title}</h1>{body}</main></body></html>"
    ))
}

async fn discovery(State(idp): State<Shared>) -> Json<Value> {
    Json(json!({
        "issuer": idp.issuer,
        "jwks_uri": format!("{}/jwks", idp.issuer),
        "authorization_endpoint": format!("{}/authorize", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(idp): State<Shared>) -> Json<Value> {
    Json(json!({ "keys": [idp.jwk.clone()] }))
}

/// Checks the authorize request as a strict IdP would and shows a page whose Continue link
/// goes back to the callback with a code, as a real IdP does once its user has signed in.
async fn authorize(
    State(idp): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    idp.seen.lock().expect("lock").push(Seen {
        path: "authorize",
        fetch_site: fetch_site(&headers),
    });
    let get = |name: &str| query.get(name).cloned().unwrap_or_default();
    if get("response_type") != "code"
        || get("client_id") != CLIENT_ID
        || get("redirect_uri") != idp.redirect_uri
        || get("code_challenge_method") != "S256"
        || get("code_challenge").len() != 43
        || get("state").is_empty()
        || get("nonce").is_empty()
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return (
            StatusCode::BAD_REQUEST,
            page("Bad authorize request", &escape(&format!("{query:?}"))),
        )
            .into_response();
    }
    let mut code = [0_u8; 16];
    if SystemRandom::new().fill(&mut code).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let code = URL_SAFE_NO_PAD.encode(code);
    idp.grants.lock().expect("lock").insert(
        code.clone(),
        Grant {
            redirect_uri: get("redirect_uri"),
            challenge: get("code_challenge"),
            nonce: get("nonce"),
        },
    );
    let Ok(mut back) = reqwest::Url::parse(&get("redirect_uri")) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    page(
        "Test IdP",
        &format!(
            "<p>Signed in at the test IdP as {USER}.</p>\
             <p><a id=\"idp-continue\" href=\"{}\">Continue</a></p>",
            escape(back.as_str())
        ),
    )
    .into_response()
}

/// A page of the IdP that links to the app's `/`: following it is a cross-site navigation.
async fn elsewhere(State(idp): State<Shared>, headers: HeaderMap) -> Html<String> {
    idp.seen.lock().expect("lock").push(Seen {
        path: "elsewhere",
        fetch_site: fetch_site(&headers),
    });
    page(
        "Somewhere else",
        &format!(
            "<p><a id=\"to-app\" href=\"{}\">ArtGen</a></p>",
            escape(&idp.app_home)
        ),
    )
}

fn invalid(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

/// Redeems a code: the verifier must hash to the challenge and the redirect URI must be the
/// authorize request's. The UI is a public client here: PKCE alone protects the code.
async fn token(State(idp): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    if get("grant_type") != "authorization_code" || get("client_id") != CLIENT_ID {
        return invalid("invalid_request");
    }
    let Some(grant) = idp.grants.lock().expect("lock").remove(&get("code")) else {
        return invalid("invalid_grant");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
    if challenge != grant.challenge || get("redirect_uri") != grant.redirect_uri {
        return invalid("invalid_grant");
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = json!({
        "iss": idp.issuer,
        "aud": CLIENT_ID,
        "sub": USER,
        "nonce": grant.nonce,
        "iat": now,
        "exp": now + 300,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("browser-idp".to_owned());
    let Ok(id_token) = jsonwebtoken::encode(&header, &claims, &idp.key) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    *idp.redeemed.lock().expect("lock") += 1;
    Json(json!({
        "access_token": "opaque-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

/// The IdP on `localhost` and an app on `127.0.0.1` that signs in with it.
struct Setup {
    idp: Shared,
    app: TestApp,
}

async fn setup() -> Fallible<Setup> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|e| format!("no P-256 key: {e}"))?;
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256)?;
    jwk.common.key_id = Some("browser-idp".to_owned());
    jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);

    let idp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!(
        "http://localhost:{}/realms/test",
        idp_listener.local_addr()?.port()
    );
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        oidc: OidcConfig {
            issuer: Some(issuer.clone()),
            audience: Some("artgen-api".to_owned()),
            client_id: Some(CLIENT_ID.to_owned()),
            display_name: Some("Test IdP".to_owned()),
            ..OidcConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    let idp = Arc::new(IdpState {
        issuer,
        redirect_uri: format!("{}{CALLBACK}", app.address),
        app_home: format!("{}/", app.address),
        key,
        jwk: serde_json::to_value(&jwk)?,
        grants: Mutex::default(),
        seen: Mutex::default(),
        redeemed: Mutex::default(),
    });
    let routes = axum::Router::new()
        .route(
            "/realms/test/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/realms/test/jwks", get(jwks))
        .route("/realms/test/authorize", get(authorize))
        .route("/realms/test/token", post(token))
        .route("/elsewhere", get(elsewhere))
        .with_state(idp.clone());
    tokio::spawn(async move { axum::serve(idp_listener, routes).await });
    Ok(Setup { idp, app })
}

impl Setup {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.address)
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.idp
            .seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

/// The header's "Signed in as" text, or why it is not there.
async fn signed_in_as(ctx: &Ctx) -> Fallible<String> {
    let who = ctx
        .client
        .execute(
            "const n = document.querySelector('header.top nav');\
             return n ? n.textContent.replace(/\\s+/g, ' ').trim() : '';",
            vec![],
        )
        .await?;
    Ok(who.as_str().unwrap_or_default().to_owned())
}

/// Click "Sign in with SSO", Continue at the IdP (another site), and the "Signed in" page's
/// meta refresh lands on `/` signed in as the IdP's user, with no click on its Continue link.
pub(crate) async fn sign_in(ctx: &Ctx) -> Outcome {
    let setup = setup().await?;
    ctx.client.goto(&setup.url("/sign-in")).await?;
    ctx.client.delete_all_cookies().await?;
    ctx.client.goto(&setup.url("/sign-in")).await?;
    ctx.click_css("a#sso-sign-in").await?;
    let back = ctx.wait_css("a#idp-continue").await.map_err(|e| {
        format!(
            "{e} (the IdP's authorize page; the browser is at {:?})",
            setup.seen("authorize")
        )
    })?;
    let at = ctx.client.current_url().await?;
    ensure!(
        at.host_str() == Some("localhost"),
        "the IdP's page is at {at}, not on localhost: the two would not be different sites"
    );
    // What the browser says of the navigation to the IdP (a click on the app's link, then
    // the app's 303): Chromium and WebKit send `cross-site`; Firefox ESR sends `none` after
    // the redirect, as for a navigation the user started. None may call it same-site; the
    // Strict cookie check below is the evidence in every engine.
    let authorize = setup.seen("authorize");
    let site = authorize.last().and_then(|s| s.fetch_site.clone());
    eprintln!(
        "{}: Sec-Fetch-Site on the way to the IdP: {}",
        ctx.engine.name(),
        site.as_deref().unwrap_or("(not sent)")
    );
    ensure!(
        !matches!(site.as_deref(), Some("same-origin" | "same-site")),
        "the browser sent Sec-Fetch-Site: {site:?} to the IdP: it takes the two for one site"
    );
    if matches!(ctx.engine, Engine::Chromium | Engine::WebKit) {
        ensure!(
            site.as_deref() == Some("cross-site"),
            "{} sent Sec-Fetch-Site: {site:?} to the IdP, not cross-site",
            ctx.engine.name()
        );
    }

    ctx.click(&back).await?;
    let deadline = std::time::Instant::now() + crate::scenarios::WAIT;
    loop {
        let path = ctx.path().await?;
        if path == "/"
            && ctx
                .client
                .find(fantoccini::Locator::Css("form#generate"))
                .await
                .is_ok()
        {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "after the IdP, the browser stayed on {path} (codes redeemed: {}): the \
             \"Signed in\" page's refresh did not reach / with the new session",
            setup.idp.redeemed.lock().expect("lock")
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let who = signed_in_as(ctx).await?;
    ensure!(
        who.contains(USER),
        "landed on / but the page says {who:?}, not signed in as {USER}"
    );
    let cookies = ctx.client.get_all_cookies().await?;
    let strict = cookies
        .iter()
        .filter(|c| c.same_site().is_some_and(|s| s.is_strict()))
        .count();
    ensure!(
        strict > 0,
        "no SameSite=Strict session cookie after the sign-in: {:?}",
        cookies
            .iter()
            .map(|c| (c.name().to_owned(), c.same_site()))
            .collect::<Vec<_>>()
    );

    // Why the hop is needed, in this browser: a link from the IdP's site to `/` is a
    // cross-site navigation, and the Strict session cookie does not ride on it.
    ctx.client
        .goto(&format!(
            "http://localhost:{}/elsewhere",
            reqwest::Url::parse(&setup.idp.issuer)?
                .port()
                .ok_or("the issuer has no port")?
        ))
        .await?;
    ctx.click_css("a#to-app").await?;
    ctx.wait_path("/sign-in").await.map_err(|e| {
        format!(
            "{e}: following a link from localhost to 127.0.0.1, the browser sent the Strict \
             session cookie, so the two are not different sites here and the test proves \
             nothing"
        )
    })?;
    // Typed into the address bar (WebDriver's navigate), `/` is signed in again.
    ctx.client.goto(&setup.url("/")).await?;
    ctx.wait_css("form#generate").await?;
    let who = signed_in_as(ctx).await?;
    ensure!(
        who.contains(USER),
        "the session did not survive: / says {who:?}"
    );
    ctx.client.delete_all_cookies().await?;
    Ok(())
}
