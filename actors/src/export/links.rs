//! Signed download links: an HMAC-SHA256 of the export, its owner and the expiry, under
//! a key derived from the JWT secret (as the console's CSRF key is), so a link cannot be
//! forged, moved to another export or user, or extended. Fetching also needs the owner's
//! bearer token.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use uuid::Uuid;

#[derive(Clone)]
pub struct ExportLinks {
    key: [u8; 32],
}

impl std::fmt::Debug for ExportLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportLinks(<key>)")
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes keys of any length")
}

impl ExportLinks {
    /// The key is derived from the JWT secret, so no token made for another purpose is
    /// a valid signature here.
    pub fn new(jwt_secret: &[u8]) -> Self {
        let mut derive = mac(jwt_secret);
        derive.update(b"folio export link");
        Self {
            key: derive.finalize().into_bytes().into(),
        }
    }

    fn signer(&self, export_id: Uuid, user_id: Uuid, expires: i64) -> Hmac<Sha256> {
        let mut m = mac(&self.key);
        m.update(export_id.as_bytes());
        m.update(user_id.as_bytes());
        m.update(&expires.to_be_bytes());
        m
    }

    /// The hex signature of a link to `export_id` for `user_id`, good until `expires`
    /// (Unix seconds).
    pub fn sign(&self, export_id: Uuid, user_id: Uuid, expires: i64) -> String {
        hex::encode(self.signer(export_id, user_id, expires).finalize().into_bytes())
    }

    /// Whether `signature` is this link's, compared in constant time.
    pub fn verify(&self, export_id: Uuid, user_id: Uuid, expires: i64, signature: &str) -> bool {
        let Ok(raw) = hex::decode(signature) else {
            return false;
        };
        self.signer(export_id, user_id, expires).verify_slice(&raw).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_bound_to_its_export_user_and_expiry() {
        let links = ExportLinks::new(&[7u8; 32]);
        let (export, user) = (Uuid::new_v4(), Uuid::new_v4());
        let signature = links.sign(export, user, 1_000);
        assert!(links.verify(export, user, 1_000, &signature));
        assert!(!links.verify(export, user, 1_001, &signature), "extended");
        assert!(!links.verify(Uuid::new_v4(), user, 1_000, &signature), "another export");
        assert!(!links.verify(export, Uuid::new_v4(), 1_000, &signature), "another user");
        assert!(!links.verify(export, user, 1_000, "zz"), "not hex");
        assert!(!links.verify(export, user, 1_000, &signature[..10]), "truncated");
        let other = ExportLinks::new(&[8u8; 32]);
        assert!(!other.verify(export, user, 1_000, &signature), "another secret");
    }
}
