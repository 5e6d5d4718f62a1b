//! Password hashing with argon2id at OWASP's parameters (19 MiB, t = 2,
//! p = 1), on a bounded blocking pool: at most `concurrency` hashes run at
//! once, so a flood of logins queues here instead of starving the async
//! runtime or the other routes.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<HashError> for platform::error::ApiError {
    fn from(err: HashError) -> Self {
        platform::error::ApiError::internal(&err)
    }
}

#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// Verified when the account does not exist, so that an unknown user
    /// costs the same time as a wrong password.
    dummy_hash: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasherPool {
    pub fn new(concurrency: usize) -> Self {
        let dummy_hash = argon2()
            .hash_password(b"dummy password for timing equality")
            .expect("hashing a constant works")
            .to_string();
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            dummy_hash: Arc::new(dummy_hash),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        metrics::counter!("password_hashes_total", "operation" => "hash").increment(1);
        tokio::task::spawn_blocking(move || {
            argon2()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError::Argon2(e.to_string()))
        })
        .await?
    }

    /// Checks `password` against `hash`, or against a dummy hash when there
    /// is no account, always doing the same work.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        metrics::counter!("password_hashes_total", "operation" => "verify").increment(1);
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| HashError::Argon2(e.to_string()))?;
            let ok = argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(ok && exists)
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password_of_an_existing_account() {
        let pool = PasswordHasherPool::new(2);
        let hash = pool.hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            pool.verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify("wrong horse battery".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify("dummy password for timing equality".into(), None)
                .await
                .unwrap()
        );
    }
}
