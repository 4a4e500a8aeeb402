//! OIDC bearer tokens through the whole HTTP stack: a local IdP (wiremock serving discovery
//! and a JWKS), the application built by `compose::build` from settings, requests to a
//! protected route (`GET /v1/models`).
//!
//! Keys: the ECDSA P-256 keys are generated in each test (ring). The RSA key is a fixed,
//! test-only key in `tests/fixtures/oidc-test-rsa-key.pem`: generating 2048-bit RSA keys in
//! an unoptimised test build takes too long to do per test. It vouches for nothing outside
//! these tests.

use std::sync::Arc;
use std::time::Duration;

use artgen_core::domain::{KeyEnv, Role};
use artgen_core::mock::MockProvider;
use artgen_core::ports::ImageProvider;
use artgen_http::compose::{self, Upstreams};
use artgen_http::metrics::Metrics;
use artgen_http::settings::Settings;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tower::ServiceExt as _;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "support/signing_key.rs"]
mod signing_key;
use signing_key::{now, SigningKey};

const AUDIENCE: &str = "artgen-api";
const RSA_PEM: &[u8] = include_bytes!("fixtures/oidc-test-rsa-key.pem");
/// The public half of [`RSA_PEM`], as an attacker would find it published.
const RSA_PUBLIC_PEM: &[u8] = include_bytes!("fixtures/oidc-test-rsa-public.pem");

/// An RSA key of the test IdP, from the fixture.
fn rs256(kid: &str) -> SigningKey {
    let key = EncodingKey::from_rsa_pem(RSA_PEM).expect("the fixture is an RSA key");
    SigningKey::new(kid, Algorithm::RS256, key)
}

/// The test IdP: discovery at `{issuer}/.well-known/openid-configuration`, keys at `/jwks`.
struct Idp {
    server: MockServer,
}

impl Idp {
    async fn start(keys: &[&SigningKey]) -> Self {
        let idp = Self {
            server: MockServer::start().await,
        };
        idp.serve(keys).await;
        idp
    }

    fn issuer(&self) -> String {
        format!("{}/realms/test", self.server.uri())
    }

    /// Serves discovery and exactly `keys` (replacing what was served).
    async fn serve(&self, keys: &[&SigningKey]) {
        self.server.reset().await;
        let discovery = json!({
            "issuer": self.issuer(),
            "jwks_uri": format!("{}/jwks", self.server.uri()),
        });
        Mock::given(method("GET"))
            .and(path("/realms/test/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(discovery))
            .mount(&self.server)
            .await;
        let jwks = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(jwks))
            .mount(&self.server)
            .await;
    }

    async fn jwks_fetches(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == "/jwks")
            .count()
    }

    /// Claims of a valid token for `sub`.
    fn claims(&self, sub: &str) -> Value {
        json!({
            "iss": self.issuer(),
            "aud": AUDIENCE,
            "sub": sub,
            "org": "acme",
            "roles": ["viewer"],
            "iat": now(),
            "exp": now() + 300,
        })
    }
}

struct App {
    router: axum::Router,
    api_key: String,
    _data: tempfile::TempDir,
}

