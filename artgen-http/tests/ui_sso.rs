//! "Sign in with SSO" in the web UI against a local identity provider: an in-test axum server
//! serving discovery, a JWKS, an authorize endpoint and a token endpoint that checks the PKCE
//! verifier against the challenge it was given, the redirect URI and the client's secret.
//! The application is the real one (`compose::build` from settings), driven as a browser
//! without JavaScript: ArtGen's answers are followed by hand, the IdP is reached over HTTP.
//!
//! The IdP signs with ECDSA P-256 keys generated per test (ring), as in `tests/oidc.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use artgen_core::ports::UserStore;
use artgen_http::compose;
use artgen_http::metrics::Metrics;
use artgen_http::settings::Settings;
use axum::body::{to_bytes, Body};
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

#[path = "support/signing_key.rs"]
mod signing_key;
use signing_key::{now, SigningKey};

const CLIENT_ID: &str = "artgen-ui";
const AUDIENCE: &str = "artgen-api";
const PUBLIC_URL: &str = "http://artgen.test";
const REDIRECT_URI: &str = "http://artgen.test/sign-in/sso/callback";
const USER: &str = "sso-user";

/// What the IdP does differently from a well-behaved one.
#[derive(Default)]
struct Behaviour {
    /// Claims set over the ID token's (a `null` removes one).
    claims: Map<String, Value>,
    /// Sign ID tokens with a key the JWKS does not publish.
    foreign_key: bool,
    /// The client secret the token endpoint requires with HTTP Basic.
    secret: Option<String>,
    /// Remember this challenge instead of the one the authorize request gave.
    challenge: Option<String>,
    /// Leave the sign-in endpoints out of the discovery document.
    no_endpoints: bool,
}

/// A code handed out, and what the authorize request it answered said.
struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
}

struct IdpState {
    issuer: String,
    key: SigningKey,
    stranger: SigningKey,
    behaviour: Mutex<Behaviour>,
    grants: Mutex<HashMap<String, Grant>>,
    authorize_requests: Mutex<Vec<HashMap<String, String>>>,
    token_requests: Mutex<Vec<HashMap<String, String>>>,
    /// The ID tokens handed out.
    issued: Mutex<Vec<String>>,
}

type Shared = Arc<IdpState>;

/// The test IdP, served on a loopback port for as long as the test runs.
struct Idp {
    state: Shared,
    http: reqwest::Client,
}

fn invalid(error: &str, status: StatusCode) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": "refused by the test IdP" })),
    )
        .into_response()
}

