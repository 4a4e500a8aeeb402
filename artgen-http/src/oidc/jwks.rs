//! The IdP's signing keys: issuer discovery, the JWKS fetch, a cache, and a refetch on an
//! unknown `kid` that happens at most once per cooldown.
//!
//! Nothing is fetched while the server starts unless asked ([`KeySource::warm_up`] in the
//! background); the first token fetches the keys if they are still unknown, so an IdP that is
//! down at start delays tokens, not the server. Concurrent requests that need a fetch share
//! one. A failed fetch keeps the keys already known.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use serde::Deserialize;
use tokio::time::Instant;

use super::OidcError;

/// Largest discovery document or key set read, bytes.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// What a key is, as far as choosing an algorithm goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// One verification key of the IdP.
pub struct VerifyingKey {
    key: DecodingKey,
    kind: KeyType,
    alg: Option<Algorithm>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Reads one JWK; `None` for anything that is not a public signature key ArtGen can use
    /// (symmetric `oct` keys above all, encryption keys, unknown types or curves).
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            return None;
        }
        let kind = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyType::Rsa,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => KeyType::P256,
                EllipticCurve::P384 => KeyType::P384,
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                KeyType::Ed25519
            }
            _ => return None,
        };
        let alg = match jwk.common.key_algorithm {
            Some(alg) => Some(Algorithm::try_from(alg).ok()?),
            None => None,
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self { key, kind, alg })
    }

    /// Whether a token whose header says `alg` may be checked with this key: the key's type
    /// fits the algorithm, and the key's own `alg`, where it has one, is the same.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        let fits = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => self.kind == KeyType::Rsa,
            Algorithm::ES256 => self.kind == KeyType::P256,
            Algorithm::ES384 => self.kind == KeyType::P384,
            Algorithm::EdDSA => self.kind == KeyType::Ed25519,
            _ => false,
        };
        fits && self.alg.is_none_or(|own| own == alg)
    }

    /// The key for the JWT library.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

/// Why a key could not be given.
#[derive(Debug)]
pub enum KeyError {
    /// The keys are known and none has this `kid` (after a refetch, where one was allowed).
    Unknown,
    /// No keys are known: the IdP could not be reached or answered nonsense.
    Unavailable(OidcError),
}

#[derive(Default)]
struct State {
    /// The last key set fetched, by `kid`.
    keys: Option<Arc<HashMap<String, Arc<VerifyingKey>>>>,
    /// When `keys` were fetched.
    fetched_at: Option<Instant>,
    /// When a fetch was last started, whether it worked or not.
    attempted_at: Option<Instant>,
    /// The discovery document's `jwks_uri`, once read.
    jwks_uri: Option<Url>,
    /// Why the last fetch failed, if it did.
    last_error: Option<String>,
    /// The endpoints of the browser sign-in, from the last discovery that named them, and
    /// when that discovery was.
    endpoints: Option<(Endpoints, Instant)>,
}

/// The endpoints of the authorization-code flow, from the discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Where the browser is sent to sign in (`authorization_endpoint`).
    pub authorization: Url,
    /// Where the code is exchanged for tokens (`token_endpoint`).
    pub token: Url,
}

/// Where the keys come from and how often they may be fetched.
pub struct KeySource {
    issuer: String,
    discovery_url: Url,
    client: reqwest::Client,
    cooldown: Duration,
    max_age: Duration,
    state: Mutex<State>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySource")
            .field("issuer", &self.issuer)
            .field("cooldown", &self.cooldown)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
}

