//! Connecting to the read cluster from the environment. The projector and
//! the read API both use this, so they always agree on where the read model
//! lives.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use crate::cache::{CacheSettings, HotCache};
use crate::cassandra::CassandraStore;
use crate::postgres::{MIGRATOR, PgFeedStore};
use crate::{FeedReader, FeedWriter, StoreError};
use platform::config::{self, ConfigError};

/// Which durable store to use.
#[derive(Debug, Clone)]
pub enum DurableConfig {
    /// `CASSANDRA_NODES` set: a comma-separated list of `host:port`.
    Cassandra {
        nodes: Vec<String>,
        /// `CASSANDRA_KEYSPACE`, default `microblog`.
        keyspace: String,
        /// `CASSANDRA_REPLICATION`, default SimpleStrategy with one replica
        /// (set NetworkTopologyStrategy with 3 in production).
        replication: String,
    },
    /// Otherwise `READ_DATABASE_URL`: the PostgreSQL read database.
    Postgres { url: String, max_connections: u32 },
}

#[derive(Debug, Clone)]
pub struct ReadModelConfig {
    pub durable: DurableConfig,
    /// `REDIS_URL`, default `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `REDIS_POOL_SIZE`, default 8.
    pub redis_pool_size: usize,
    /// `REDIS_KEY_PREFIX` (default `mb:`), `FEED_CACHE_SIZE` (default 800),
    /// `FEED_CACHE_TTL_SECS` (default 7 days), `OBJECT_CACHE_TTL_SECS` (default 1 day).
    pub cache: CacheSettings,
}

impl ReadModelConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let nodes: Option<String> = config::optional("CASSANDRA_NODES")?;
        let durable = match nodes {
            Some(nodes) => DurableConfig::Cassandra {
                nodes: nodes
                    .split(',')
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .collect(),
                keyspace: config::or("CASSANDRA_KEYSPACE", "microblog".to_owned())?,
                replication: config::or(
                    "CASSANDRA_REPLICATION",
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}".to_owned(),
                )?,
            },
            None => DurableConfig::Postgres {
                url: config::required("READ_DATABASE_URL")?,
                max_connections: config::in_range("READ_DATABASE_MAX_CONNECTIONS", 16, 1..=1000)?,
            },
        };
        Ok(Self {
            durable,
            redis_url: config::or("REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            redis_pool_size: config::in_range("REDIS_POOL_SIZE", 8, 1..=256)?,
            cache: CacheSettings {
                prefix: config::or("REDIS_KEY_PREFIX", "mb:".to_owned())?,
                feed_cap: config::in_range("FEED_CACHE_SIZE", 800, 1..=100_000)?,
                feed_ttl: Duration::from_secs(config::in_range(
                    "FEED_CACHE_TTL_SECS",
                    7 * 24 * 3600,
                    1..=365 * 24 * 3600,
                )?),
                object_ttl: Duration::from_secs(config::in_range(
                    "OBJECT_CACHE_TTL_SECS",
                    24 * 3600,
                    1..=365 * 24 * 3600,
                )?),
            },
        })
    }

    /// Opens both tiers for the read side: the reader half of the durable
    /// store (its schema is the projector's to create) and the hot cache.
    pub async fn open_reader(&self) -> Result<(Arc<dyn FeedReader>, HotCache), OpenError> {
        let (store, cache) = self.open(false).await?;
        Ok((store, cache))
    }

    /// Opens both tiers for the projector, creating or updating the durable
    /// store's schema first.
    pub async fn open_writer(&self) -> Result<(Arc<dyn FeedWriter>, HotCache), OpenError> {
        self.open(true).await
    }

    async fn open(&self, migrate: bool) -> Result<(Arc<dyn FeedWriter>, HotCache), OpenError> {
        let store = self
            .durable_store(migrate)
            .await
            .map_err(OpenError::Durable)?;
        let cache = HotCache::connect(&self.redis_url, self.redis_pool_size, self.cache.clone())
            .await
            .map_err(OpenError::Cache)?;
        Ok((store, cache))
    }

    async fn durable_store(&self, migrate: bool) -> Result<Arc<dyn FeedWriter>, StoreError> {
        match &self.durable {
            DurableConfig::Cassandra {
                nodes,
                keyspace,
                replication,
            } => Ok(Arc::new(
                CassandraStore::connect(nodes, keyspace, replication, migrate).await?,
            )),
            DurableConfig::Postgres {
                url,
                max_connections,
            } => {
                let pool = PgPoolOptions::new()
                    .max_connections(*max_connections)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect(url)
                    .await?;
                if migrate {
                    MIGRATOR
                        .run(&pool)
                        .await
                        .map_err(|e| StoreError::Postgres(e.into()))?;
                }
                Ok(Arc::new(PgFeedStore::new(pool)))
            }
        }
    }
}

/// Why the read model could not be opened, naming the tier.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the durable read store (READ_DATABASE_URL or CASSANDRA_NODES): {0}")]
    Durable(StoreError),
    #[error("cannot connect to REDIS_URL: {0}")]
    Cache(StoreError),
}