async fn discovery(State(idp): State<Shared>) -> Json<Value> {
    if idp.behaviour.lock().expect("lock").no_endpoints {
        return Json(json!({
            "issuer": idp.issuer,
            "jwks_uri": format!("{}/jwks", idp.issuer),
        }));
    }
    Json(json!({
        "issuer": idp.issuer,
        "jwks_uri": format!("{}/jwks", idp.issuer),
        "authorization_endpoint": format!("{}/authorize", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(idp): State<Shared>) -> Json<Value> {
    Json(json!({ "keys": [idp.key.jwk.clone()] }))
}

/// Checks the request as a strict IdP would, remembers it, sends the browser back with a code.
async fn authorize(
    State(idp): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    idp.authorize_requests
        .lock()
        .expect("lock")
        .push(query.clone());
    let get = |name: &str| query.get(name).cloned().unwrap_or_default();
    if get("response_type") != "code"
        || get("client_id") != CLIENT_ID
        || get("redirect_uri") != REDIRECT_URI
        || get("code_challenge_method") != "S256"
        || get("code_challenge").len() != 43
        || get("state").is_empty()
        || get("nonce").is_empty()
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let code = hex::encode(rand::random::<[u8; 16]>());
    let challenge = idp
        .behaviour
        .lock()
        .expect("lock")
        .challenge
        .clone()
        .unwrap_or_else(|| get("code_challenge"));
    idp.grants.lock().expect("lock").insert(
        code.clone(),
        Grant {
            redirect_uri: get("redirect_uri"),
            challenge,
            nonce: get("nonce"),
        },
    );
    let location = format!("{}?code={code}&state={}", get("redirect_uri"), get("state"));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// Redeems a code: the verifier must hash to the challenge, the redirect URI must be the
/// authorize request's, the client must authenticate when it has a secret.
async fn token(
    State(idp): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    idp.token_requests.lock().expect("lock").push(form.clone());
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    if get("grant_type") != "authorization_code" {
        return invalid("unsupported_grant_type", StatusCode::BAD_REQUEST);
    }
    let (secret, foreign, overrides) = {
        let behaviour = idp.behaviour.lock().expect("lock");
        (
            behaviour.secret.clone(),
            behaviour.foreign_key,
            behaviour.claims.clone(),
        )
    };
    match secret {
        Some(secret) => {
            let want = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{secret}")));
            let got = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if got != Some(want.as_str()) {
                return invalid("invalid_client", StatusCode::UNAUTHORIZED);
            }
        }
        None if get("client_id") != CLIENT_ID => {
            return invalid("invalid_client", StatusCode::UNAUTHORIZED)
        }
        None => {}
    }
    let mut grants = idp.grants.lock().expect("lock");
    let Some(grant) = grants.get(&get("code")) else {
        return invalid("invalid_grant", StatusCode::BAD_REQUEST);
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
    if challenge != grant.challenge || get("redirect_uri") != grant.redirect_uri {
        // A wrong verifier does not use the code up: only its rightful holder can.
        return invalid("invalid_grant", StatusCode::BAD_REQUEST);
    }
    let Some(grant) = grants.remove(&get("code")) else {
        return invalid("invalid_grant", StatusCode::BAD_REQUEST);
    };
    let mut claims = json!({
        "iss": idp.issuer,
        "aud": CLIENT_ID,
        "sub": USER,
        "org": "acme",
        "nonce": grant.nonce,
        "iat": now(),
        "exp": now() + 300,
    });
    for (name, value) in overrides {
        match value {
            Value::Null => {
                claims.as_object_mut().expect("object").remove(&name);
            }
            value => claims[name] = value,
        }
    }
    let key = if foreign { &idp.stranger } else { &idp.key };
    let id_token = key.sign(&claims);
    idp.issued.lock().expect("lock").push(id_token.clone());
    Json(json!({
        "access_token": "opaque-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

impl Idp {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(IdpState {
            issuer: format!("http://{addr}/realms/test"),
            key: SigningKey::es256("idp-1"),
            stranger: SigningKey::es256("idp-1"),
            behaviour: Mutex::new(Behaviour::default()),
            grants: Mutex::default(),
            authorize_requests: Mutex::default(),
            token_requests: Mutex::default(),
            issued: Mutex::default(),
        });
        let app = axum::Router::new()
            .route(
                "/realms/test/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/test/jwks", get(jwks))
            .route("/realms/test/authorize", get(authorize))
            .route("/realms/test/token", post(token))
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the IdP serves");
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self { state, http }
    }

    fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    fn behave(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.state.behaviour.lock().expect("lock"));
    }

    fn claim(&self, name: &str, value: Value) {
        self.behave(|b| {
            b.claims.insert(name.to_owned(), value);
        });
    }

    /// The browser at the IdP's authorize URL: the callback URL it is sent back to.
    async fn authorize(&self, url: &str) -> String {
        let answer = self.http.get(url).send().await.expect("the IdP answers");
        assert_eq!(answer.status(), reqwest::StatusCode::FOUND, "authorize");
        answer.headers()[reqwest::header::LOCATION]
            .to_str()
            .expect("ascii")
            .to_owned()
    }

    fn last_authorize(&self) -> HashMap<String, String> {
        self.state
            .authorize_requests
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("an authorize request")
    }

    fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.state.token_requests.lock().expect("lock").clone()
    }
}

struct App {
    router: axum::Router,
    users: Arc<dyn UserStore>,
    _data: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().expect("ascii")
    }

    /// The `Set-Cookie` headers of cookie `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// `name=value` of cookie `name`, as a browser would send it back.
    fn cookie(&self, name: &str) -> String {
        let set = self
            .set_cookie(name)
            .unwrap_or_else(|| panic!("a {name} cookie: {:?}", self.headers));
        set.split(';').next().expect("name=value").to_owned()
    }
}

/// The path and query of an absolute URL on ArtGen.
fn local(url: &str) -> &str {
    url.strip_prefix(PUBLIC_URL).expect("a URL on ArtGen")
}

impl App {
    async fn start(idp: &Idp, tweak: impl FnOnce(&mut Settings)) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings {
            data_dir: data.path().to_path_buf(),
            public_url: Some(PUBLIC_URL.to_owned()),
            ..Settings::default()
        };
        settings.oidc.issuer = Some(idp.issuer());
        settings.oidc.audience = Some(AUDIENCE.to_owned());
        settings.oidc.client_id = Some(CLIENT_ID.to_owned());
        settings.oidc.display_name = Some("Test IdP".to_owned());
        tweak(&mut settings);
        let metrics = Arc::new(Metrics::new());
        let upstreams = compose::upstreams(&settings, &|_| None, &metrics).expect("mock upstream");
        let app = compose::build(&settings, upstreams, metrics)
            .await
            .expect("app builds");
        Self {
            users: app.stores.users.clone(),
            router: artgen_http::build_router(app.state),
            _data: data,
        }
    }

    async fn get(&self, uri: &str, cookie: Option<&str>) -> Answer {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::HOST, "artgen.test");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), 4 << 20).await.expect("body");
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `GET /sign-in/sso`: the IdP's authorize URL and the flow cookie.
    async fn start_sso(&self) -> (String, String) {
        let answer = self.get("/sign-in/sso", None).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        (answer.location().to_owned(), answer.cookie("artgen_sso"))
    }

    /// The whole flow, as a browser goes through it: ArtGen's callback's answer.
    async fn sso(&self, idp: &Idp) -> Answer {
        let (authorize, flow) = self.start_sso().await;
        let callback = idp.authorize(&authorize).await;
        self.get(local(&callback), Some(&flow)).await
    }
}

/// The query parameter `name` of `url`.
fn param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Asserts that `answer` is the sign-in page refusing with `status` and saying `words`, and
/// that it started no session.
fn assert_refused(answer: &Answer, status: StatusCode, words: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(answer.body.contains("id=\"error\""), "{}", answer.body);
    assert!(answer.body.contains(words), "{words} in {}", answer.body);
    assert!(answer.body.contains("id=\"sso-sign-in\""), "start again");
    assert!(
        answer.set_cookie("artgen_session").is_none(),
        "no session: {:?}",
        answer.headers
    );
}

#[tokio::test]
async fn the_full_flow_signs_the_user_in_with_pkce_and_lands_on_the_home_page() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |_| {}).await;

    let page = app.get("/sign-in", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"sso-sign-in\""), "{}", page.body);
    assert!(page.body.contains("href=\"/sign-in/sso\""), "{}", page.body);
    assert!(page.body.contains("Sign in with Test IdP"), "{}", page.body);
    assert!(page.body.contains("id=\"api-key\""), "the key form stays");

    let start = app.get("/sign-in/sso", None).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let authorize = start.location().to_owned();
    assert!(
        authorize.starts_with(&format!("{}/authorize?", idp.issuer())),
        "{authorize}"
    );
    let flow_set = start.set_cookie("artgen_sso").expect("a flow cookie");
    for part in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/sign-in/sso/callback",
        "Max-Age=600",
    ] {
        assert!(flow_set.contains(part), "{part} in {flow_set}");
    }
    assert!(!flow_set.contains("Secure"), "plain http public URL");
    assert_eq!(param(&authorize, "response_type"), "code");
    assert_eq!(param(&authorize, "client_id"), CLIENT_ID);
    assert_eq!(param(&authorize, "redirect_uri"), REDIRECT_URI);
    assert_eq!(param(&authorize, "scope"), "openid profile email");
    assert_eq!(param(&authorize, "code_challenge_method"), "S256");
    let state = param(&authorize, "state");
    assert!(state.len() >= 22, "128+ bits of state: {state}");
    assert!(param(&authorize, "nonce").len() >= 22);
    assert!(
        !flow_set.contains(&param(&authorize, "code_challenge")),
        "the cookie holds the verifier, not the challenge"
    );

    let callback = idp.authorize(&authorize).await;
    assert!(callback.starts_with(REDIRECT_URI), "{callback}");
    let flow = start.cookie("artgen_sso");
    let done = app.get(local(&callback), Some(&flow)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body
            .contains("http-equiv=\"refresh\" content=\"0; url=/\""),
        "moves on to / by itself: {}",
        done.body
    );
    assert!(done.body.contains("id=\"continue\""), "{}", done.body);
    let session_set = done.set_cookie("artgen_session").expect("a session");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_set.contains(part), "{part} in {session_set}");
    }
    let cleared = done
        .set_cookie("artgen_sso")
        .expect("the flow cookie cleared");
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Path=/sign-in/sso/callback"),
        "{cleared}"
    );

    // The token request carried the verifier whose S256 hash the authorize request sent.
    let tokens = idp.token_requests();
    assert_eq!(tokens.len(), 1);
    let verifier = &tokens[0]["code_verifier"];
    assert!(verifier.len() >= 43, "{verifier}");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        idp.last_authorize()["code_challenge"]
    );
    assert_eq!(tokens[0]["redirect_uri"], REDIRECT_URI);
    assert_eq!(tokens[0]["client_id"], CLIENT_ID, "a public client");
    assert!(!tokens[0].contains_key("client_secret"));

    let session = done.cookie("artgen_session");
    let home = app.get("/", Some(&session)).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(
        home.body.contains(&format!("<strong>{USER}</strong>")),
        "{}",
        home.body
    );
    let signed_in = app.get("/sign-in", Some(&session)).await;
    assert_eq!(signed_in.location(), "/", "already signed in");
    let admin = app.get("/ui/admin", Some(&session)).await;
    assert_ne!(admin.status, StatusCode::OK, "no role claim: not an admin");

    // A replayed callback (the browser dropped the flow cookie, but say it was copied) fails:
    // the IdP takes each code once.
    let replay = app.get(local(&callback), Some(&flow)).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
}

