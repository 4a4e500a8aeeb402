//! One bearer header, two kinds of credential: API keys and OIDC tokens, told apart by shape
//! before anything is looked up.

use std::sync::Arc;

use artgen_core::domain::Principal;
use artgen_core::ports::Authenticator;
use artgen_core::Result;
use async_trait::async_trait;

/// Longest credential taken for a JWT, bytes (IdPs that put many groups in a token reach a
/// few kilobytes).
const MAX_JWT_BYTES: usize = 32 * 1024;

/// The prefix of every API key (`ag_live_…`, `ag_test_…`).
const API_KEY_PREFIX: &str = "ag_";

/// Whether `credential` is shaped like a compact JWS: three base64url segments separated by
/// dots (any of them may be empty: an unsigned `alg: none` token has an empty signature and
/// must still be refused as a token), not an API key, and not too long.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.len() <= MAX_JWT_BYTES
        && !credential.starts_with(API_KEY_PREFIX)
        && credential.bytes().filter(|b| *b == b'.').count() == 2
        && credential
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Sends JWT-shaped credentials to `tokens` and everything else (API keys, and garbage, which
/// the key authenticator refuses without a lookup) to `keys`.
pub struct BearerChain {
    keys: Arc<dyn Authenticator>,
    tokens: Arc<dyn Authenticator>,
}

impl std::fmt::Debug for BearerChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerChain").finish_non_exhaustive()
    }
}

impl BearerChain {
    /// A chain of the key authenticator and the token authenticator.
    pub fn new(keys: Arc<dyn Authenticator>, tokens: Arc<dyn Authenticator>) -> Self {
        Self { keys, tokens }
    }
}

#[async_trait]
impl Authenticator for BearerChain {
    async fn authenticate(&self, credential: &str) -> Result<Principal> {
        if looks_like_jwt(credential) {
            self.tokens.authenticate(credential).await
        } else {
            self.keys.authenticate(credential).await
        }
    }
}

#[cfg(test)]
mod tests {
    use artgen_core::domain::Role;
    use artgen_core::{Error, ErrorCode};

    use super::*;

    /// Answers with its own name as the user.
    struct Named(&'static str);

    #[async_trait]
    impl Authenticator for Named {
        async fn authenticate(&self, _credential: &str) -> Result<Principal> {
            Ok(Principal::new(self.0, Role::User))
        }
    }

    /// Refuses everything.
    struct Refusing;

    #[async_trait]
    impl Authenticator for Refusing {
        async fn authenticate(&self, _credential: &str) -> Result<Principal> {
            Err(Error::new(ErrorCode::Unauthenticated, "no"))
        }
    }

    #[test]
    fn api_keys_and_jwts_are_told_apart_by_shape() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"));
        assert!(looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0."));
        assert!(!looks_like_jwt(
            "ag_live_abcdefghijABCDEFGHIJ0123456789klmnopqrst"
        ));
        assert!(!looks_like_jwt("ag_live_a.b.c"), "the key prefix wins");
        assert!(!looks_like_jwt("a.b"), "two segments");
        assert!(!looks_like_jwt("a.b.c.d.e"), "a JWE is not taken");
        assert!(!looks_like_jwt("a.b+c.d"), "not base64url");
        assert!(!looks_like_jwt(&format!(
            "a.b.{}",
            "c".repeat(MAX_JWT_BYTES)
        )));
    }

    #[tokio::test]
    async fn the_chain_dispatches_by_shape() {
        let chain = BearerChain::new(Arc::new(Named("keys")), Arc::new(Named("tokens")));
        let key = "ag_live_abcdefghijABCDEFGHIJ0123456789klmnopqrst";
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
        assert_eq!(chain.authenticate(key).await.expect("ok").user, "keys");
        assert_eq!(chain.authenticate(jwt).await.expect("ok").user, "tokens");
        assert_eq!(
            chain.authenticate("garbage").await.expect("ok").user,
            "keys"
        );
    }

    #[tokio::test]
    async fn a_refused_token_is_not_tried_as_a_key() {
        let chain = BearerChain::new(Arc::new(Named("keys")), Arc::new(Refusing));
        let err = chain
            .authenticate("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln")
            .await
            .expect_err("refused");
        assert_eq!(err.code(), ErrorCode::Unauthenticated);
    }
}