/// What one discovery gives: the key set's URL, and the sign-in endpoints where the document
/// names both (an IdP that only issues tokens to other clients may name neither).
struct Discovered {
    jwks_uri: Url,
    endpoints: Option<Endpoints>,
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

impl KeySource {
    /// Keys of `issuer` (as configured, already validated), fetched with `client`, at most once
    /// per `cooldown`, again when older than `max_age`.
    ///
    /// # Errors
    /// [`OidcError::Config`] when the discovery URL cannot be formed from the issuer.
    pub fn new(
        issuer: &str,
        client: reqwest::Client,
        cooldown: Duration,
        max_age: Duration,
    ) -> Result<Self, OidcError> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery_url = Url::parse(&discovery).map_err(|err| OidcError::Config {
            setting: "oidc.issuer",
            reason: format!("gives no discovery URL: {err}"),
        })?;
        Ok(Self {
            issuer: issuer.to_owned(),
            discovery_url,
            client,
            cooldown,
            max_age,
            state: Mutex::default(),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key named `kid`. Fetches the keys when none are known, when `kid` is unknown or
    /// the keys are older than the maximum age, but never twice within the cooldown.
    ///
    /// # Errors
    /// [`KeyError::Unknown`] when the known keys have no such `kid`;
    /// [`KeyError::Unavailable`] when no keys are known.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, KeyError> {
        let attempt = {
            let state = self.state();
            let now = Instant::now();
            let fresh = state
                .fetched_at
                .is_some_and(|at| now.duration_since(at) < self.max_age);
            match state.keys.as_ref().and_then(|keys| keys.get(kid)) {
                Some(key) if fresh || !self.may_fetch(&state) => return Ok(key.clone()),
                _ => state.attempted_at,
            }
        };
        {
            // Waits for a fetch in flight (the one at start, another request's): its result
            // may hold the key.
            let _one_at_a_time = self.fetching.lock().await;
            let fetch = {
                let state = self.state();
                state.attempted_at == attempt && self.may_fetch(&state)
            };
            if fetch {
                if let Err(err) = self.refresh_locked().await {
                    tracing::warn!(issuer = %self.issuer, error = %error_chain(&err), "cannot fetch the identity provider's keys");
                }
            }
        }
        // A failed fetch left the old keys in place: a stale key still serves while the IdP
        // is unreachable, but a key the IdP dropped is gone once a fetch succeeds.
        let state = self.state();
        let key = state.keys.as_ref().and_then(|keys| keys.get(kid).cloned());
        key.ok_or_else(|| self.missing(&state))
    }

    /// Whether the cooldown since the last attempt is over.
    fn may_fetch(&self, state: &State) -> bool {
        state
            .attempted_at
            .is_none_or(|at| Instant::now().duration_since(at) >= self.cooldown)
    }

    fn missing(&self, state: &State) -> KeyError {
        if state.keys.is_some() {
            KeyError::Unknown
        } else {
            KeyError::Unavailable(OidcError::KeysUnavailable {
                last_error: state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no fetch yet".to_owned()),
            })
        }
    }

    /// Fetches the keys now (discovery first, while its `jwks_uri` is unknown), counting as
    /// an attempt for the cooldown. On failure the keys already known stay.
    ///
    /// # Errors
    /// When discovery or the key set fails; the reason is also kept for
    /// [`KeyError::Unavailable`].
    pub async fn refresh(&self) -> Result<usize, OidcError> {
        let _one_at_a_time = self.fetching.lock().await;
        self.refresh_locked().await
    }

    /// Fetches the keys unless a fetch was already tried (by a token that came first).
    ///
    /// # Errors
    /// As [`KeySource::refresh`].
    pub async fn warm_up(&self) -> Result<(), OidcError> {
        let _one_at_a_time = self.fetching.lock().await;
        if self.state().attempted_at.is_none() {
            self.refresh_locked().await?;
        }
        Ok(())
    }

    /// [`KeySource::refresh`], with `fetching` held by the caller.
    async fn refresh_locked(&self) -> Result<usize, OidcError> {
        let known_uri = {
            let mut state = self.state();
            state.attempted_at = Some(Instant::now());
            state.jwks_uri.clone()
        };
        let result = self.fetch(known_uri).await;
        let mut state = self.state();
        match result {
            Ok((uri, keys)) => {
                let count = keys.len();
                tracing::info!(issuer = %self.issuer, keys = count, "fetched the identity provider's keys");
                state.keys = Some(Arc::new(keys));
                state.fetched_at = Some(Instant::now());
                state.jwks_uri = Some(uri);
                state.last_error = None;
                Ok(count)
            }
            Err(err) => {
                // Discover again next time: the IdP may have moved its keys.
                state.jwks_uri = None;
                state.last_error = Some(error_chain(&err));
                Err(err)
            }
        }
    }

    async fn fetch(
        &self,
        known_uri: Option<Url>,
    ) -> Result<(Url, HashMap<String, Arc<VerifyingKey>>), OidcError> {
        let uri = match known_uri {
            Some(uri) => uri,
            None => self.discover().await?.jwks_uri,
        };
        let set: RawKeySet = self.get_json(&uri).await?;
        let keys: HashMap<_, _> = set
            .keys
            .into_iter()
            .filter_map(|value| {
                let jwk: Jwk = serde_json::from_value(value).ok()?;
                let kid = jwk.common.key_id.clone().filter(|kid| !kid.is_empty())?;
                Some((kid, Arc::new(VerifyingKey::from_jwk(&jwk)?)))
            })
            .collect();
        if keys.is_empty() {
            return Err(OidcError::NoKeys {
                url: uri.to_string(),
            });
        }
        Ok((uri, keys))
    }

    /// The endpoints of the browser sign-in: those of the last discovery while younger than
    /// the keys' maximum age, else from a new discovery (which waits for a key fetch in
    /// flight, and does not count against the keys' cooldown: the sign-in is rare and a user
    /// is waiting).
    ///
    /// # Errors
    /// When discovery fails, or the document names no `authorization_endpoint` or
    /// `token_endpoint`.
    pub async fn endpoints(&self) -> Result<Endpoints, OidcError> {
        if let Some(endpoints) = self.fresh_endpoints() {
            return Ok(endpoints);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(endpoints) = self.fresh_endpoints() {
            return Ok(endpoints);
        }
        self.discover()
            .await?
            .endpoints
            .ok_or_else(|| OidcError::Document {
                url: self.discovery_url.to_string(),
                reason: "names no authorization_endpoint and token_endpoint (needed by the web UI's sign-in)".to_owned(),
            })
    }

    fn fresh_endpoints(&self) -> Option<Endpoints> {
        let state = self.state();
        let (endpoints, at) = state.endpoints.as_ref()?;
        (Instant::now().duration_since(*at) < self.max_age).then(|| endpoints.clone())
    }

    /// Reads the discovery document; keeps its sign-in endpoints, when it names them.
    async fn discover(&self) -> Result<Discovered, OidcError> {
        let url = &self.discovery_url;
        let document: Discovery = self.get_json(url).await?;
        if document.issuer != self.issuer {
            return Err(OidcError::IssuerMismatch {
                expected: self.issuer.clone(),
                found: document.issuer,
            });
        }
        let invalid = |reason: String| OidcError::Document {
            url: url.to_string(),
            reason,
        };
        let jwks = Url::parse(&document.jwks_uri)
            .map_err(|err| invalid(format!("jwks_uri is not a URL: {err}")))?;
        // Keys (and codes, and tokens) over plain HTTP only where the issuer itself was
        // allowed to be plain HTTP.
        let secure = |endpoint: &Url| {
            endpoint.scheme() == "https" || (endpoint.scheme() == "http" && url.scheme() == "http")
        };
        if !secure(&jwks) {
            return Err(invalid("jwks_uri must be an https:// URL".to_owned()));
        }
        let endpoint = |name: &str, value: Option<String>| -> Result<Option<Url>, OidcError> {
            let Some(value) = value else {
                return Ok(None);
            };
            let parsed =
                Url::parse(&value).map_err(|err| invalid(format!("{name} is not a URL: {err}")))?;
            if !secure(&parsed) || parsed.fragment().is_some() {
                return Err(invalid(format!(
                    "{name} must be an https:// URL without a fragment"
                )));
            }
            Ok(Some(parsed))
        };
        let authorization = endpoint("authorization_endpoint", document.authorization_endpoint)?;
        let token = endpoint("token_endpoint", document.token_endpoint)?;
        let endpoints = match (authorization, token) {
            (Some(authorization), Some(token)) => Some(Endpoints {
                authorization,
                token,
            }),
            _ => None,
        };
        if let Some(endpoints) = &endpoints {
            self.state().endpoints = Some((endpoints.clone(), Instant::now()));
        }
        Ok(Discovered {
            jwks_uri: jwks,
            endpoints,
        })
    }

    /// The HTTP client requests to the IdP go through.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, OidcError> {
        let fetch_err = |source| OidcError::Fetch {
            url: url.to_string(),
            source,
        };
        let response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(fetch_err)?;
        let status = response.status();
        if !status.is_success() {
            return Err(OidcError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        read_json(url, response).await
    }
}

/// A JSON answer of the IdP, at most [`MAX_DOCUMENT_BYTES`] long, whatever its status.
///
/// # Errors
/// [`OidcError::Fetch`] when the body breaks off, [`OidcError::TooLarge`],
/// [`OidcError::Document`] when it is not the JSON expected (the message names the serde
/// error, never the body).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    url: &Url,
    mut response: reqwest::Response,
) -> Result<T, OidcError> {
    let fetch_err = |source| OidcError::Fetch {
        url: url.to_string(),
        source,
    };
    let too_large = || OidcError::TooLarge {
        url: url.to_string(),
        limit: MAX_DOCUMENT_BYTES,
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fetch_err)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|err| OidcError::Document {
        url: url.to_string(),
        reason: err.to_string(),
    })
}

/// An error and its causes on one line, for logs.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(json: serde_json::Value) -> Jwk {
        serde_json::from_value(json).expect("a JWK")
    }