#[tokio::test]
async fn the_role_claim_makes_an_admin_as_with_bearer_tokens() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |s| s.oidc.role_claim = "roles".into()).await;
    idp.claim("roles", json!(["viewer", "admin"]));
    let done = app.sso(&idp).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let session = done.cookie("artgen_session");
    let admin = app.get("/ui/admin", Some(&session)).await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.body);
}

#[tokio::test]
async fn only_the_verifier_of_the_challenge_redeems_the_code() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |_| {}).await;
    let (authorize, flow) = app.start_sso().await;
    let callback = idp.authorize(&authorize).await;

    // Someone who caught the code but not the verifier gets nothing from the IdP.
    let stolen = idp
        .http
        .post(format!("{}/token", idp.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &param(&callback, "code")),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", CLIENT_ID),
            ("code_verifier", &"x".repeat(43)),
        ])
        .send()
        .await
        .expect("the IdP answers");
    assert_eq!(stolen.status(), reqwest::StatusCode::BAD_REQUEST);

    // The browser that started the flow holds the verifier.
    let done = app.get(local(&callback), Some(&flow)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);

    // And when the IdP knows another challenge than ArtGen's verifier's, the sign-in fails.
    idp.behave(|b| b.challenge = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(b"another"))));
    let refused = app.sso(&idp).await;
    assert_refused(&refused, StatusCode::UNAUTHORIZED, "invalid_grant");
}

