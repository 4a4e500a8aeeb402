//! The web UI's sign-in with the IdP: the authorization-code flow with PKCE (RFC 7636, S256).
//!
//! [`Flow`] holds one attempt's secrets (`state`, `nonce`, the PKCE verifier), made fresh from
//! the operating system's random source. [`SsoClient::authorization_url`] is where the browser
//! is sent; [`SsoClient::finish`] exchanges the code for tokens at the token endpoint and
//! checks the ID token: the checks of a bearer token (algorithm, the IdP's key, signature,
//! `iss`, `exp`, `nbf`) with the client id as the audience, then the `nonce` and `azp`; the
//! principal comes from the same claims as a bearer token's, and the user rows apply the same
//! way (a disabled user is refused).
//!
//! Nothing secret is logged or put in an error: not the code, not a token, not the client
//! secret (the token endpoint's refusal is reduced to its OAuth `error` code).

use std::sync::Arc;

use artgen_core::decorators::UserRowsAuthenticator;
use artgen_core::domain::Principal;
use artgen_core::ports::{Authenticator, UserStore};
use artgen_core::{Error, ErrorCode};
use async_trait::async_trait;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use reqwest::Url;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::config::ClientAuth;
use super::{OidcAuthenticator, OidcConfig, OidcError};

/// Longest OAuth `error` code kept from the IdP (they are short ASCII words).
const MAX_ERROR_CODE: usize = 64;

/// The secrets of one sign-in attempt, kept by the browser between the redirect to the IdP and
/// the way back (sealed in a cookie by the UI).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Binds the IdP's answer to this browser's attempt (CSRF on the callback).
    #[serde(rename = "s")]
    pub state: String,
    /// Binds the ID token to this attempt (replay of another sign-in's token).
    #[serde(rename = "n")]
    pub nonce: String,
    /// The PKCE code verifier: only who holds it can redeem the code.
    #[serde(rename = "v")]
    pub verifier: String,
    /// The redirect URI asked for, sent again with the code.
    #[serde(rename = "r")]
    pub redirect_uri: String,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// 256 random bits, base64url without padding (43 characters, all PKCE-unreserved).
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Flow {
    /// A new attempt returning to `redirect_uri`, with fresh `state`, `nonce` and verifier.
    pub fn new(redirect_uri: impl Into<String>) -> Self {
        Self {
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
            redirect_uri: redirect_uri.into(),
        }
    }

    /// The PKCE S256 challenge: BASE64URL(SHA256(verifier)) (RFC 7636, section 4.2).
    pub fn challenge(&self) -> String {
        pkce_challenge(&self.verifier)
    }

    /// Whether `state` is this attempt's, compared in constant time.
    pub fn state_matches(&self, state: &str) -> bool {
        bool::from(self.state.as_bytes().ct_eq(state.as_bytes()))
    }
}

