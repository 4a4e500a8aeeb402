//! Verifying one OIDC token: shape, header, key, signature, registered claims, principal.

use std::sync::Arc;
use std::time::Duration;

use artgen_core::domain::Principal;
use artgen_core::ports::Authenticator;
use artgen_core::{Error, ErrorCode, Result};
use async_trait::async_trait;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::claims::{self, ClaimNames};
use super::jwks::{Endpoints, KeyError, KeySource};
use super::{looks_like_jwt, OidcConfig, OidcError};

/// The message of every refused token, whatever the reason (malformed, `alg` not allowed,
/// unknown `kid`, bad signature, expired, not yet valid, wrong issuer or audience, no user),
/// so callers cannot tell the cases apart.
pub const INVALID_TOKEN_MESSAGE: &str = "invalid bearer token";

/// Longest `kid` looked up, bytes (an attacker's kid is never kept, but need not be long).
const MAX_KID_BYTES: usize = 256;

/// The error for every refused token.
fn refused() -> Error {
    Error::new(ErrorCode::Unauthenticated, INVALID_TOKEN_MESSAGE)
}

/// Verifies JWTs issued by one OIDC provider (see the [module](super) and `docs/oidc.md`).
pub struct OidcAuthenticator {
    keys: Arc<KeySource>,
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway_secs: u64,
    claims: ClaimNames,
}

impl std::fmt::Debug for OidcAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcAuthenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl OidcAuthenticator {
    /// An authenticator for `config`, with its own HTTP client for the IdP. Fetches nothing
    /// yet (see [`OidcAuthenticator::spawn_warm_up`]).
    ///
    /// # Errors
    /// [`OidcError::Config`] for an unusable configuration, [`OidcError::Client`] when the
    /// HTTP client cannot be built.
    pub fn new(config: &OidcConfig) -> std::result::Result<Self, OidcError> {
        let timeout = Duration::from_secs(config.http_timeout_secs.max(1));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("artgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(OidcError::Client)?;
        Self::with_client(config, client)
    }

    /// An authenticator for `config` fetching with `client`.
    ///
    /// # Errors
    /// [`OidcError::Config`] for an unusable configuration.
    pub fn with_client(
        config: &OidcConfig,
        client: reqwest::Client,
    ) -> std::result::Result<Self, OidcError> {
        config.validate()?;
        let issuer = config
            .issuer
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        let keys = KeySource::new(
            &issuer,
            client,
            Duration::from_secs(config.jwks_cooldown_secs),
            Duration::from_secs(config.jwks_max_age_secs),
        )?;
        let mut algorithms: Vec<Algorithm> =
            config.algorithms.iter().map(|alg| alg.to_jwt()).collect();
        algorithms.dedup();
        Ok(Self {
            keys: Arc::new(keys),
            issuer,
            audience: config
                .audience
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            algorithms,
            leeway_secs: config.leeway_secs,
            claims: ClaimNames::from(config),
        })
    }

    /// Fetches the IdP's keys in the background, so the first token need not wait; a failure
    /// is logged and the first token tries again (after the cooldown).
    pub fn spawn_warm_up(&self) {
        let keys = self.keys.clone();
        tokio::spawn(async move {
            // A failed fetch is logged nowhere else; say that start-up goes on without keys.
            if let Err(err) = keys.warm_up().await {
                tracing::warn!(error = %super::jwks::error_chain(&err), "identity provider unreachable at start; tokens wait for its keys");
            }
        });
    }

    /// Fetches the IdP's keys now.
    ///
    /// # Errors
    /// When discovery or the key set fails.
    pub async fn refresh_keys(&self) -> std::result::Result<usize, OidcError> {
        self.keys.refresh().await
    }

    /// The endpoints of the browser sign-in, from the IdP's discovery document.
    ///
    /// # Errors
    /// When discovery fails or the document names no such endpoints.
    pub async fn endpoints(&self) -> std::result::Result<Endpoints, OidcError> {
        self.keys.endpoints().await
    }

    /// The HTTP client of requests to the IdP (timeouts of `oidc.http_timeout_secs`).
    pub(crate) fn client(&self) -> &reqwest::Client {
        self.keys.client()
    }

    /// Verifies an ID token of the browser sign-in like a bearer token (allowed algorithm,
    /// the IdP's key, signature, `iss`, `exp`, `nbf`), with `client_id` as the audience
    /// instead of `oidc.audience` (OIDC Core, section 3.1.3.7). Returns the principal and
    /// the claims, for the caller's checks of `nonce` and `azp`.
    ///
    /// # Errors
    /// As [`Authenticator::authenticate`]: `unauthenticated` for every refused token,
    /// `internal_error` while the IdP's keys cannot be had.
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<(Principal, Map<String, Value>)> {
        self.verify(token, client_id, "ID token refused").await
    }

    fn validation(&self, alg: Algorithm, audience: &str) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation
    }

