//! The typed configuration of OIDC (`[oidc]` in the settings): bearer tokens on the API, and
//! the web UI's browser sign-in (authorization-code flow with PKCE) when a client id is set.

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use super::OidcError;

/// A signature algorithm a token may be signed with. Only asymmetric ones exist here: `none`
/// and the HMAC family (`HS*`) cannot be configured, so a token signed with a shared secret
/// (or with the IdP's *public* key used as one) never passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OidcAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl OidcAlgorithm {
    /// The same algorithm as the JWT library names it.
    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::EdDSA => A::EdDSA,
        }
    }
}

/// How OIDC bearer tokens are verified, and how the web UI signs users in with the IdP. Off
/// while `issuer` is unset; then every bearer credential is an API key, as before. The UI's
/// "Sign in with SSO" is on when `client_id` is set too. A client secret is a
/// [`SecretString`]: `Debug` shows none of it, serialising redacts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The IdP's issuer URL, exactly as its tokens' `iss` and its discovery document's
    /// `issuer` spell it (trailing slash included where the IdP has one). Keys are found at
    /// `{issuer}/.well-known/openid-configuration` → `jwks_uri`.
    pub issuer: Option<String>,
    /// The audience ArtGen's tokens are issued for: a token's `aud` (a string or an array)
    /// must contain it. Required with `issuer`.
    pub audience: Option<String>,
    /// The claim holding the user's stable id.
    pub user_claim: String,
    /// The claim holding the user's organisation (optional in tokens).
    pub org_claim: String,
    /// The claim holding the role: a string, or an array of strings.
    pub role_claim: String,
    /// The role value (or array member) that makes the caller an admin.
    pub admin_value: String,
    /// Clock skew allowed when checking `exp` and `nbf`, seconds.
    pub leeway_secs: u64,
    /// The algorithms a token may be signed with (asymmetric only).
    pub algorithms: Vec<OidcAlgorithm>,
    /// The IdP's keys are fetched again at most this often, seconds (a token with an unknown
    /// `kid` asks for a fetch; a flood of them costs the IdP one request per this period).
    pub jwks_cooldown_secs: u64,
    /// Keys older than this are fetched again when the next token arrives, seconds (the old
    /// ones stay in use while the IdP cannot be reached).
    pub jwks_max_age_secs: u64,
    /// Timeout of one request to the IdP, seconds.
    pub http_timeout_secs: u64,
    /// Allow an `http://` issuer that is not on a loopback address (never in production: the
    /// keys that vouch for every token would travel unprotected).
    pub allow_http: bool,
    /// The OAuth client id of ArtGen's web UI at the IdP; with `issuer`, the sign-in page
    /// offers "Sign in with SSO" (authorization-code flow with PKCE). An ID token's `aud` must
    /// contain it.
    pub client_id: Option<String>,
    /// The client's secret, for an IdP that registers the UI as a confidential client (sent to
    /// the token endpoint with HTTP Basic, or in the body with `client_secret_post`); unset
    /// for a public client, which PKCE alone protects.
    #[serde(serialize_with = "crate::settings::redacted_secret")]
    pub client_secret: Option<SecretString>,
    /// How the client secret is sent to the token endpoint.
    pub client_auth: ClientAuth,
    /// The scopes asked for at sign-in; `openid` is required.
    pub scopes: Vec<String>,
    /// The IdP's name on the sign-in button ("Sign in with {display_name}"); unset: "SSO".
    pub display_name: Option<String>,
}

/// How the web UI authenticates to the token endpoint when it has a client secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuth {
    /// `Authorization: Basic` with the id and secret (OAuth 2.0, section 2.3.1: every IdP
    /// supports it).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            user_claim: "sub".into(),
            org_claim: "org".into(),
            role_claim: "role".into(),
            admin_value: "admin".into(),
            leeway_secs: 60,
            algorithms: vec![
                OidcAlgorithm::RS256,
                OidcAlgorithm::ES256,
                OidcAlgorithm::PS256,
            ],
            jwks_cooldown_secs: 30,
            jwks_max_age_secs: 600,
            http_timeout_secs: 10,
            allow_http: false,
            client_id: None,
            client_secret: None,
            client_auth: ClientAuth::default(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            display_name: None,
        }
    }
}

/// Longest leeway accepted, seconds: more would keep expired tokens alive for long.
const MAX_LEEWAY_SECS: u64 = 600;