impl App {
    async fn start(issuer: &str, tweak: impl FnOnce(&mut Settings)) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings {
            data_dir: data.path().to_path_buf(),
            ..Settings::default()
        };
        settings.oidc.issuer = Some(issuer.to_owned());
        settings.oidc.audience = Some(AUDIENCE.to_owned());
        settings.oidc.role_claim = "roles".into();
        tweak(&mut settings);
        let upstreams = Upstreams::single(Arc::new(MockProvider::new()) as Arc<dyn ImageProvider>);
        let app = compose::build(&settings, upstreams, Arc::new(Metrics::new()))
            .await
            .expect("app builds");
        let api_key = app
            .stores
            .keys
            .create("keyholder", Role::User, KeyEnv::Test)
            .await
            .expect("key")
            .expose_secret()
            .to_owned();
        Self {
            router: artgen_http::build_router(app.state),
            api_key,
            _data: data,
        }
    }

    async fn models(&self, bearer: &str) -> (StatusCode, Value) {
        self.get("/v1/models", bearer).await
    }

    async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        let request = Request::get(path)
            .header("authorization", format!("Bearer {bearer}"))
            .body(Body::empty())
            .expect("request");
        self.send(request).await
    }

    async fn generate(&self, bearer: &str) -> (StatusCode, Value) {
        let body =
            json!({"model": "dall-e-2", "prompt": "A lighthouse at dusk", "size": "256x256"});
        let request = Request::post("/generate")
            .header("authorization", format!("Bearer {bearer}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.send(request).await
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.expect("answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }
}

/// The answer's error envelope without its request id (which differs per request).
fn envelope(body: &Value) -> Value {
    let mut body = body.clone();
    body["error"]["request_id"] = Value::Null;
    body
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn a_valid_token_and_an_api_key_both_pass() {
    let key = SigningKey::es256("ec-1");
    let rsa = rs256("rsa-1");
    let idp = Idp::start(&[&key, &rsa]).await;
    let app = App::start(&idp.issuer(), |_| {}).await;

    let (status, body) = app.models(&key.sign(&idp.claims("alice"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"].is_array(), "{body}");

    let (status, body) = app.models(&rsa.sign(&idp.claims("bob"))).await;
    assert_eq!(status, StatusCode::OK, "RS256: {body}");

    let mut array_aud = idp.claims("carol");
    array_aud["aud"] = json!(["another-api", AUDIENCE]);
    let (status, body) = app.models(&key.sign(&array_aud)).await;
    assert_eq!(status, StatusCode::OK, "aud as an array: {body}");

    let (status, body) = app.models(&app.api_key).await;
    assert_eq!(status, StatusCode::OK, "API keys still work: {body}");
}

#[tokio::test]
async fn every_bad_token_is_refused_with_the_same_401() {
    let key = SigningKey::es256("ec-1");
    let rsa = rs256("rsa-1");
    let stranger = SigningKey::es256("ec-1");
    let idp = Idp::start(&[&key, &rsa]).await;
    let app = App::start(&idp.issuer(), |_| {}).await;
    let good = idp.claims("alice");
    let with = |field: &str, value: Value| {
        let mut claims = good.clone();
        claims[field] = value;
        claims
    };

    let none_header = json!({"alg": "none", "typ": "JWT", "kid": "ec-1"});
    let unsigned = format!("{}.{}.", b64(&none_header), b64(&good));
    let unsigned_with_junk = format!("{}.{}.c2ln", b64(&none_header), b64(&good));

    // The classic confusion: HS256 keyed with the RSA key as published (the JWK's `n`, the
    // PEM file).
    let modulus = rsa.jwk["n"].as_str().expect("n").as_bytes().to_vec();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("rsa-1".to_owned());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &good,
        &EncodingKey::from_secret(&modulus).expect("a secret"),
    )
    .expect("signs");
    let hs256_pem = jsonwebtoken::encode(
        &hs_header,
        &good,
        &EncodingKey::from_secret(RSA_PUBLIC_PEM).expect("a secret"),
    )
    .expect("signs");

    let tampered = {
        let token = key.sign(&good);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = b64(&with("sub", json!("mallory")));
        format!("{}.{forged}.{}", parts[0], parts[2])
    };
    let unknown_kid = SigningKey::es256("ec-404");

    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned),
        ("alg none with a signature", unsigned_with_junk),
        ("HS256 keyed with the public modulus", hs256),
        ("HS256 keyed with the public PEM", hs256_pem),
        ("expired", key.sign(&with("exp", json!(now() - 3600)))),
        ("not yet valid", key.sign(&with("nbf", json!(now() + 3600)))),
        (
            "wrong issuer",
            key.sign(&with("iss", json!("https://evil.example"))),
        ),
        (
            "wrong audience",
            key.sign(&with("aud", json!("another-api"))),
        ),
        (
            "wrong audience array",
            key.sign(&with("aud", json!(["a", "b"]))),
        ),
        ("exp as a string", key.sign(&with("exp", json!("never")))),
        ("no exp", {
            let mut claims = good.clone();
            claims.as_object_mut().expect("object").remove("exp");
            key.sign(&claims)
        }),
        ("unknown kid", unknown_kid.sign(&good)),
        ("known kid, another key", stranger.sign(&good)),
        ("tampered payload", tampered),
        ("no user", {
            let mut claims = good.clone();
            claims.as_object_mut().expect("object").remove("sub");
            key.sign(&claims)
        }),
        ("ES256 header on the RSA key", {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some("rsa-1".into());
            jsonwebtoken::encode(&header, &good, &key.key).expect("signs")
        }),
    ];
    let mut first: Option<Value> = None;
    for (case, token) in cases {
        let (status, body) = app.models(&token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert_eq!(body["error"]["code"], "invalid_api_key", "{case}: {body}");
        assert_eq!(
            body["error"]["message"],
            artgen_http::oidc::INVALID_TOKEN_MESSAGE,
            "{case}: {body}"
        );
        let body = envelope(&body);
        match &first {
            None => first = Some(body),
            Some(first) => assert_eq!(&body, first, "{case}: the same answer for every case"),
        }
    }
    // The leeway: expired 30 s ago (within 60 s) still passes.
    let (status, body) = app.models(&key.sign(&with("exp", json!(now() - 30)))).await;
    assert_eq!(status, StatusCode::OK, "within the leeway: {body}");
}

#[tokio::test]
async fn unknown_kids_refetch_the_keys_at_most_once_per_cooldown() {
    let old = SigningKey::es256("old");
    let new = SigningKey::es256("new");
    let idp = Idp::start(&[&old]).await;
    let app = App::start(&idp.issuer(), |s| s.oidc.jwks_cooldown_secs = 2).await;
    let (status, _) = app.models(&old.sign(&idp.claims("alice"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        idp.jwks_fetches().await,
        1,
        "the start and the first token share one fetch"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let fetched = idp.jwks_fetches().await;

    // A flood of random kids: one refetch, then nothing until the cooldown is over.
    let flood: Vec<String> = (0..20)
        .map(|i| SigningKey::es256(&format!("random-{i}")).sign(&idp.claims("mallory")))
        .collect();
    for token in &flood {
        let (status, _) = app.models(token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        idp.jwks_fetches().await,
        fetched + 1,
        "one fetch for the flood"
    );

    // The IdP rotates: the new key is found once the cooldown allows a fetch.
    idp.serve(&[&old, &new]).await;
    let token = new.sign(&idp.claims("alice"));
    let (status, _) = app.models(&token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "still within the cooldown"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = app.models(&token).await;
    assert_eq!(status, StatusCode::OK, "the rotated key is fetched: {body}");
}

#[tokio::test]
async fn old_keys_are_fetched_again_a_dropped_key_stops_and_a_down_idp_keeps_the_last_ones() {
    let old = SigningKey::es256("old");
    let new = SigningKey::es256("new");
    let idp = Idp::start(&[&old]).await;
    let app = App::start(&idp.issuer(), |s| {
        s.oidc.jwks_cooldown_secs = 1;
        s.oidc.jwks_max_age_secs = 1;
    })
    .await;
    let old_token = old.sign(&idp.claims("alice"));
    let new_token = new.sign(&idp.claims("alice"));
    assert_eq!(app.models(&old_token).await.0, StatusCode::OK);

    // The IdP drops the old key: once the keys are old, the next token fetches them again.
    idp.serve(&[&new]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.models(&old_token).await.0,
        StatusCode::UNAUTHORIZED,
        "a dropped key"
    );
    assert_eq!(app.models(&new_token).await.0, StatusCode::OK);

    // The IdP goes away: the keys last fetched stay in use.
    idp.server.reset().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = app.models(&new_token).await;
    assert_eq!(status, StatusCode::OK, "stale keys beat none: {body}");
    let asked = idp.server.received_requests().await.unwrap_or_default();
    assert!(
        !asked.is_empty(),
        "a fetch was tried while the IdP was down"
    );
}

#[tokio::test]
async fn start_up_survives_a_down_idp_and_tokens_pass_once_it_is_back() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp {
        server: MockServer::start().await,
    };
    // Nothing mounted yet: every IdP request is a 404.
    let app = App::start(&idp.issuer(), |s| s.oidc.jwks_cooldown_secs = 1).await;
    let token = key.sign(&idp.claims("alice"));
    let (status, body) = app.models(&token).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "no keys yet: {body}"
    );
    assert_eq!(body["error"]["code"], "internal_error", "{body}");
    let (status, _) = app.models(&app.api_key).await;
    assert_eq!(status, StatusCode::OK, "API keys do not need the IdP");

    idp.serve(&[&key]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = app.models(&token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_not_trusted() {
    let key = SigningKey::es256("ec-1");
    let server = MockServer::start().await;
    let issuer = format!("{}/realms/test", server.uri());
    Mock::given(method("GET"))
        .and(path("/realms/test/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": "https://evil.example",
            "jwks_uri": format!("{}/jwks", server.uri()),
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [key.jwk]})))
        .mount(&server)
        .await;
    let app = App::start(&issuer, |_| {}).await;
    let claims = json!({"iss": issuer, "aud": AUDIENCE, "sub": "a", "exp": now() + 300});
    let (status, _) = app.models(&key.sign(&claims)).await;
    assert_ne!(status, StatusCode::OK);
    let jwks = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/jwks")
        .count();
    assert_eq!(jwks, 0, "the keys of a mismatched issuer are never fetched");
}

#[tokio::test]
async fn the_token_names_the_user_and_an_admin_role_reaches_others_images() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(&[&key]).await;
    let app = App::start(&idp.issuer(), |_| {}).await;
    let alice = key.sign(&idp.claims("alice"));
    let bob = key.sign(&idp.claims("bob"));
    let mut admin_claims = idp.claims("root");
    admin_claims["roles"] = json!(["viewer", "admin"]);
    let admin = key.sign(&admin_claims);

    let (status, body) = app.generate(&alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["images"][0]["id"].as_str().expect("an image id");
    let path = format!("/images/{id}");

    assert_eq!(app.get(&path, &alice).await.0, StatusCode::OK, "the owner");
    assert_eq!(
        app.get(&path, &bob).await.0,
        StatusCode::NOT_FOUND,
        "another user"
    );
    assert_eq!(app.get(&path, &admin).await.0, StatusCode::OK, "an admin");
    assert_eq!(
        app.get(&path, &app.api_key).await.0,
        StatusCode::NOT_FOUND,
        "an API key user is another user too"
    );
}

#[tokio::test]
async fn bad_oidc_settings_stop_the_start() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        data_dir: data.path().to_path_buf(),
        ..Settings::default()
    };
    settings.oidc.issuer = Some("https://idp.example.com".into());
    let upstreams = Upstreams::single(Arc::new(MockProvider::new()) as Arc<dyn ImageProvider>);
    let Err(err) = compose::build(&settings, upstreams, Arc::new(Metrics::new())).await else {
        panic!("an issuer without an audience must stop the start");
    };
    assert!(err.to_string().contains("oidc.audience"), "{err}");
}
