//! The outbox relay: publishes outbox rows to Kafka in order, at least
//! once, and marks them published.
//!
//! Ordering and completeness:
//! - Rows are read in `(txid, seq)` order and only when their transaction
//!   is older than the oldest one still running (`txid < xmin` of the
//!   current snapshot). Sequence values are handed out before commit, so a
//!   plain `seq > last_seen` cursor skips a transaction that commits after
//!   a later one; this never does.
//! - One relay is the leader at a time (a session-level advisory lock), so
//!   extra relays are hot standbys and never interleave their publishes.
//! - The producer is idempotent with `acks=all`. A row is marked published
//!   only after the broker acknowledged it, and only as part of the longest
//!   acknowledged prefix of its batch: if a record fails, it and everything
//!   after it is sent again, so a key's records are never published out of
//!   order (duplicates are possible and consumers tolerate them). After a
//!   failed batch the producer is replaced, since a restarted broker may
//!   refuse the old producer's sequence numbers indefinitely.
//!
//! Wake-ups come from `LISTEN outbox` (a trigger notifies at commit), with
//! polling as the fallback.
//!
//! It may depend on `contracts`, `platform`, `broker`, PostgreSQL and
//! rdkafka; never on the write API's crate, the read model or a cache.
//!
//! # Layout
//! - this file: reading the outbox, publishing, leadership, retention.
//! - [`config`]: settings from the environment.
//! - `src/bin/relay.rs`: the process.

pub mod config;

use std::time::{Duration, Instant};

use contracts::events::Envelope;
use futures::FutureExt;
use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::RelayConfig;
use platform::pg::LockClass;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    seq: i64,
    event_id: Uuid,
    event_type: String,
    event_version: i16,
    key: String,
    payload: serde_json::Value,
    created_at: chrono::DateTime<chrono::Utc>,
    request_id: Option<String>,
}

/// An outbox row ready to publish.
#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: i64,
    /// The record key: the author whose fan-out the event changes.
    pub key: String,
    pub envelope: Envelope,
    /// The HTTP request whose command wrote it, sent as the `request_id` header.
    pub request_id: Option<String>,
}

/// The next unpublished rows in publishing order: `(txid, seq)`, and only
/// those of transactions older than every running one.
pub async fn pending(db: &PgPool, limit: i64) -> Result<Vec<Pending>, sqlx::Error> {
    let rows: Vec<OutboxRow> = sqlx::query_as(
        "SELECT seq, event_id, event_type, event_version, key, payload, created_at, request_id
         FROM outbox
         WHERE published_at IS NULL
           AND txid < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY txid, seq
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Pending {
            seq: row.seq,
            key: row.key,
            envelope: Envelope {
                id: row.event_id,
                event_type: row.event_type,
                version: row.event_version as u16,
                occurred_at: row.created_at,
                data: row.payload,
            },
            request_id: row.request_id,
        })
        .collect())
}

pub struct Relay {
    db: PgPool,
    config: RelayConfig,
}

impl Relay {
    pub fn new(db: PgPool, config: RelayConfig) -> Self {
        Self { db, config }
    }

    /// Runs until `stop` turns true: waits to become leader, then publishes.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> Result<(), RelayError> {
        let mut backoff = Duration::from_millis(100);
        while !*stop.borrow() {
            match self.lead(&mut stop).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    metrics::counter!("relay_errors_total").increment(1);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "relay failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        Ok(())
    }