impl OidcConfig {
    /// A configuration for `issuer` and `audience` with the defaults otherwise.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: Some(issuer.into()),
            audience: Some(audience.into()),
            ..Self::default()
        }
    }

    /// Sets the claim names of the user, organisation and role.
    #[must_use]
    pub fn with_claims(
        mut self,
        user: impl Into<String>,
        org: impl Into<String>,
        role: impl Into<String>,
    ) -> Self {
        self.user_claim = user.into();
        self.org_claim = org.into();
        self.role_claim = role.into();
        self
    }

    /// Sets the allowed algorithms.
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: Vec<OidcAlgorithm>) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// Sets the minimum time between two key fetches, seconds.
    #[must_use]
    pub fn with_jwks_cooldown_secs(mut self, secs: u64) -> Self {
        self.jwks_cooldown_secs = secs;
        self
    }

    /// Whether OIDC tokens are accepted at all (an issuer is configured).
    pub fn enabled(&self) -> bool {
        self.issuer
            .as_deref()
            .is_some_and(|issuer| !issuer.trim().is_empty())
    }

    /// Whether the web UI offers "Sign in with SSO": an issuer and a client id are set.
    pub fn sso_enabled(&self) -> bool {
        self.enabled()
            && self
                .client_id
                .as_deref()
                .is_some_and(|id| !id.trim().is_empty())
    }

    /// The client id, trimmed, when the UI's sign-in is on.
    pub fn client_id(&self) -> Option<&str> {
        self.sso_enabled()
            .then(|| self.client_id.as_deref().map(str::trim))
            .flatten()
    }

    /// The client secret, when one is set and not blank.
    pub fn client_secret(&self) -> Option<&str> {
        self.client_secret
            .as_ref()
            .map(|s| s.expose_secret().trim())
            .filter(|s| !s.is_empty())
    }

    /// Checks the configuration and returns the issuer's URL.
    ///
    /// # Errors
    /// [`OidcError::Config`] naming the setting at fault: an issuer that is not an absolute
    /// `https` URL (`http` only on loopback or with `allow_http`), a missing audience, an empty
    /// claim name or algorithm list, a leeway over ten minutes; with a client id, scopes
    /// without `openid` or with characters a scope cannot have.
    pub fn validate(&self) -> Result<reqwest::Url, OidcError> {
        let bad = |setting: &'static str, reason: &str| OidcError::Config {
            setting,
            reason: reason.to_owned(),
        };
        let issuer = self
            .issuer
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("oidc.issuer", "is not set"))?;
        let url = reqwest::Url::parse(issuer)
            .map_err(|err| bad("oidc.issuer", &format!("is not a URL: {err}")))?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback || self.allow_http => {}
            _ => {
                return Err(bad(
                    "oidc.issuer",
                    "must be an https:// URL (http:// only on a loopback address or with oidc.allow_http)",
                ))
            }
        }
        if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
            return Err(bad(
                "oidc.issuer",
                "must not have a query or fragment (OIDC Discovery, section 2)",
            ));
        }
        if self
            .audience
            .as_deref()
            .is_none_or(|aud| aud.trim().is_empty())
        {
            return Err(bad(
                "oidc.audience",
                "must be set with oidc.issuer (a token for another application must not pass)",
            ));
        }
        for (setting, value) in [
            ("oidc.user_claim", &self.user_claim),
            ("oidc.org_claim", &self.org_claim),
            ("oidc.role_claim", &self.role_claim),
            ("oidc.admin_value", &self.admin_value),
        ] {
            if value.trim().is_empty() {
                return Err(bad(setting, "must not be empty"));
            }
        }
        if self.algorithms.is_empty() {
            return Err(bad("oidc.algorithms", "must name at least one algorithm"));
        }
        if self.leeway_secs > MAX_LEEWAY_SECS {
            return Err(bad("oidc.leeway_secs", "must be at most 600"));
        }
        if self.sso_enabled() {
            if !self.scopes.iter().any(|scope| scope == "openid") {
                return Err(bad(
                    "oidc.scopes",
                    "must contain openid (the UI's sign-in needs an ID token)",
                ));
            }
            // RFC 6749, section 3.3: a scope is printable ASCII without space, quote or backslash.
            let printable =
                |b: u8| b == b'!' || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
            if self
                .scopes
                .iter()
                .any(|scope| scope.is_empty() || !scope.bytes().all(printable))
            {
                return Err(bad(
                    "oidc.scopes",
                    "must be non-empty words of printable ASCII without spaces, quotes or backslashes",
                ));
            }
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting_of(config: &OidcConfig) -> &'static str {
        match config.validate() {
            Err(OidcError::Config { setting, .. }) => setting,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn a_https_issuer_with_an_audience_is_valid() {
        let config = OidcConfig::new("https://idp.example.com/realms/artgen", "artgen");
        let url = config.validate().expect("valid");
        assert_eq!(url.host_str(), Some("idp.example.com"));
        assert!(config.enabled());
        assert!(!OidcConfig::default().enabled());
    }

    #[test]
    fn plain_http_is_refused_unless_on_loopback_or_allowed() {
        assert_eq!(
            setting_of(&OidcConfig::new("http://idp.example.com", "a")),
            "oidc.issuer"
        );
        OidcConfig::new("http://127.0.0.1:8080", "a")
            .validate()
            .expect("loopback is fine");
        OidcConfig::new("http://localhost:8080/realms/x", "a")
            .validate()
            .expect("localhost is fine");
        let allowed = OidcConfig {
            allow_http: true,
            ..OidcConfig::new("http://keycloak:8080/realms/x", "a")
        };
        allowed.validate().expect("explicitly allowed");
        assert_eq!(
            setting_of(&OidcConfig::new("ftp://idp.example.com", "a")),
            "oidc.issuer"
        );
    }

    #[test]
    fn each_bad_setting_is_named() {
        assert_eq!(setting_of(&OidcConfig::default()), "oidc.issuer");
        assert_eq!(
            setting_of(&OidcConfig::new("not a url", "a")),
            "oidc.issuer"
        );
        assert_eq!(
            setting_of(&OidcConfig::new("https://idp.example.com", " ")),
            "oidc.audience"
        );
        let base = OidcConfig::new("https://idp.example.com", "a");
        assert_eq!(
            setting_of(&base.clone().with_claims("", "org", "role")),
            "oidc.user_claim"
        );
        assert_eq!(
            setting_of(&base.clone().with_algorithms(Vec::new())),
            "oidc.algorithms"
        );
        let leeway = OidcConfig {
            leeway_secs: 3600,
            ..base
        };
        assert_eq!(setting_of(&leeway), "oidc.leeway_secs");
    }

    #[test]
    fn sso_needs_an_issuer_and_a_client_id_and_the_openid_scope() {
        let base = OidcConfig::new("https://idp.example.com", "a");
        assert!(!base.sso_enabled());
        let sso = OidcConfig {
            client_id: Some("artgen-ui".into()),
            ..base.clone()
        };
        assert!(sso.sso_enabled());
        assert_eq!(sso.client_id(), Some("artgen-ui"));
        sso.validate().expect("valid");
        let blank = OidcConfig {
            client_id: Some("  ".into()),
            ..base.clone()
        };
        assert!(!blank.sso_enabled());
        let no_issuer = OidcConfig {
            client_id: Some("artgen-ui".into()),
            ..OidcConfig::default()
        };
        assert!(!no_issuer.sso_enabled());
        let no_openid = OidcConfig {
            scopes: vec!["profile".into()],
            ..sso.clone()
        };
        assert_eq!(setting_of(&no_openid), "oidc.scopes");
        let spaced = OidcConfig {
            scopes: vec!["openid".into(), "a b".into()],
            ..sso
        };
        assert_eq!(setting_of(&spaced), "oidc.scopes");
    }

    #[test]
    fn the_client_secret_is_never_shown() {
        let config = OidcConfig {
            client_id: Some("artgen-ui".into()),
            client_secret: Some("s3cr3t-value".into()),
            ..OidcConfig::new("https://idp.example.com", "a")
        };
        assert!(!format!("{config:?}").contains("s3cr3t-value"));
        let json = serde_json::to_string(&config).expect("serialises");
        assert!(!json.contains("s3cr3t-value"), "{json}");
        assert!(json.contains("[redacted]"), "{json}");
        assert_eq!(config.client_secret(), Some("s3cr3t-value"));
        let parsed: OidcConfig =
            toml::from_str("client_secret = \"x\"\nclient_auth = \"client_secret_post\"")
                .expect("parses");
        assert_eq!(parsed.client_auth, ClientAuth::ClientSecretPost);
        assert_eq!(parsed.client_secret(), Some("x"));
    }

    #[test]
    fn none_and_hmac_algorithms_cannot_be_configured() {
        for name in ["none", "HS256", "HS384", "HS512"] {
            let text = format!("algorithms = [\"{name}\"]");
            assert!(
                toml::from_str::<OidcConfig>(&text).is_err(),
                "{name} must not parse"
            );
        }
        let config: OidcConfig =
            toml::from_str("algorithms = [\"ES384\", \"EdDSA\"]").expect("asymmetric parse");
        assert_eq!(
            config.algorithms,
            vec![OidcAlgorithm::ES384, OidcAlgorithm::EdDSA]
        );
    }
}
