//! Configuration of the read API, from the environment.

use platform::config::{self, ConfigError};
use readmodel::connect::ReadModelConfig;

#[derive(Debug, Clone)]
pub struct Config {
    /// `READ_API_ADDR`, default `127.0.0.1:8081`.
    pub listen_addr: String,
    pub read_model: ReadModelConfig,
    /// `JWT_PUBLIC_KEY` (PEM) or `JWT_PUBLIC_KEY_FILE`: verifies access
    /// tokens. The read host never holds the private key.
    pub public_key_pem: Vec<u8>,
    /// `JWT_ISSUER`, default `microblog`.
    pub issuer: String,
    /// `JWT_AUDIENCE`, default `microblog-api`.
    pub audience: String,
    /// `READ_YOUR_WRITES_TIMEOUT_MS`, default 2000: the longest a read
    /// carrying a `Consistency-Token` waits for the projector.
    pub consistency_bound: std::time::Duration,
    /// `READ_YOUR_WRITES_MAX_WAITERS`, default 1000: requests that may wait
    /// for a consistency token at once on one replica; more are answered
    /// at once, marked `Consistency-Token-Timeout: true`.
    pub max_waiters: usize,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: config::or("READ_API_ADDR", "127.0.0.1:8081".to_owned())?,
            read_model: ReadModelConfig::from_env()?,
            public_key_pem: config::pem("JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY_FILE")?,
            issuer: config::or("JWT_ISSUER", "microblog".to_owned())?,
            audience: config::or("JWT_AUDIENCE", "microblog-api".to_owned())?,
            consistency_bound: std::time::Duration::from_millis(config::in_range(
                "READ_YOUR_WRITES_TIMEOUT_MS",
                2_000,
                0..=30_000,
            )?),
            max_waiters: config::in_range("READ_YOUR_WRITES_MAX_WAITERS", 1_000, 0..=1_000_000)?,
        })
    }
}
