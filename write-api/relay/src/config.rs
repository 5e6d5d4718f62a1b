//! Configuration of the relay, from the environment.

use std::time::Duration;

use broker::KafkaConfig;
use platform::config::{self, ConfigError};
use platform::pg::PoolConfig;

/// Settings of the outbox relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// `RELAY_ADDR`, default `127.0.0.1:9101`: health, readiness and metrics.
    pub listen_addr: String,
    /// `DATABASE_URL` (required), `DATABASE_LOCK_TIMEOUT_MS` (default
    /// 2000), `DATABASE_STATEMENT_TIMEOUT_MS` (default 10000); four connections.
    pub database: PoolConfig,
    pub kafka: KafkaConfig,
    /// `RELAY_BATCH_SIZE`, default 500.
    pub batch_size: i64,
    /// `RELAY_POLL_INTERVAL_MS`, default 500: the fallback when no notification arrives.
    pub poll_interval: Duration,
    /// `RELAY_RETENTION_SECS`, default 7 days: published rows older than this are deleted.
    pub retention: Duration,
}

impl RelayConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: config::or("RELAY_ADDR", "127.0.0.1:9101".to_owned())?,
            database: PoolConfig::from_env(4)?,
            kafka: KafkaConfig::from_env()?,
            batch_size: config::in_range("RELAY_BATCH_SIZE", 500, 1..=10_000)?,
            poll_interval: config::millis("RELAY_POLL_INTERVAL_MS", 500)?,
            retention: Duration::from_secs(config::in_range(
                "RELAY_RETENTION_SECS",
                7 * 24 * 3600,
                60..=365 * 24 * 3600,
            )?),
        })
    }
}
