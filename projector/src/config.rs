//! Configuration of the projector, from the environment.

use shared::config::{self, ConfigError};
use shared::kafka::KafkaConfig;
use shared::readmodel::connect::ReadModelConfig;

#[derive(Debug, Clone)]
pub struct Config {
    /// `PROJECTOR_ADDR`, default `127.0.0.1:9102`: health, readiness, metrics.
    pub listen_addr: String,
    pub kafka: KafkaConfig,
    /// `PROJECTOR_GROUP`, default `projector`: the consumer group.
    pub group: String,
    pub read_model: ReadModelConfig,
    /// `FANOUT_PAGE_SIZE`, default 1000: followers loaded per fan-out step,
    /// which bounds a fan-out's memory whatever the follower count.
    pub fanout_page: usize,
    /// `PROJECTOR_MAX_ATTEMPTS`, default 5: tries before an event is dead-lettered.
    pub max_attempts: u32,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: config::or("PROJECTOR_ADDR", "127.0.0.1:9102".to_owned())?,
            kafka: KafkaConfig::from_env()?,
            group: config::or("PROJECTOR_GROUP", "projector".to_owned())?,
            read_model: ReadModelConfig::from_env()?,
            fanout_page: config::in_range("FANOUT_PAGE_SIZE", 1000, 1..=100_000)?,
            max_attempts: config::in_range("PROJECTOR_MAX_ATTEMPTS", 5, 1..=100)?,
        })
    }
}