    /// The checks of every token, for `audience`; `what` names the refusal in the debug log.
    async fn verify(
        &self,
        credential: &str,
        audience: &str,
        what: &'static str,
    ) -> Result<(Principal, Map<String, Value>)> {
        let refuse = |reason: &str| {
            tracing::debug!(reason, "{what}");
            refused()
        };
        if !looks_like_jwt(credential) {
            return Err(refuse("not a JWT"));
        }
        // `alg: none` and unknown algorithms already fail here: no such `Algorithm`.
        let header =
            jsonwebtoken::decode_header(credential).map_err(|_| refuse("unreadable header"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(refuse("algorithm not allowed"));
        }
        let kid = header
            .kid
            .filter(|kid| !kid.is_empty() && kid.len() <= MAX_KID_BYTES)
            .ok_or_else(|| refuse("no usable kid"))?;
        let key = match self.keys.key(&kid).await {
            Ok(key) => key,
            Err(KeyError::Unknown) => return Err(refuse("unknown kid")),
            Err(KeyError::Unavailable(err)) => {
                return Err(Error::new(
                    ErrorCode::Internal,
                    "the identity provider's keys are not available",
                )
                .with_source(err))
            }
        };
        if !key.accepts(header.alg) {
            return Err(refuse("algorithm does not fit the key"));
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(
            credential,
            key.decoding_key(),
            &self.validation(header.alg, audience),
        )
        .map_err(|err| refuse(&format!("{:?}", err.kind())))?;
        let principal = claims::principal(&data.claims, &self.claims, &kid)
            .ok_or_else(|| refuse("no user claim"))?;
        Ok((principal, data.claims))
    }
}

#[async_trait]
impl Authenticator for OidcAuthenticator {
    async fn authenticate(&self, credential: &str) -> Result<Principal> {
        self.verify(credential, &self.audience, "bearer token refused")
            .await
            .map(|(principal, _)| principal)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use serde_json::json;

    use super::*;

    fn b64(value: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// An authenticator whose IdP cannot be reached: a key lookup would answer
    /// `internal_error`, so `invalid_api_key` proves the token was refused before any.
    fn unreachable() -> OidcAuthenticator {
        OidcAuthenticator::new(&OidcConfig::new("http://127.0.0.1:9/realms/none", "artgen"))
            .expect("valid configuration")
    }

    async fn code_of(auth: &OidcAuthenticator, token: &str) -> ErrorCode {
        auth.authenticate(token).await.expect_err("refused").code()
    }

    #[tokio::test]
    async fn disallowed_algorithms_are_refused_before_any_key_lookup() {
        let auth = unreachable();
        let claims = b64(&json!({"sub": "a", "exp": 4_000_000_000_u64}));
        for alg in ["none", "HS256", "HS512", "ES384", "RS512"] {
            let header = b64(&json!({"alg": alg, "kid": "k1"}));
            let token = format!("{header}.{claims}.c2ln");
            assert_eq!(
                code_of(&auth, &token).await,
                ErrorCode::Unauthenticated,
                "{alg}"
            );
        }
        let unsigned = format!("{}.{claims}.", b64(&json!({"alg": "none"})));
        assert_eq!(code_of(&auth, &unsigned).await, ErrorCode::Unauthenticated);
    }

    #[tokio::test]
    async fn malformed_tokens_and_missing_kids_are_refused_before_any_key_lookup() {
        let auth = unreachable();
        let claims = b64(&json!({"sub": "a"}));
        let no_kid = format!("{}.{claims}.c2ln", b64(&json!({"alg": "RS256"})));
        let long_kid = format!(
            "{}.{claims}.c2ln",
            b64(&json!({"alg": "RS256", "kid": "k".repeat(MAX_KID_BYTES + 1)}))
        );
        for token in [
            "not-a-jwt",
            "a.b.c",
            "....",
            no_kid.as_str(),
            long_kid.as_str(),
        ] {
            let err = auth.authenticate(token).await.expect_err("refused");
            assert_eq!(err.code(), ErrorCode::Unauthenticated, "{token}");
            assert_eq!(err.message(), INVALID_TOKEN_MESSAGE, "{token}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_idp_is_an_internal_error_not_a_refusal() {
        let auth = unreachable();
        let header = b64(&json!({"alg": "RS256", "kid": "k1"}));
        let token = format!("{header}.{}.c2ln", b64(&json!({"sub": "a"})));
        assert_eq!(code_of(&auth, &token).await, ErrorCode::Internal);
    }
}