    const N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    #[test]
    fn symmetric_and_encryption_keys_are_never_used() {
        let oct = jwk(serde_json::json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0"}));
        assert!(VerifyingKey::from_jwk(&oct).is_none());
        let enc =
            jwk(serde_json::json!({"kty": "RSA", "kid": "e", "use": "enc", "n": N, "e": "AQAB"}));
        assert!(VerifyingKey::from_jwk(&enc).is_none());
        let oaep = jwk(
            serde_json::json!({"kty": "RSA", "kid": "e", "alg": "RSA-OAEP", "n": N, "e": "AQAB"}),
        );
        assert!(VerifyingKey::from_jwk(&oaep).is_none());
    }

    #[test]
    fn an_rsa_key_accepts_rsa_algorithms_only() {
        let rsa = VerifyingKey::from_jwk(&jwk(
            serde_json::json!({"kty": "RSA", "kid": "r", "use": "sig", "n": N, "e": "AQAB"}),
        ))
        .expect("usable");
        assert!(rsa.accepts(Algorithm::RS256));
        assert!(rsa.accepts(Algorithm::PS256));
        assert!(!rsa.accepts(Algorithm::ES256));
        assert!(!rsa.accepts(Algorithm::HS256), "the classic confusion");
    }

    #[test]
    fn a_key_with_its_own_alg_accepts_only_that_one() {
        let rsa = VerifyingKey::from_jwk(&jwk(
            serde_json::json!({"kty": "RSA", "kid": "r", "alg": "PS256", "n": N, "e": "AQAB"}),
        ))
        .expect("usable");
        assert!(rsa.accepts(Algorithm::PS256));
        assert!(!rsa.accepts(Algorithm::RS256));
    }

    #[test]
    fn the_discovery_url_is_under_the_issuer_with_or_without_a_slash() {
        for issuer in [
            "https://idp.example.com/tenant",
            "https://idp.example.com/tenant/",
        ] {
            let source = KeySource::new(
                issuer,
                reqwest::Client::new(),
                Duration::from_secs(30),
                Duration::from_secs(600),
            )
            .expect("valid");
            assert_eq!(
                source.discovery_url.as_str(),
                "https://idp.example.com/tenant/.well-known/openid-configuration"
            );
        }
    }
}
