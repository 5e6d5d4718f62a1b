//! PostgreSQL pools with bounded waits, the write database's advisory-lock
//! namespaces, and the readiness check of a process that uses a database.
//!
//! Every statement and every lock wait is bounded (`lock_timeout`,
//! `statement_timeout`), so a request can be slow but never hang holding a
//! pool connection; the API answers a timed-out wait with 503 and
//! `Retry-After`.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The classes of the two-int advisory lock form: one per purpose, so a
/// lock of one purpose can never be taken (or held hostage) through
/// another. The single-bigint form is not used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum LockClass {
    /// The relay leader's session lock (object 0).
    RelayLeader = 1,
    /// A command's partition key: the author whose fan-out it changes.
    PartitionKey = 2,
    /// On the PostgreSQL read database: a post's place in readers' home
    /// feeds, decided one decision at a time (object: the post's id).
    /// `schema/read/0008_fan_out_function.sql` takes it by its number.
    FeedPlace = 3,
}

/// Pool settings of a process that uses the write database.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub url: String,
    pub max_connections: u32,
    /// `lock_timeout` of every session: the longest wait for a row or advisory lock.
    pub lock_timeout: Duration,
    /// `statement_timeout` of every session.
    pub statement_timeout: Duration,
}

impl Default for PoolConfig {
    /// The documented defaults, with no URL.
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 4,
            lock_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

impl PoolConfig {
    /// `DATABASE_URL` (required), `DATABASE_LOCK_TIMEOUT_MS` (default 2000)
    /// and `DATABASE_STATEMENT_TIMEOUT_MS` (default 10000), for a pool of
    /// `max_connections`.
    pub fn from_env(max_connections: u32) -> Result<Self, crate::config::ConfigError> {
        use crate::config;
        Ok(Self {
            url: config::required("DATABASE_URL")?,
            max_connections,
            lock_timeout: config::millis_in_range("DATABASE_LOCK_TIMEOUT_MS", 2_000, 1..=600_000)?,
            statement_timeout: config::millis_in_range(
                "DATABASE_STATEMENT_TIMEOUT_MS",
                10_000,
                1..=3_600_000,
            )?,
        })
    }
}

/// Connects a pool whose sessions carry the configured timeouts.
pub async fn connect(config: &PoolConfig) -> Result<PgPool, sqlx::Error> {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let options: PgConnectOptions = config.url.parse()?;
    let options = options.options([
        ("lock_timeout", ms(config.lock_timeout)),
        ("statement_timeout", ms(config.statement_timeout)),
    ]);
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await
}

/// Whether `err` is a bounded wait that ran out (a lock or statement
/// timeout): the request may succeed if retried.
pub fn is_timeout(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut => true,
        // 55P03 lock_not_available, 57014 query_canceled (statement_timeout).
        sqlx::Error::Database(e) => matches!(e.code().as_deref(), Some("55P03" | "57014")),
        _ => false,
    }
}

/// `GET /ready` of a process whose dependency is a PostgreSQL database.
pub struct PgReady(pub PgPool);

#[async_trait]
impl crate::ops::Readiness for PgReady {
    async fn check(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .map(|_| ())
            .map_err(|e| format!("database: {e}"))
    }
}
