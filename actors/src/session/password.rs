//! Password hashing: argon2id with OWASP's parameters for new hashes, and verification of
//! both argon2id and bcrypt so users imported from the old system keep logging in (their
//! hash is upgraded on the next successful login).

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};
use serde::{Deserialize, Serialize};

use super::{domain::Password, error::SessionError};
use crate::blocking::BlockingPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Argon2Cost {
    /// OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1.
    pub const OWASP: Argon2Cost = Argon2Cost {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    fn params(self) -> Result<Params, SessionError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None).map_err(SessionError::Argon2Params)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The stored hash is bcrypt or uses weaker parameters than configured.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct PasswordHasher {
    cost: Argon2Cost,
    params: Params,
    pool: BlockingPool,
    /// Verified against when the account does not exist, so an unknown email takes as
    /// long as a wrong password.
    decoy_hash: String,
}

impl PasswordHasher {
    pub async fn new(cost: Argon2Cost, pool: BlockingPool) -> Result<Self, SessionError> {
        let params = cost.params()?;
        let mut hasher = Self {
            cost,
            params,
            pool,
            decoy_hash: String::new(),
        };
        hasher.decoy_hash = hasher.hash(&Password::parse("decoy-password-never-matches")?).await?;
        Ok(hasher)
    }

    pub fn cost(&self) -> Argon2Cost {
        self.cost
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, SessionError> {
        let params = self.params.clone();
        let password = password.clone();
        self.pool
            .run(move || {
                Self::argon2(params)
                    .hash_password(password.expose().as_bytes())
                    .map(|hash| hash.to_string())
            })
            .await?
            .map_err(SessionError::PasswordHash)
    }

    /// `stored` is `None` for an unknown account: the decoy is checked instead and the
    /// answer is always "no match".
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<Verified, SessionError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.decoy_hash).to_string();
        let password = password.clone();
        let params = self.params.clone();
        let verified = self
            .pool
            .run(move || verify_blocking(password.expose(), &stored, &params))
            .await?;
        Ok(Verified {
            matches: known && verified.matches,
            needs_rehash: verified.needs_rehash,
        })
    }
}

fn verify_blocking(password: &str, stored: &str, wanted: &Params) -> Verified {
    if stored.starts_with("$2") {
        let matches = bcrypt::verify(password, stored).unwrap_or(false);
        return Verified {
            matches,
            needs_rehash: true,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        tracing::warn!("stored password hash is in an unknown format");
        return Verified {
            matches: false,
            needs_rehash: false,
        };
    };
    let matches = PasswordHasher::argon2(wanted.clone())
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    let needs_rehash = match Params::try_from(&parsed) {
        Ok(params) => {
            parsed.algorithm.as_str() != "argon2id"
                || params.m_cost() < wanted.m_cost()
                || params.t_cost() < wanted.t_cost()
                || params.p_cost() < wanted.p_cost()
        }
        Err(_) => true,
    };
    Verified { matches, needs_rehash }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Cost = Argon2Cost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn argon2_round_trip_and_decoy() {
        let hasher = PasswordHasher::new(CHEAP, BlockingPool::new(1)).await.unwrap();
        let pw = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let ok = hasher.verify(&pw, Some(&hash)).await.unwrap();
        assert!(ok.matches && !ok.needs_rehash);
        let wrong = Password::parse("wrong horse").unwrap();
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap().matches);
        assert!(!hasher.verify(&pw, None).await.unwrap().matches);
    }

    #[tokio::test]
    async fn bcrypt_from_the_old_system_verifies_and_asks_for_rehash() {
        let hasher = PasswordHasher::new(CHEAP, BlockingPool::new(1)).await.unwrap();
        let legacy = bcrypt::hash("legacy-pass", 4).unwrap();
        let pw = Password::parse("legacy-pass").unwrap();
        let verified = hasher.verify(&pw, Some(&legacy)).await.unwrap();
        assert!(verified.matches && verified.needs_rehash);
        let wrong = Password::parse("legacy-wrong").unwrap();
        assert!(!hasher.verify(&wrong, Some(&legacy)).await.unwrap().matches);
    }

    #[tokio::test]
    async fn weaker_argon2_parameters_ask_for_rehash() {
        let cheap = PasswordHasher::new(CHEAP, BlockingPool::new(1)).await.unwrap();
        let pw = Password::parse("correct horse").unwrap();
        let weak = cheap.hash(&pw).await.unwrap();
        let stronger = PasswordHasher::new(
            Argon2Cost {
                memory_kib: 128,
                ..CHEAP
            },
            BlockingPool::new(1),
        )
        .await
        .unwrap();
        let verified = stronger.verify(&pw, Some(&weak)).await.unwrap();
        assert!(verified.matches && verified.needs_rehash);
    }
}
