//! The Kafka side of the projector.
//!
//! At least once: an event's offset is stored only after all its effects
//! are written (or it was dead-lettered), and stored offsets are committed
//! in the background and on shutdown. A record that cannot be decoded, or
//! whose effects still fail after `max_attempts` tries while the stores are
//! reachable, goes to the dead-letter topic with the error and its source
//! position in headers, and its partition moves on. While a store is
//! unreachable nothing is dead-lettered: the consumer waits, so an outage
//! delays the read model but never drops events from it.

use std::time::{Duration, Instant};

use contracts::events::{Decoded, Envelope};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;
use tracing::Instrument;

use crate::config::Config;
use crate::effects::Effects;
use crate::lag::{LagReporter, STATISTICS_INTERVAL_MS};

pub struct EventConsumer {
    consumer: StreamConsumer<LagReporter>,
    dead_letters: FutureProducer,
    dead_letter_topic: String,
    effects: Effects,
    max_attempts: u32,
}

enum Outcome {
    Applied,
    Skipped,
    DeadLettered,
}

impl EventConsumer {
    pub fn new(config: &Config, effects: Effects) -> Result<Self, rdkafka::error::KafkaError> {
        let kafka = &config.kafka;
        let mut client = kafka.consumer(&config.group);
        client.set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
        if let Some(id) = &config.instance_id {
            client.set("group.instance.id", id);
        }
        let consumer: StreamConsumer<LagReporter> = client.create_with_context(LagReporter)?;
        consumer.subscribe(&[&kafka.events_topic])?;
        metrics::gauge!("projector_assigned_partitions").set(0.0);
        Ok(Self {
            consumer,
            dead_letters: kafka.producer().create()?,
            dead_letter_topic: kafka.dead_letter_topic(),
            effects,
            max_attempts: config.max_attempts,
        })
    }

    /// Consumes until `stop` turns true, then commits what was processed.
    pub async fn run(
        &self,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), rdkafka::error::KafkaError> {
        loop {
            let message = tokio::select! {
                _ = stop.changed() => break,
                message = self.consumer.recv() => message,
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            // The request that wrote the event (a header the relay sets) goes
            // on every line logged while applying it.
            let span = tracing::error_span!(
                "event",
                partition = message.partition(),
                offset = message.offset(),
                request_id = tracing::field::Empty,
            );
            if let Some(id) =
                header(&message, "request_id").filter(|id| platform::ops::plausible_request_id(id))
            {
                span.record("request_id", id);
            }
            let Some(outcome) = self.process(&message, &mut stop).instrument(span).await else {
                break;
            };
            let label = match outcome {
                Outcome::Applied => "applied",
                Outcome::Skipped => "skipped",
                Outcome::DeadLettered => "dead_lettered",
            };
            let event_type = header(&message, "event_type")
                .unwrap_or("unknown")
                .to_owned();
            metrics::counter!("projector_events_total", "type" => event_type, "outcome" => label)
                .increment(1);
            self.consumer.store_offset_from_message(&message)?;
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(())
            | Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Applies one record; `None` if asked to stop before it was done.
    async fn process(
        &self,
        message: &BorrowedMessage<'_>,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Outcome> {
        let started = Instant::now();
        let payload = message.payload().unwrap_or_default();
        let (id, occurred_at, event) = match Envelope::decode(payload) {
            Ok(Decoded::Known {
                id,
                occurred_at,
                event,
            }) => (id, occurred_at, event),
            Ok(Decoded::Unknown(envelope)) => {
                tracing::info!(event_type = %envelope.event_type, version = envelope.version, "skipping an event this build does not know");
                self.mark_applied(envelope.id).await;
                return Some(Outcome::Skipped);
            }
            Err(e) => return self.dead_letter(message, &e.to_string(), stop).await,
        };
        let mut attempt = 0;
        let mut backoff = Duration::from_millis(100);
        loop {
            attempt += 1;
            let error = match self.effects.apply(&event).await {
                Ok(()) => {
                    metrics::histogram!("projector_event_processing_seconds")
                        .record(started.elapsed().as_secs_f64());
                    // From the write's commit to its effect in the read model:
                    // the pipeline lag a reader sees.
                    let lag = (chrono::Utc::now() - occurred_at)
                        .to_std()
                        .unwrap_or_default();
                    metrics::histogram!("projector_write_to_read_seconds", "type" => event.event_type())
                        .record(lag.as_secs_f64());
                    tracing::debug!(event_id = %id, event_type = event.event_type(), lag_seconds = lag.as_secs_f64(), "applied");
                    self.mark_applied(id).await;
                    return Some(Outcome::Applied);
                }
                Err(e) => e,
            };
            let stores_up = self.effects.ping().await.is_ok();
            tracing::warn!(error = %error, attempt, stores_up, partition = message.partition(), offset = message.offset(), "applying an event failed");
            if stores_up && attempt >= self.max_attempts {
                let outcome = self.dead_letter(message, &error.to_string(), stop).await;
                self.mark_applied(id).await;
                return outcome;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return None,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Lets reads waiting on this event's consistency token go ahead. A
    /// failure here only makes such reads wait out their bound.
    async fn mark_applied(&self, id: uuid::Uuid) {
        if let Err(e) = self.effects.cache().mark_applied(id).await {
            tracing::warn!(error = %e, "cannot record an applied event");
        }
    }

    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        error: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Outcome> {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "error",
                    value: Some(error),
                })
                .insert(Header {
                    key: "source_topic",
                    value: Some(message.topic()),
                })
                .insert(Header {
                    key: "source_partition",
                    value: Some(partition.as_str()),
                })
                .insert(Header {
                    key: "source_offset",
                    value: Some(offset.as_str()),
                });
            let mut record = FutureRecord::to(&self.dead_letter_topic)
                .payload(message.payload().unwrap_or_default())
                .headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            match self
                .dead_letters
                .send(record, Duration::from_secs(10))
                .await
            {
                Ok(_) => {
                    tracing::error!(%error, %partition, %offset, "event dead-lettered");
                    metrics::counter!("projector_dead_lettered_total").increment(1);
                    return Some(Outcome::DeadLettered);
                }
                Err((e, _)) => {
                    tracing::warn!(error = %e, "cannot write to the dead-letter topic; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return None,
                    }
                }
            }
        }
    }
}

fn header<'a>(message: &'a BorrowedMessage<'_>, name: &str) -> Option<&'a str> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}
