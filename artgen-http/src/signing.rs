//! Signed, expiring image links: `?exp=<unix seconds>&sig=<hex HMAC-SHA256>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Length of a link's signature: the HMAC-SHA256 in lower-case hex.
pub const SIGNATURE_LEN: usize = 64;

/// Reads a link's `exp` in its one canonical form: decimal digits, no sign, no leading zero
/// (but `0` itself), at most `u64::MAX`. Any other spelling is refused rather than normalised,
/// so each expiry has exactly one link.
pub fn parse_expiry(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let canonical = digits && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// Whether `sig` has the one form [`UrlSigner::sign`] writes: 64 lower-case hex characters.
fn is_canonical_signature(sig: &str) -> bool {
    sig.len() == SIGNATURE_LEN && sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Signs and verifies image links with a server secret.
#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner([redacted])")
    }
}

impl UrlSigner {
    /// A signer over a secret of at least 32 bytes.
    ///
    /// Returns `None` for a shorter secret.
    pub fn new(key: Vec<u8>) -> Option<Self> {
        (key.len() >= 32).then_some(Self { key })
    }

    fn mac(&self, image_id: &str, expires: u64) -> HmacSha256 {
        #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(image_id.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// A key for another purpose (`label` names it), derived from this secret so the secret
    /// itself never leaves the signer and no two purposes share a key.
    pub fn subkey(&self, label: &[u8]) -> [u8; 32] {
        #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(b"subkey\n");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    /// The hex signature of a link to `image_id` valid until `expires`.
    pub fn sign(&self, image_id: &str, expires: u64) -> String {
        hex::encode(self.mac(image_id, expires).finalize().into_bytes())
    }

    /// Whether `sig` is valid for `image_id` and `expires`, and `expires` is not past `now`.
    /// Only the form [`sign`](Self::sign) writes is valid: 64 lower-case hex characters.
    pub fn verify(&self, image_id: &str, expires: u64, sig: &str, now: u64) -> bool {
        if !is_canonical_signature(sig) {
            return false;
        }
        let Ok(given) = hex::decode(sig) else {
            return false;
        };
        let expected = self.mac(image_id, expires).finalize().into_bytes();
        let matches: bool = expected.as_slice().ct_eq(&given).into();
        matches && now <= expires
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> UrlSigner {
        UrlSigner::new(vec![7; 32]).expect("long enough")
    }

    #[test]
    fn accepts_its_own_unexpired_signatures() {
        let sig = signer().sign("img_a", 100);
        assert!(signer().verify("img_a", 100, &sig, 99));
    }

    #[test]
    fn refuses_expired_tampered_or_foreign_links() {
        let sig = signer().sign("img_a", 100);
        assert!(!signer().verify("img_a", 100, &sig, 101), "expired");
        assert!(!signer().verify("img_b", 100, &sig, 50), "other image");
        assert!(!signer().verify("img_a", 200, &sig, 50), "extended expiry");
        assert!(!signer().verify("img_a", 100, "zz", 50), "not hex");
        let other = UrlSigner::new(vec![8; 32]).expect("long enough");
        assert!(!other.verify("img_a", 100, &sig, 50), "other key");
    }

    #[test]
    fn refuses_any_spelling_of_the_signature_but_lower_case_hex() {
        let sig = signer().sign("img_a", 100);
        assert_eq!(sig.len(), SIGNATURE_LEN);
        assert!(
            !signer().verify("img_a", 100, &sig.to_uppercase(), 50),
            "upper"
        );
        assert!(
            !signer().verify("img_a", 100, &format!("{sig}00"), 50),
            "longer"
        );
        assert!(!signer().verify("img_a", 100, &sig[..62], 50), "shorter");
        assert!(!signer().verify("img_a", 100, &format!(" {}", &sig[1..]), 50));
    }

    #[test]
    fn reads_only_canonical_expiries() {
        assert_eq!(parse_expiry("0"), Some(0));
        assert_eq!(parse_expiry("1745575400"), Some(1_745_575_400));
        assert_eq!(parse_expiry("18446744073709551615"), Some(u64::MAX));
        for text in [
            "",
            "00",
            "0123",
            "+123",
            "-1",
            " 123",
            "123 ",
            "1e3",
            "0x10",
            "18446744073709551616",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_expiry(text), None, "{text:?}");
        }
    }
}
