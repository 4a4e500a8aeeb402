//! SSO: OIDC bearer tokens as an [`Authenticator`](artgen_core::ports::Authenticator).
//!
//! - [`OidcAuthenticator`] verifies a JWT issued by the configured IdP: keys found by issuer
//!   discovery and cached ([`jwks`]), the header's `alg` in an asymmetric allow-list and
//!   matching the key, `iss`, `aud`, `exp` and `nbf` checked with a leeway ([`verify`]), the
//!   claims mapped to a principal ([`claims`]).
//! - [`BearerChain`] sends each credential by its shape: API keys (`ag_…`) to the key
//!   authenticator, JWT-shaped ones to OIDC ([`chain`]).
//! - [`SsoClient`] signs web UI users in with the IdP: authorization-code flow with PKCE, the
//!   ID token checked by the same verifier ([`browser`]).
//!
//! Configuration and per-IdP examples: `docs/oidc.md`.

pub mod browser;
pub mod chain;
pub mod claims;
pub mod config;
pub mod jwks;
pub mod verify;

pub use browser::{Flow, SsoClient, SsoError};
pub use chain::{looks_like_jwt, BearerChain};
pub use config::{ClientAuth, OidcAlgorithm, OidcConfig};
pub use jwks::Endpoints;
pub use verify::{OidcAuthenticator, INVALID_TOKEN_MESSAGE};

/// Why OIDC could not be set up, or the IdP's keys could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// A setting is unusable.
    #[error("{setting} {reason}")]
    Config {
        /// The setting, as a dotted path (`oidc.issuer`).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client for the IdP could not be built.
    #[error("cannot build the HTTP client for the identity provider")]
    Client(#[source] reqwest::Error),
    /// A request to the IdP failed (connection, timeout, body).
    #[error("identity provider request to {url} failed")]
    Fetch {
        /// The URL asked.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The IdP answered with an error status.
    #[error("identity provider answered {status} at {url}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// A document from the IdP is over the size ArtGen reads.
    #[error("identity provider document at {url} is over {limit} bytes")]
    TooLarge {
        /// The URL asked.
        url: String,
        /// The limit, bytes.
        limit: usize,
    },
    /// A document from the IdP is not what OIDC specifies.
    #[error("identity provider document at {url} is not valid: {reason}")]
    Document {
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The discovery document names another issuer than the configured one.
    #[error("the discovery document names issuer {found:?}, but oidc.issuer is {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's.
        found: String,
    },
    /// The key set holds no key ArtGen can verify signatures with.
    #[error("the key set at {url} has no usable signing key")]
    NoKeys {
        /// The key set's URL.
        url: String,
    },
    /// No keys are known yet and none may be fetched right now (the last attempt failed
    /// within the cooldown).
    #[error("the identity provider's keys are not known yet: {last_error}")]
    KeysUnavailable {
        /// The last fetch's failure.
        last_error: String,
    },
}
