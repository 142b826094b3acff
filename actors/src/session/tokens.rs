//! Access tokens (JWT, HS256 only) and refresh tokens (256 random bits, stored hashed).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{domain::Role, error::SessionError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub username: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: Uuid,
    /// The session (refresh-token family) the token was issued for, so the caller's own
    /// session can be told apart from the others. Absent in tokens issued before
    /// sessions were tracked, which verify as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// How long past its `exp` an access token is still accepted: clock skew between nodes,
/// not the library's default of 60 s.
pub const EXPIRY_LEEWAY_SECS: u64 = 5;

/// Why the token keys could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    #[error("the JWT secret must be at least 32 bytes")]
    SecretTooShort,
    #[error("the access token lifetime is out of range")]
    AccessTtl(#[source] chrono::OutOfRangeError),
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl: chrono::Duration,
    /// Keys the console's CSRF tokens; derived from the secret, so no token made for one
    /// purpose is valid for the other.
    csrf_key: [u8; 32],
    /// Keys the signatures of media URLs handed to the owner of a project that is not
    /// public; derived from the secret like the CSRF key, for that purpose only.
    media_url_key: [u8; 32],
}

/// Bytes of a media URL signature kept (hex-encoded in the URL): 128 bits.
const MEDIA_SIGNATURE_BYTES: usize = 16;

pub struct IssuedAccess {
    pub token: String,
    pub claims: Claims,
}

impl TokenKeys {
    /// The secret must carry at least 256 bits; HS256 with a short secret is guessable.
    pub fn new(
        secret: &[u8],
        issuer: &str,
        audience: &str,
        access_ttl: std::time::Duration,
    ) -> Result<Self, TokenKeyError> {
        if secret.len() < 32 {
            return Err(TokenKeyError::SecretTooShort);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = EXPIRY_LEEWAY_SECS;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            access_ttl: chrono::Duration::from_std(access_ttl).map_err(TokenKeyError::AccessTtl)?,
            csrf_key: hmac_sha256(secret, b"folio console csrf"),
            media_url_key: hmac_sha256(secret, b"folio media urls"),
        })
    }

    /// The signature of a media URL: an HMAC of what it grants (the blob key and the
    /// expiry), truncated to 128 bits, hex.
    pub fn media_url_signature(&self, grant: &str) -> String {
        hex::encode(&hmac_sha256(&self.media_url_key, grant.as_bytes())[..MEDIA_SIGNATURE_BYTES])
    }

    /// Whether `signature` is [`TokenKeys::media_url_signature`] of `grant`, compared in
    /// constant time.
    pub fn media_url_signature_holds(&self, grant: &str, signature: &str) -> bool {
        let Ok(sent) = hex::decode(signature) else {
            return false;
        };
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.media_url_key).expect("HMAC takes keys of any length");
        mac.update(grant.as_bytes());
        sent.len() == MEDIA_SIGNATURE_BYTES && mac.verify_truncated_left(&sent).is_ok()
    }

    /// The console's CSRF token for what it is bound to (a session, or a browser that has
    /// not signed in yet): an HMAC under a key of ours, so a cookie a third party planted
    /// cannot be paired with a header it chose.
    pub fn csrf_token(&self, binding: &str) -> String {
        hex::encode(hmac_sha256(&self.csrf_key, binding.as_bytes()))
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl.num_seconds()
    }

    pub fn issue(
        &self,
        user_id: Uuid,
        username: &str,
        role: Role,
        session: Option<Uuid>,
    ) -> Result<IssuedAccess, SessionError> {
        let now = Utc::now();
        let claims = Claims {
            sub: user_id,
            username: username.to_string(),
            role,
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::new_v4(),
            sid: session,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(SessionError::Signing)?;
        Ok(IssuedAccess { token, claims })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, SessionError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| SessionError::InvalidAccessToken)
    }
}

/// The opaque token handed to the client: 32 random bytes, base64url.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps instead of the token.
pub fn refresh_token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn refresh_expiry(ttl: std::time::Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], "folio", "folio-api", Duration::from_secs(900)).unwrap()
    }

    #[test]
    fn round_trip() {
        let keys = keys();
        let id = Uuid::new_v4();
        let issued = keys.issue(id, "alice", Role::User, Some(id)).unwrap();
        let claims = keys.verify(&issued.token).unwrap();
        assert_eq!(claims.sub, id);
        assert_eq!(claims.sid, Some(id));
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn an_expired_token_is_refused_after_a_few_seconds_of_leeway() {
        let keys = keys();
        let issued = keys.issue(Uuid::new_v4(), "alice", Role::User, None).unwrap();
        let expired_by = |secs: i64| {
            let mut claims = issued.claims.clone();
            claims.exp = Utc::now().timestamp() - secs;
            claims.iat = claims.exp - 900;
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(&[7u8; 32]),
            )
            .unwrap()
        };
        assert!(keys.verify(&expired_by(1)).is_ok(), "within the leeway");
        assert!(keys.verify(&expired_by(EXPIRY_LEEWAY_SECS as i64 + 5)).is_err());
        assert!(keys.verify(&expired_by(30)).is_err(), "not the library's 60 s");
    }

    #[test]
    fn rejects_other_secret_algorithm_none_and_wrong_audience() {
        let keys = keys();
        let issued = keys.issue(Uuid::new_v4(), "alice", Role::User, None).unwrap();
        let other = TokenKeys::new(&[8u8; 32], "folio", "folio-api", Duration::from_secs(900)).unwrap();
        assert!(other.verify(&issued.token).is_err());

        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = issued.token.split('.').nth(1).unwrap();
        let none_token = format!("{}.{}.", engine.encode(br#"{"alg":"none","typ":"JWT"}"#), payload);
        assert!(keys.verify(&none_token).is_err());

        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &issued.claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert!(keys.verify(&hs512).is_err());

        let other_aud = TokenKeys::new(&[7u8; 32], "folio", "elsewhere", Duration::from_secs(900)).unwrap();
        assert!(other_aud.verify(&issued.token).is_err());
    }

    #[test]
    fn short_secret_is_refused() {
        assert!(TokenKeys::new(b"short", "folio", "folio-api", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_digest_is_stable() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(refresh_token_digest(&a), refresh_token_digest(&a));
        assert_eq!(refresh_token_digest(&a).len(), 64);
    }
}
