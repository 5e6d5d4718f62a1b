//! The write database: pools with bounded waits, advisory-lock namespaces,
//! and the readiness check of the processes that use it.
//!
//! Every statement and every lock wait is bounded (`lock_timeout`,
//! `statement_timeout`), so a request can be slow but never hang holding a
//! pool connection; the API answers a timed-out wait with 503 and
//! `Retry-After`.

use std::time::Duration;

use async_trait::async_trait;
use shared::ids::UserId;
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
}

/// The lock object of a partition key. Ids fold into 32 bits; two ids that
/// fold alike only share a lock, which serialises their commands and
/// changes nothing else (a command takes one key lock, so no deadlock).
pub fn partition_lock_object(key: UserId) -> i32 {
    let id = key.0 as u64;
    (id ^ (id >> 32)) as u32 as i32
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

/// `GET /ready` of the write API and the relay.
pub struct DbReady(pub PgPool);

#[async_trait]
impl shared::ops::Readiness for DbReady {
    async fn check(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .map(|_| ())
            .map_err(|e| format!("database: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ids_are_their_own_lock_object() {
        assert_eq!(partition_lock_object(UserId(42)), 42);
        assert_eq!(
            partition_lock_object(UserId(0x6f75_7462_6f78)),
            0x6f75 ^ 0x7462_6f78
        );
    }
}
