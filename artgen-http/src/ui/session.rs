//! Browser sessions: a signed cookie naming who signed in, never their API key.
//!
//! The cookie `artgen_session` holds `<payload>.<signature>`: the payload is base64url JSON
//! (user, role, org, the key's public id, expiry, a random nonce), the signature an HMAC-SHA256
//! of it under the server's signing secret (the one image links use, shared by replicas). A
//! session expires after `ui.session_ttl_secs`; signing out clears the cookie. The cookie is
//! `HttpOnly` and `SameSite=Strict`, `Secure` when the public URL (or the request, through
//! `X-Forwarded-Proto`) is HTTPS.
//!
//! Forms carry a CSRF token: an HMAC of the session's nonce, so it is bound to this session
//! and worthless without the cookie; state-changing posts without a matching token are
//! refused (on top of `SameSite=Strict`, which already keeps other sites' posts cookie-less).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use artgen_core::domain::{BudgetLimits, Principal, PrincipalLimits, Role, UserLimits};

/// The session cookie's name.
pub const COOKIE: &str = "artgen_session";

/// What a session cookie says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user.
    #[serde(rename = "u")]
    pub user: String,
    /// Their role.
    #[serde(rename = "r")]
    pub role: Role,
    /// Their organisation.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The public id of the credential they signed in with.
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// Unix seconds after which the session is over.
    #[serde(rename = "e")]
    pub expires: u64,
    /// Random, per session: what the CSRF token is made from.
    #[serde(rename = "n")]
    pub nonce: String,
    /// The user's own rate limit and budget, read from their row on every request (never
    /// kept in the cookie, so an admin's change applies to the user's next request, as it
    /// does for their API keys).
    #[serde(skip)]
    pub limits: PrincipalLimits,
    /// The organisation's own budget, read from its row on every request like `limits`.
    #[serde(skip)]
    pub org_budget: BudgetLimits,
}

impl Session {
    /// A session for `principal` until `expires`.
    pub fn new(principal: &Principal, expires: u64) -> Self {
        let nonce: [u8; 16] = rand::random();
        Self {
            user: principal.user.clone(),
            role: principal.role,
            org: principal.org.clone(),
            credential_id: principal.credential_id.clone(),
            expires,
            nonce: hex::encode(nonce),
            limits: principal.limits,
            org_budget: principal.org_budget,
        }
    }

    /// The session acting under the limits of the user's row.
    #[must_use]
    pub fn with_limits(mut self, row: &UserLimits) -> Self {
        let mut limits = PrincipalLimits::default().with_budget(BudgetLimits {
            usd: row.budget_usd_per_month,
            tokens: row.budget_tokens_per_month,
        });
        limits.rate_per_minute = row.rate_limit_per_minute;
        limits.rate_burst = row.rate_limit_burst;
        self.limits = limits;
        self
    }

    /// The session acting under the budget of its organisation's row.
    #[must_use]
    pub fn with_org_limits(mut self, row: &UserLimits) -> Self {
        self.org_budget = BudgetLimits {
            usd: row.budget_usd_per_month,
            tokens: row.budget_tokens_per_month,
        };
        self
    }

    /// The principal the session acts as.
    pub fn principal(&self) -> Principal {
        let mut principal = Principal::new(self.user.clone(), self.role);
        if let Some(org) = &self.org {
            principal = principal.with_org(org.clone());
        }
        if let Some(id) = &self.credential_id {
            principal = principal.with_credential_id(id.clone());
        }
        principal
            .with_limits(self.limits)
            .with_org_budget(self.org_budget)
    }
}

/// Seals and opens session cookies and CSRF tokens with the server's secret.
#[derive(Clone)]
pub struct SessionKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

impl SessionKey {
    /// A key derived from the server's link-signing secret (shared by replicas), so that a
    /// cookie can never be passed off as an image link signature or the other way round.
    pub fn from_signer(signer: &crate::signing::UrlSigner) -> Self {
        Self::derive(&signer.subkey(b"artgen session key v1"))
    }

    fn derive(secret: &[u8]) -> Self {
        Self {
            key: mac(secret, &[b"artgen session key v1"]).to_vec(),
        }
    }

    /// The cookie value of `session`.
    pub fn seal(&self, session: &Session) -> String {
        self.seal_as(b"cookie\n", session)
    }

