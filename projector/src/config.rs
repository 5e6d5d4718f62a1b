//! Configuration of the projector, from the environment.

use std::time::Duration;

use broker::KafkaConfig;
use platform::config::{self, ConfigError};
use readmodel::connect::ReadModelConfig;

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
    /// `PROJECTOR_MAX_ATTEMPTS`, default 5: tries before an event is dead-lettered;
    /// transient failures and failures while a store is down do not count.
    pub max_attempts: u32,
    /// `PROJECTOR_INSTANCE_ID`, optional: static group membership (KIP-345).
    /// A projector restarted with the same id takes its partitions back
    /// without waiting for the group to notice the old process died; give
    /// each replica its own (e.g. a StatefulSet pod name). Unset: dynamic
    /// membership.
    pub instance_id: Option<String>,
    /// `PROJECTOR_BATCH_MAX`, default 500: records taken from the broker
    /// at once.
    pub batch_max: usize,
    /// `PROJECTOR_BATCH_WAIT_MS`, default 5, at most 1000: how long a
    /// batch waits for more records after its first.
    pub batch_wait: Duration,
    /// `PROJECTOR_CONCURRENCY`, default 4: keys of a batch applied at
    /// once (each key's records in order). The work is round trips to the
    /// stores, so it may exceed the cores; where the stores share the
    /// machine with the write path, more slows the writes (README,
    /// Benchmarks).
    pub concurrency: usize,
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
            instance_id: config::optional("PROJECTOR_INSTANCE_ID")?,
            batch_max: config::in_range("PROJECTOR_BATCH_MAX", 500, 1..=100_000)?,
            batch_wait: config::millis_in_range("PROJECTOR_BATCH_WAIT_MS", 5, 0..=1000)?,
            concurrency: config::in_range("PROJECTOR_CONCURRENCY", 4, 1..=1024)?,
        })
    }
}

/// Configuration of `projector rebuild`, from the environment.
#[derive(Debug, Clone)]
pub struct RebuildConfig {
    /// `DATABASE_URL`, required: the write database, the source of truth.
    pub source_url: String,
    /// `REBUILD_CONCURRENCY`, default 8: users rebuilt at once (the work is
    /// round trips, so more than the cores).
    pub concurrency: usize,
    /// `REBUILD_FEED_DEPTH`, default 5000: entries a rebuilt home feed
    /// receives (newest first); older ones already in the feed are kept.
    pub feed_depth: usize,
    /// `REBUILD_METRICS_ADDR`, default `127.0.0.1:9103`: where the rebuild
    /// serves its progress metrics while it runs.
    pub metrics_addr: String,
}

impl RebuildConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            source_url: config::required("DATABASE_URL")?,
            concurrency: config::in_range("REBUILD_CONCURRENCY", 8, 1..=256)?,
            feed_depth: config::in_range("REBUILD_FEED_DEPTH", 5000, 1..=1_000_000)?,
            metrics_addr: config::or("REBUILD_METRICS_ADDR", "127.0.0.1:9103".to_owned())?,
        })
    }
}