    async fn lead(&self, stop: &mut watch::Receiver<bool>) -> Result<(), RelayError> {
        let mut lock_conn = self.db.acquire().await?;
        loop {
            let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1, 0)")
                .bind(LockClass::RelayLeader as i32)
                .fetch_one(&mut *lock_conn)
                .await?;
            if got {
                break;
            }
            metrics::gauge!("relay_leader").set(0.0);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return Ok(()),
            }
        }
        metrics::gauge!("relay_leader").set(1.0);
        tracing::info!("relay is the leader");
        let result = self.publish_loop(&mut lock_conn, stop).await;
        metrics::gauge!("relay_leader").set(0.0);
        // Closing the connection would release the lock too; unlocking
        // explicitly hands leadership over without waiting for the pool.
        let _ = sqlx::query("SELECT pg_advisory_unlock($1, 0)")
            .bind(LockClass::RelayLeader as i32)
            .execute(&mut *lock_conn)
            .await;
        result
    }

    async fn publish_loop(
        &self,
        lock_conn: &mut PgConnection,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RelayError> {
        let mut producer: FutureProducer = self.config.kafka.producer().create()?;
        let mut listener = PgListener::connect_with(&self.db).await?;
        listener.listen("outbox").await?;
        let mut last_cleanup = Instant::now() - Duration::from_secs(3600);
        let mut last_check = Instant::now() - Duration::from_secs(3600);
        let mut backoff = Duration::from_millis(50);
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if last_check.elapsed() >= Duration::from_secs(1) {
                // Proves we still hold the lock's connection; if it died, the
                // lock is gone and another relay may lead, so stop publishing.
                sqlx::query("SELECT 1").execute(&mut *lock_conn).await?;
                self.report_backlog().await?;
                last_check = Instant::now();
            }
            if last_cleanup.elapsed() > Duration::from_secs(60) {
                self.delete_published().await?;
                last_cleanup = Instant::now();
            }
            let (fetched, published) = self.publish_batch(&producer).await?;
            if published < fetched {
                // A broker that restarted may have forgotten this idempotent
                // producer and refuse its sequence numbers for good, so the
                // next attempt uses a new producer (a new producer id). What
                // the old one may still deliver becomes a duplicate, which
                // consumers tolerate.
                producer = self.config.kafka.producer().create()?;
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            backoff = Duration::from_millis(50);
            if fetched as i64 == self.config.batch_size {
                continue;
            }
            tokio::select! {
                notification = listener.recv() => { notification?; }
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = stop.changed() => return Ok(()),
            }
            // Every commit notifies; one fetch serves all that queued up.
            while let Some(notification) = listener.recv().now_or_never() {
                notification?;
            }
        }
    }

    /// Publishes one batch; returns (rows fetched, rows marked published).
    async fn publish_batch(&self, producer: &FutureProducer) -> Result<(usize, usize), RelayError> {
        let rows = pending(&self.db, self.config.batch_size).await?;
        if rows.is_empty() {
            return Ok((0, 0));
        }
        let started = Instant::now();
        let acknowledged = publish(producer, &self.config.kafka.events_topic, &rows).await;
        if acknowledged > 0 {
            let done = &rows[..acknowledged];
            let seqs: Vec<i64> = done.iter().map(|r| r.seq).collect();
            sqlx::query("UPDATE outbox SET published_at = now() WHERE seq = ANY($1)")
                .bind(&seqs)
                .execute(&self.db)
                .await?;
            let now = chrono::Utc::now();
            for row in done {
                let lag = (now - row.envelope.occurred_at)
                    .to_std()
                    .unwrap_or_default();
                metrics::histogram!("relay_commit_to_publish_seconds").record(lag.as_secs_f64());
            }
            metrics::counter!("relay_published_total").increment(acknowledged as u64);
            metrics::histogram!("relay_batch_publish_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        Ok((rows.len(), acknowledged))
    }

    async fn report_backlog(&self) -> Result<(), RelayError> {
        let (rows, oldest): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), extract(epoch FROM now() - min(created_at))::float8
             FROM outbox WHERE published_at IS NULL",
        )
        .fetch_one(&self.db)
        .await?;
        metrics::gauge!("outbox_backlog_rows").set(rows as f64);
        metrics::gauge!("outbox_oldest_unpublished_age_seconds").set(oldest.unwrap_or(0.0));
        Ok(())
    }

    /// Deletes published rows past retention in batches, so every
    /// statement stays well inside `statement_timeout` however many rows
    /// have piled up.
    async fn delete_published(&self) -> Result<(), RelayError> {
        const BATCH: i64 = 10_000;
        let mut deleted = 0;
        loop {
            let batch = sqlx::query(
                "DELETE FROM outbox WHERE seq IN (
                     SELECT seq FROM outbox
                     WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)",
            )
            .bind(self.config.retention.as_secs_f64())
            .bind(BATCH)
            .execute(&self.db)
            .await?
            .rows_affected();
            deleted += batch;
            if batch < BATCH as u64 {
                break;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "deleted published outbox rows past retention");
        }
        Ok(())
    }
}

/// Sends `rows` to `topic` and waits for the broker's answers; returns the
/// length of the acknowledged prefix (everything after a failure will be
/// sent again, in order).
pub async fn publish(producer: &FutureProducer, topic: &str, rows: &[Pending]) -> usize {
    let payloads: Vec<Vec<u8>> = rows.iter().map(|r| r.envelope.to_bytes()).collect();
    let deliveries = rows.iter().zip(&payloads).map(|(row, payload)| {
        let event_id = row.envelope.id.to_string();
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: "event_type",
                value: Some(row.envelope.event_type.as_str()),
            })
            .insert(Header {
                key: "event_id",
                value: Some(event_id.as_str()),
            });
        if let Some(id) = &row.request_id {
            headers = headers.insert(Header {
                key: "request_id",
                value: Some(id.as_str()),
            });
        }
        let record = FutureRecord::to(topic)
            .key(row.key.as_str())
            .payload(payload.as_slice())
            .headers(headers);
        producer.send(record, Duration::from_secs(30))
    });
    let results = join_all(deliveries).await;
    let acknowledged = results.iter().take_while(|r| r.is_ok()).count();
    if let Some(Err((e, _))) = results.get(acknowledged) {
        metrics::counter!("relay_publish_errors_total").increment(1);
        tracing::warn!(error = %e, acknowledged, batch = rows.len(), "publish failed");
    }
    acknowledged
}

/// `# HELP` lines for the relay's metrics.
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("outbox_backlog_rows", "Outbox rows not yet published.");
    describe_gauge!(
        "outbox_oldest_unpublished_age_seconds",
        Unit::Seconds,
        "Age of the oldest unpublished outbox row (0 when none)."
    );
    describe_counter!("relay_published_total", "Events the broker acknowledged.");
    describe_counter!("relay_publish_errors_total", "Publish batches that failed.");
    describe_counter!("relay_errors_total", "Relay loop failures, retried.");
    describe_gauge!("relay_leader", "1 while this relay holds the leader lock.");
    describe_histogram!(
        "relay_commit_to_publish_seconds",
        Unit::Seconds,
        "From an event's commit to the broker's acknowledgement."
    );
    describe_histogram!(
        "relay_batch_publish_seconds",
        Unit::Seconds,
        "Time to publish one batch."
    );
}