#[tokio::test]
async fn a_forged_or_missing_state_is_refused() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |_| {}).await;
    let (authorize, flow) = app.start_sso().await;
    let callback = idp.authorize(&authorize).await;
    let code = param(&callback, "code");

    let forged = app
        .get(
            &format!("/sign-in/sso/callback?code={code}&state=forged-state"),
            Some(&flow),
        )
        .await;
    assert_refused(&forged, StatusCode::BAD_REQUEST, "does not belong");
    assert!(
        forged
            .set_cookie("artgen_sso")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the flow is used up"
    );

    let no_state = app
        .get(&format!("/sign-in/sso/callback?code={code}"), Some(&flow))
        .await;
    assert_refused(&no_state, StatusCode::BAD_REQUEST, "incomplete");

    // An attacker's own code and state, in a victim's browser that started no flow (login
    // CSRF), or that started another.
    let no_cookie = app.get(local(&callback), None).await;
    assert_refused(
        &no_cookie,
        StatusCode::BAD_REQUEST,
        "not started in this browser",
    );
    let (_, other_flow) = app.start_sso().await;
    let crossed = app.get(local(&callback), Some(&other_flow)).await;
    assert_refused(&crossed, StatusCode::BAD_REQUEST, "does not belong");

    // A flow cookie that is not ours.
    let tampered = format!("{}x", flow);
    let bad_cookie = app.get(local(&callback), Some(&tampered)).await;
    assert_refused(
        &bad_cookie,
        StatusCode::BAD_REQUEST,
        "not started in this browser",
    );
    assert!(idp.token_requests().is_empty(), "no code was redeemed");
}