/// The S256 challenge of `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Why a sign-in could not be finished.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsoError {
    /// The IdP could not be reached, or its discovery document is unusable.
    #[error("identity provider unavailable")]
    Unavailable(#[source] OidcError),
    /// The token endpoint refused the code (OAuth `error`, e.g. `invalid_grant`).
    #[error("the token endpoint refused the code: {error} (HTTP {status})")]
    CodeRefused {
        /// The OAuth error code the IdP gave (`unknown` when it gave none).
        error: String,
        /// The HTTP status.
        status: u16,
    },
    /// The token endpoint's answer holds no ID token.
    #[error("the token endpoint's answer has no id_token")]
    NoIdToken,
    /// The ID token failed a check.
    #[error("the ID token was refused: {0}")]
    InvalidIdToken(&'static str),
    /// The user is disabled in ArtGen.
    #[error("the user is disabled")]
    Disabled,
    /// The IdP's keys or the user rows could not be read.
    #[error("cannot check the sign-in")]
    Internal(#[source] Error),
}

/// The web UI's OIDC client (see the [module](self)).
pub struct SsoClient {
    tokens: Arc<OidcAuthenticator>,
    users: Arc<dyn UserStore>,
    client_id: String,
    client_secret: Option<SecretString>,
    client_auth: ClientAuth,
    scopes: String,
    display_name: String,
}

impl std::fmt::Debug for SsoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoClient")
            .field("client_id", &self.client_id)
            .field("confidential", &self.client_secret.is_some())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A principal already verified, for the user rows decorator to apply rows to.
struct Verified(Principal);

#[async_trait]
impl Authenticator for Verified {
    async fn authenticate(&self, _credential: &str) -> artgen_core::Result<Principal> {
        Ok(self.0.clone())
    }
}

/// The refusal the user rows give a disabled user here.
fn disabled() -> Error {
    Error::new(ErrorCode::Forbidden, "user disabled")
}

/// `text` percent-encoded as `application/x-www-form-urlencoded` wants it (RFC 6749,
/// section 2.3.1, for the HTTP Basic credentials).
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The OAuth `error` code of a refusal, when it is a short printable word (anything else is
/// not shown or logged: it is the IdP's text, not ours).
pub fn error_code(text: &str) -> Option<&str> {
    let usable = !text.is_empty()
        && text.len() <= MAX_ERROR_CODE
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    usable.then_some(text)
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenRefusal {
    #[serde(default)]
    error: Option<String>,
}

impl SsoClient {
    /// The client of `config`, verifying ID tokens with `tokens` (the API's verifier, so the
    /// IdP's keys are cached once) and applying the rows of `users`; `None` unless the UI's
    /// sign-in is on ([`OidcConfig::sso_enabled`]).
    pub fn new(
        config: &OidcConfig,
        tokens: Arc<OidcAuthenticator>,
        users: Arc<dyn UserStore>,
    ) -> Option<Self> {
        let client_id = config.client_id()?.to_owned();
        let display_name = config
            .display_name
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .unwrap_or("SSO")
            .to_owned();
        Some(Self {
            tokens,
            users,
            client_id,
            client_secret: config.client_secret().map(SecretString::from),
            client_auth: config.client_auth,
            scopes: config.scopes.join(" "),
            display_name,
        })
    }

    /// The IdP's name on the sign-in button.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Where to send the browser for `flow`: the IdP's `authorization_endpoint` with
    /// `response_type=code`, the client id, redirect URI, scopes, `state`, `nonce` and the
    /// S256 code challenge.
    ///
    /// # Errors
    /// [`SsoError::Unavailable`] when discovery fails.
    pub async fn authorization_url(&self, flow: &Flow) -> Result<Url, SsoError> {
        let endpoints = self
            .tokens
            .endpoints()
            .await
            .map_err(SsoError::Unavailable)?;
        let mut url = endpoints.authorization;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &flow.redirect_uri)
            .append_pair("scope", &self.scopes)
            .append_pair("state", &flow.state)
            .append_pair("nonce", &flow.nonce)
            .append_pair("code_challenge", &flow.challenge())
            .append_pair("code_challenge_method", "S256");
        Ok(url)
    }

    /// Exchanges `code` for tokens and returns the principal of the checked ID token, with the
    /// user rows applied.
    ///
    /// # Errors
    /// [`SsoError::Unavailable`] when the IdP cannot be reached, [`SsoError::CodeRefused`]
    /// when its token endpoint refuses, [`SsoError::NoIdToken`] /
    /// [`SsoError::InvalidIdToken`] for an unusable answer, [`SsoError::Disabled`] for a
    /// disabled user, [`SsoError::Internal`] when the keys or rows cannot be read.
    pub async fn finish(&self, code: &str, flow: &Flow) -> Result<Principal, SsoError> {
        let endpoints = self
            .tokens
            .endpoints()
            .await
            .map_err(SsoError::Unavailable)?;
        let id_token = self.redeem(&endpoints.token, code, flow).await?;
        let (principal, claims) = self
            .tokens
            .verify_id_token(&id_token, &self.client_id)
            .await
            .map_err(|err| match err.code() {
                ErrorCode::Unauthenticated => SsoError::InvalidIdToken("signature or claims"),
                _ => SsoError::Internal(err),
            })?;
        let nonce = claims
            .get("nonce")
            .and_then(serde_json::Value::as_str)
            .ok_or(SsoError::InvalidIdToken("no nonce"))?;
        if !bool::from(nonce.as_bytes().ct_eq(flow.nonce.as_bytes())) {
            return Err(SsoError::InvalidIdToken("nonce mismatch"));
        }
        // OIDC Core 3.1.3.7: an `azp`, where present, is this client.
        if let Some(azp) = claims.get("azp") {
            if azp.as_str() != Some(self.client_id.as_str()) {
                return Err(SsoError::InvalidIdToken("azp is another client"));
            }
        }
        let rows =
            UserRowsAuthenticator::new(Arc::new(Verified(principal)), self.users.clone(), disabled);
        rows.authenticate("").await.map_err(|err| match err.code() {
            ErrorCode::Forbidden => SsoError::Disabled,
            _ => SsoError::Internal(err),
        })
    }

    /// POSTs the code and the verifier to the token endpoint; the ID token of the answer.
    async fn redeem(&self, endpoint: &Url, code: &str, flow: &Flow) -> Result<String, SsoError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &flow.redirect_uri),
            ("code_verifier", &flow.verifier),
        ];
        let mut request = self
            .tokens
            .client()
            .post(endpoint.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        match (&self.client_secret, self.client_auth) {
            (Some(secret), ClientAuth::ClientSecretBasic) => {
                let pair = format!(
                    "{}:{}",
                    form_encode(&self.client_id),
                    form_encode(secret.expose_secret())
                );
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode(pair)),
                );
            }
            (Some(secret), ClientAuth::ClientSecretPost) => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", secret.expose_secret()));
            }
            (None, _) => form.push(("client_id", &self.client_id)),
        }
        let response = request.form(&form).send().await.map_err(|source| {
            SsoError::Unavailable(OidcError::Fetch {
                url: endpoint.to_string(),
                source: source.without_url(),
            })
        })?;
        let status = response.status();
        if !status.is_success() {
            // The refusal's `error` only: its description is the IdP's prose, possibly
            // echoing what was sent.
            let refusal: Option<TokenRefusal> =
                super::jwks::read_json(endpoint, response).await.ok();
            let error = refusal
                .and_then(|r| r.error)
                .and_then(|e| error_code(&e).map(str::to_owned))
                .unwrap_or_else(|| "unknown".to_owned());
            return Err(SsoError::CodeRefused {
                error,
                status: status.as_u16(),
            });
        }
        let answer: TokenAnswer =
            super::jwks::read_json(endpoint, response)
                .await
                .map_err(|err| match err {
                    OidcError::Document { .. } => SsoError::NoIdToken,
                    other => SsoError::Unavailable(other),
                })?;
        answer
            .id_token
            .filter(|token| !token.is_empty())
            .ok_or(SsoError::NoIdToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_is_the_one_of_rfc_7636() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn each_flow_has_fresh_long_secrets() {
        let (a, b) = (Flow::new("https://x/cb"), Flow::new("https://x/cb"));
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.verifier, b.verifier);
        for secret in [&a.state, &a.nonce, &a.verifier] {
            assert_eq!(secret.len(), 43, "256 bits");
            assert!(secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        assert!(a.state_matches(&a.state.clone()));
        assert!(!a.state_matches(&b.state));
        assert!(!a.state_matches(""));
        let debug = format!("{a:?}");
        assert!(!debug.contains(&a.verifier) && !debug.contains(&a.state));
    }

    #[test]
    fn only_short_oauth_words_are_kept_as_error_codes() {
        assert_eq!(error_code("invalid_grant"), Some("invalid_grant"));
        assert_eq!(error_code("access_denied"), Some("access_denied"));
        assert_eq!(error_code("<script>"), None);
        assert_eq!(error_code("call +1 555 now"), None);
        assert_eq!(error_code(&"a".repeat(MAX_ERROR_CODE + 1)), None);
        assert_eq!(error_code(""), None);
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encode("a b:c/é"), "a+b%3Ac%2F%C3%A9");
        assert_eq!(form_encode("artgen-ui_1.0"), "artgen-ui_1.0");
    }
}