    /// The session a cookie value holds, when its signature is ours and it has not expired at
    /// `now` (Unix seconds).
    pub fn open(&self, value: &str, now: u64) -> Option<Session> {
        let session: Session = self.open_as(b"cookie\n", value)?;
        (session.expires > now).then_some(session)
    }

    /// `value` as `<payload>.<signature>`, signed for `purpose` (a cookie sealed for one
    /// purpose never opens as another: the purpose is part of what is signed).
    pub(crate) fn seal_as<T: Serialize>(&self, purpose: &[u8], value: &T) -> String {
        let json = serde_json::to_vec(value).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let sig = hex::encode(mac(&self.key, &[purpose, payload.as_bytes()]));
        format!("{payload}.{sig}")
    }

    /// What [`SessionKey::seal_as`] sealed for `purpose`, when the signature is ours.
    pub(crate) fn open_as<T: DeserializeOwned>(&self, purpose: &[u8], value: &str) -> Option<T> {
        let (payload, sig) = value.split_once('.')?;
        let want = hex::encode(mac(&self.key, &[purpose, payload.as_bytes()]));
        if !bool::from(want.as_bytes().ct_eq(sig.as_bytes())) {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// The CSRF token of `session`'s forms.
    pub fn csrf(&self, session: &Session) -> String {
        hex::encode(mac(&self.key, &[b"csrf\n", session.nonce.as_bytes()]))
    }

    /// Whether `token` is `session`'s CSRF token.
    pub fn csrf_ok(&self, session: &Session, token: &str) -> bool {
        bool::from(self.csrf(session).as_bytes().ct_eq(token.as_bytes()))
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The `Set-Cookie` value that stores `value` for `max_age` seconds (0: clears it).
pub fn set_cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// The session cookie's value among a request's `Cookie` headers.
pub fn cookie_value(headers: &axum::http::HeaderMap) -> Option<&str> {
    named_cookie(headers, COOKIE)
}

/// The value of the cookie `name` among a request's `Cookie` headers.
pub fn named_cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKey {
        SessionKey::derive(&[7; 32])
    }

    fn session(expires: u64) -> Session {
        Session::new(
            &Principal::new("ann", Role::User).with_credential_id("ag_live_Ab12Cd34"),
            expires,
        )
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let s = session(1_000);
        let sealed = key().seal(&s);
        assert_eq!(key().open(&sealed, 999), Some(s.clone()));
        assert_eq!(key().open(&sealed, 1_000), None, "expired");
        assert_eq!(s.principal().user, "ann");
    }

    #[test]
    fn a_tampered_or_foreign_cookie_does_not_open() {
        let sealed = key().seal(&session(1_000));
        let (payload, sig) = sealed.split_once('.').expect("two parts");
        let admin = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("b64"))
                .expect("utf-8")
                .replace("\"ann\"", "\"admin\""),
        );
        assert_eq!(key().open(&format!("{admin}.{sig}"), 0), None);
        assert_eq!(SessionKey::derive(&[8; 32]).open(&sealed, 0), None);
        assert_eq!(key().open("garbage", 0), None);
        assert_eq!(key().open(&format!("{payload}."), 0), None);
    }

    #[test]
    fn a_value_sealed_for_one_purpose_does_not_open_as_another() {
        let sealed = key().seal_as(b"sso flow\n", &session(1_000));
        assert_eq!(key().open(&sealed, 0), None, "not a session cookie");
        let opened: Option<Session> = key().open_as(b"sso flow\n", &sealed);
        assert!(opened.is_some());
    }

    #[test]
    fn the_csrf_token_is_bound_to_its_session() {
        let (a, b) = (session(1_000), session(1_000));
        let token = key().csrf(&a);
        assert!(key().csrf_ok(&a, &token));
        assert!(!key().csrf_ok(&b, &token), "another session's token");
        assert!(!key().csrf_ok(&a, ""));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_https() {
        let set = set_cookie("v", 60, true);
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Max-Age=60",
            "Path=/",
        ] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set_cookie("v", 60, false).contains("Secure"));
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "a=1; artgen_session=xyz; b=2".parse().expect("header"),
        );
        assert_eq!(cookie_value(&headers), Some("xyz"));
    }
}