#[tokio::test]
async fn a_wrong_or_missing_nonce_is_refused() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |_| {}).await;
    idp.claim("nonce", json!("another-sign-in"));
    let refused = app.sso(&idp).await;
    assert_refused(&refused, StatusCode::UNAUTHORIZED, "could not be verified");
    idp.claim("nonce", Value::Null);
    let refused = app.sso(&idp).await;
    assert_refused(&refused, StatusCode::UNAUTHORIZED, "could not be verified");
}

#[tokio::test]
async fn an_idp_error_shows_a_message_and_never_reflects_its_text() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |_| {}).await;
    let (authorize, flow) = app.start_sso().await;
    let state = param(&authorize, "state");
    let denied = app
        .get(
            &format!(
                "/sign-in/sso/callback?error=access_denied&error_description=nope&state={state}"
            ),
            Some(&flow),
        )
        .await;
    assert_refused(&denied, StatusCode::FORBIDDEN, "access_denied");
    assert!(!denied.body.contains("nope"));

    let odd = app
        .get(
            "/sign-in/sso/callback?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&error_description=Call+555",
            Some(&flow),
        )
        .await;
    assert_refused(
        &odd,
        StatusCode::BAD_REQUEST,
        "could not sign you in (unknown)",
    );
    assert!(!odd.body.contains("<script>alert") && !odd.body.contains("Call 555"));

    let garbage = app.get("/sign-in/sso/callback?code=%ZZ", Some(&flow)).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST, "never a 500");
}

/// Makes the IdP misbehave in one way.
type SetUp = fn(&Idp);

