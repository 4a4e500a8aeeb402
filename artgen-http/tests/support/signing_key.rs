//! A test IdP's signing key and its public JWK, shared by the bearer-token (`oidc.rs`) and
//! browser sign-in (`ui_sso.rs`) tests.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::Value;

/// A signing key of the test IdP and its public JWK.
pub(crate) struct SigningKey {
    kid: String,
    alg: Algorithm,
    pub(crate) key: EncodingKey,
    pub(crate) jwk: Value,
}

impl SigningKey {
    /// A fresh P-256 key.
    pub(crate) fn es256(kid: &str) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("generates a P-256 key");
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(pkcs8.as_ref()),
        )
    }

    /// `key` under `kid`, with its public JWK naming `alg`.
    pub(crate) fn new(kid: &str, alg: Algorithm, key: EncodingKey) -> Self {
        let mut jwk = Jwk::from_encoding_key(&key, alg).expect("public JWK");
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.key_algorithm = Some(KeyAlgorithm::from(alg));
        let jwk = serde_json::to_value(&jwk).expect("JWK serialises");
        Self {
            kid: kid.to_owned(),
            alg,
            key,
            jwk,
        }
    }

    /// A JWT of `claims`, its header naming this key.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("signs")
    }
}

/// Seconds since 1970, as JWT claims count them.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}
