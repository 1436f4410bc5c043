//! Learner pseudonyms: HMAC-SHA-256 over tenant and roster sourcedId with a
//! secret key. The same learner always gets the same key, so indicators
//! follow them across windows and restarts; without the secret nobody can
//! go from a key back to a person, nor test a guess.

use hmac::{Hmac, Mac};
use lap_runtime::config::Secret;
use sha2::Sha256;

/// Derives pseudonyms with one secret key.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser([redacted key])")
    }
}

/// Lower-case hex digits (`hex::encode` goes through a char iterator and
/// costs as much as the HMAC here).
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Keys shorter than this are refused: a short key can be brute-forced.
pub const MIN_KEY_BYTES: usize = 16;

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "the pseudonymisation key has {0} bytes; use at least {MIN_KEY_BYTES} random bytes (e.g. `openssl rand -hex 32`)"
)]
pub struct WeakKey(pub usize);

impl Pseudonymiser {
    /// A pseudonymiser with `key`.
    pub fn new(key: &Secret) -> Result<Self, WeakKey> {
        let bytes = key.expose().as_bytes();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(WeakKey(bytes.len()));
        }
        Ok(Pseudonymiser {
            mac: Hmac::new_from_slice(bytes).expect("HMAC takes keys of any length"),
        })
    }

    /// The pseudonym of `subject` (a roster sourcedId, or a raw identifier
    /// for people outside the roster) in `tenant`: 64 hex digits.
    pub fn key(&self, tenant: &str, subject: &str) -> String {
        let mut mac = self.mac.clone();
        // A separator that cannot occur in a tenant keeps ("a","bc") and
        // ("ab","c") apart.
        mac.update(tenant.as_bytes());
        mac.update(b"/");
        mac.update(subject.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(64);
        for b in digest {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
        out
    }
}