#[tokio::test]
async fn a_token_of_another_issuer_audience_or_key_is_refused() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |_| {}).await;
    let cases: [(&str, SetUp); 5] = [
        ("issuer", |idp| {
            idp.claim("iss", json!("http://127.0.0.1:9/realms/evil"))
        }),
        ("audience", |idp| idp.claim("aud", json!("another-client"))),
        ("API audience", |idp| idp.claim("aud", json!(AUDIENCE))),
        ("azp", |idp| {
            idp.claim("aud", json!([CLIENT_ID, "another-client"]));
            idp.claim("azp", json!("another-client"));
        }),
        ("expired", |idp| idp.claim("exp", json!(now() - 3600))),
    ];
    for (case, set_up) in cases {
        idp.behave(|b| b.claims.clear());
        set_up(&idp);
        let refused = app.sso(&idp).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_refused(&refused, StatusCode::UNAUTHORIZED, "could not be verified");
    }
    idp.behave(|b| {
        b.claims.clear();
        b.foreign_key = true;
    });
    let refused = app.sso(&idp).await;
    assert_refused(&refused, StatusCode::UNAUTHORIZED, "could not be verified");

    // The same IdP, well-behaved again: the sign-in works.
    idp.behave(|b| b.foreign_key = false);
    assert_eq!(app.sso(&idp).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_user_is_refused_and_disabling_ends_an_sso_session() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |_| {}).await;
    let done = app.sso(&idp).await;
    let session = done.cookie("artgen_session");
    assert_eq!(app.get("/", Some(&session)).await.status, StatusCode::OK);

    app.users.create_user(USER, None).await.expect("row");
    app.users
        .set_user_disabled(USER, true)
        .await
        .expect("disabled");
    let home = app.get("/", Some(&session)).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/sign-in", "the session ended");
    let refused = app.sso(&idp).await;
    assert_refused(&refused, StatusCode::FORBIDDEN, "disabled");

    app.users
        .set_user_disabled(USER, false)
        .await
        .expect("enabled");
    assert_eq!(app.sso(&idp).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_its_secret() {
    let idp = Idp::start().await;
    idp.behave(|b| b.secret = Some("s3cret-value".to_owned()));
    let app = App::start(&idp, |s| {
        s.oidc.client_secret = Some("wrong-secret".into());
    })
    .await;
    let refused = app.sso(&idp).await;
    assert_refused(&refused, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(!refused.body.contains("wrong-secret"));

    let app = App::start(&idp, |s| {
        s.oidc.client_secret = Some("s3cret-value".into());
    })
    .await;
    let done = app.sso(&idp).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let last = idp.token_requests().pop().expect("a token request");
    assert!(!last.contains_key("client_secret"), "Basic, not the body");
}

#[tokio::test]
async fn no_page_but_sign_in_and_the_sso_routes_is_reachable_without_a_session() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |_| {}).await;
    for uri in ["/", "/ui/images/img_x", "/ui/admin", "/ui/admin/usage.csv"] {
        let answer = app.get(uri, None).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(answer.location(), "/sign-in", "{uri}");
    }
    assert_eq!(
        app.get("/ui/estimate?model=dall-e-2", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/sign-in", None).await.status, StatusCode::OK);
    let start = app.get("/sign-in/sso", None).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    assert!(start.location().starts_with(&idp.issuer()));
    let callback = app.get("/sign-in/sso/callback", None).await;
    assert_refused(&callback, StatusCode::BAD_REQUEST, "Start again");
    // A flow cookie is no session.
    let (_, flow) = app.start_sso().await;
    let with_flow = app.get("/", Some(&flow)).await;
    assert_eq!(with_flow.location(), "/sign-in");
}

#[tokio::test]
async fn without_a_client_id_there_is_no_sso_link_nor_route() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |s| s.oidc.client_id = None).await;
    let page = app.get("/sign-in", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("sso-sign-in"), "{}", page.body);
    assert!(page.body.contains("id=\"api-key\""));
    let start = app.get("/sign-in/sso", None).await;
    assert_eq!(start.status, StatusCode::NOT_FOUND);
    assert!(start.body.contains("not set up"), "{}", start.body);
    assert_eq!(
        app.get("/sign-in/sso/callback?code=a&state=b", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn without_a_public_url_the_redirect_uri_follows_the_request() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |s| s.public_url = None).await;
    let plain = app.get("/sign-in/sso", None).await;
    assert_eq!(param(plain.location(), "redirect_uri"), REDIRECT_URI);
    assert!(!plain
        .set_cookie("artgen_sso")
        .expect("flow")
        .contains("Secure"));

    let request = Request::get("/sign-in/sso")
        .header(header::HOST, "art.example.com")
        .header("x-forwarded-proto", "https")
        .body(Body::empty())
        .expect("request");
    let proxied = app.router.clone().oneshot(request).await.expect("answers");
    let location = proxied.headers()[header::LOCATION].to_str().expect("ascii");
    assert_eq!(
        param(location, "redirect_uri"),
        "https://art.example.com/sign-in/sso/callback"
    );
    let flow = proxied.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii");
    assert!(flow.contains("; Secure"), "{flow}");
}

#[tokio::test]
async fn an_idp_without_sign_in_endpoints_is_a_message_and_bearer_tokens_still_work() {
    let idp = Idp::start().await;
    idp.behave(|b| b.no_endpoints = true);
    let app = App::start(&idp, |_| {}).await;
    let start = app.get("/sign-in/sso", None).await;
    assert_eq!(
        start.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        start.body
    );
    assert!(start.body.contains("cannot be reached"), "{}", start.body);

    // The IdP's keys were found all the same: its tokens pass on the API.
    let token = idp.state.key.sign(&json!({
        "iss": idp.issuer(), "aud": AUDIENCE, "sub": "api-user", "exp": now() + 300,
    }));
    let request = Request::get("/v1/models")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let answer = app.router.clone().oneshot(request).await.expect("answers");
    assert_eq!(answer.status(), StatusCode::OK);

    // Once the IdP names them, the sign-in works without a restart.
    idp.behave(|b| b.no_endpoints = false);
    assert_eq!(app.sso(&idp).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unreachable_idp_is_a_message_not_a_500() {
    let idp = Idp::start().await;
    let app = App::start(&idp, |s| {
        s.oidc.issuer = Some("http://127.0.0.1:9/realms/down".to_owned());
        s.oidc.http_timeout_secs = 2;
    })
    .await;
    let start = app.get("/sign-in/sso", None).await;
    assert_eq!(start.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(start.body.contains("cannot be reached"), "{}", start.body);
    assert!(start.set_cookie("artgen_sso").is_none());
}

/// Everything logged, as text.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Log;

    fn make_writer(&'a self) -> Log {
        self.clone()
    }
}

/// The log every test in this binary writes to, installed once.
fn global_log() -> Log {
    static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Log::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "artgen=trace,artgen_http=trace,artgen_core=trace",
            ))
            .with_writer(log.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        log
    })
    .clone()
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

#[tokio::test]
async fn no_code_token_verifier_or_secret_is_logged() {
    // The process-wide subscriber, not a thread's default: with a scoped one, a callsite that
    // another test's thread reached first can keep the "nobody listens" interest it cached, and
    // its events go missing here now and then. Other tests' lines land in the same log; the
    // checks below look for this test's own codes and secrets, which no other test has.
    let log = global_log();

    let idp = Idp::start().await;
    let secret = "confidential-s3cret";
    idp.behave(|b| b.secret = Some(secret.to_owned()));
    let app = App::start(&idp, |s| s.oidc.client_secret = Some(secret.into())).await;
    let mut codes = Vec::new();
    for misbehave in [false, true] {
        idp.behave(|b| b.claims.clear());
        if misbehave {
            idp.claim("nonce", json!("another-sign-in"));
        }
        let (authorize, flow) = app.start_sso().await;
        let callback = idp.authorize(&authorize).await;
        codes.push(param(&callback, "code"));
        let answer = app.get(local(&callback), Some(&flow)).await;
        let want = if misbehave {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(answer.status, want, "{}", answer.body);
    }
    let wrong = App::start(&idp, |s| s.oidc.client_secret = Some("wrong-s3cret".into())).await;
    let refused = wrong.sso(&idp).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let text = log.text();
    assert!(text.contains("ui session started with sso"), "{text}");
    assert!(text.contains("sso sign-in refused"), "{text}");
    assert!(
        text.contains("/sign-in/sso/callback"),
        "the access log: {text}"
    );
    let issued = idp.state.issued.lock().expect("lock").clone();
    assert_eq!(issued.len(), 2);
    let verifiers: Vec<String> = idp
        .token_requests()
        .iter()
        .map(|r| r["code_verifier"].clone())
        .collect();
    let secrets = [secret.to_owned(), "wrong-s3cret".to_owned()];
    for leaked in codes
        .iter()
        .chain(&issued)
        .chain(&verifiers)
        .chain(&secrets)
    {
        assert!(!text.contains(leaked.as_str()), "{leaked} logged: {text}");
    }
}
