//! The Kafka side of the projector.
//!
//! At least once: an event's offset is stored only after all its effects
//! are written (or it was dead-lettered), and stored offsets are committed
//! in the background and on shutdown. A record that cannot be decoded, or
//! whose effects still fail after `max_attempts` tries while the stores are
//! reachable, goes to the dead-letter topic with the error and its source
//! position in headers, and its partition moves on. Transient failures
//! (timeouts, lost connections, lock waits, deadlocks, a store restarting;
//! [`readmodel::StoreError::is_transient`]) and failures while a store is
//! unreachable never count as tries: the consumer waits, so an outage
//! delays the read model but never drops events from it. A partition held
//! up that way shows as consumer lag.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use contracts::events::{Decoded, Envelope, UserSnapshot};
use futures::{StreamExt, stream};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;
use tracing::Instrument;

use crate::config::Config;
use crate::effects::{Effects, profiles_of};
use crate::lag::{LagReporter, STATISTICS_INTERVAL_MS};

pub struct EventConsumer {
    consumer: StreamConsumer<LagReporter>,
    dead_letters: FutureProducer,
    dead_letter_topic: String,
    effects: Effects,
    max_attempts: u32,
    batch_max: usize,
    batch_wait: Duration,
    concurrency: usize,
}

/// Of the records of a batch applied so far: their event ids and the user
/// snapshots they carried.
#[derive(Default)]
struct Finished {
    events: Vec<uuid::Uuid>,
    snapshots: Vec<UserSnapshot>,
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
            batch_max: config.batch_max,
            batch_wait: config.batch_wait,
            concurrency: config.concurrency,
        })
    }

    /// Consumes until `stop` turns true, then commits what was processed.
    ///
    /// Records are taken in batches: whatever is ready, up to
    /// `batch_max` records or `batch_wait` after the first. Within a batch,
    /// the records of one key are applied in order and different keys at
    /// once (at most `concurrency`): events whose effects touch the same
    /// data share a key (the author, or the followee), and the effects of
    /// events with different keys commute. A partition's offset moves past
    /// a record only when it and every earlier record of the batch in that
    /// partition are applied, so a stop mid-batch redelivers, never skips.
    pub async fn run(
        &self,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), rdkafka::error::KafkaError> {
        loop {
            let first = tokio::select! {
                _ = stop.changed() => break,
                message = self.consumer.recv() => message,
            };
            let first = match first {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let batch = self.fill_batch(first).await;
            metrics::histogram!("projector_batch_size").record(batch.len() as f64);
            let mut keys: HashMap<(i32, &[u8]), Vec<usize>> = HashMap::new();
            for (index, message) in batch.iter().enumerate() {
                let key = (message.partition(), message.key().unwrap_or_default());
                keys.entry(key).or_default().push(index);
            }
            let mut done = vec![false; batch.len()];
            let mut finished = Finished::default();
            let mut applied = stream::iter(keys.into_values())
                .map(|mut indexes| {
                    let stop = stop.clone();
                    let batch = &batch;
                    async move {
                        let mut finished = Finished::default();
                        let count = self
                            .apply_in_order(&indexes, batch, stop, &mut finished)
                            .await;
                        indexes.truncate(count);
                        (indexes, finished)
                    }
                })
                .buffer_unordered(self.concurrency);
            while let Some((indexes, more)) = applied.next().await {
                for index in indexes {
                    done[index] = true;
                }
                finished.events.extend(more.events);
                finished.snapshots.extend(more.snapshots);
            }
            drop(applied);
            if !self.finish(&finished, &mut stop).await {
                break;
            }
            let partitions: Vec<i32> = batch.iter().map(|m| m.partition()).collect();
            let (to_store, stopped) = applied_prefixes(&partitions, &done);
            for index in to_store {
                self.consumer.store_offset_from_message(&batch[index])?;
            }
            if stopped {
                break;
            }
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(())
            | Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `first` and the records that are ready within the batch's bounds.
    async fn fill_batch<'a>(&'a self, first: BorrowedMessage<'a>) -> Vec<BorrowedMessage<'a>> {
        let deadline = tokio::time::Instant::now() + self.batch_wait;
        let mut batch = vec![first];
        while batch.len() < self.batch_max {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(Ok(message)) => batch.push(message),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error");
                    break;
                }
                Err(_) => break,
            }
        }
        batch
    }

    /// What a batch leaves to do once all its records are applied: the
    /// user snapshots they carried, newest of each user, and telling reads
    /// that wait on their consistency tokens. Retried until it succeeds;
    /// false if asked to stop first, and then no offset of the batch is
    /// stored, so it is all delivered again.
    async fn finish(&self, finished: &Finished, stop: &mut watch::Receiver<bool>) -> bool {
        let profiles = profiles_of(&finished.snapshots);
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = async {
                self.effects.put_profiles(&profiles).await?;
                self.effects
                    .cache()
                    .mark_all_applied(&finished.events)
                    .await
            }
            .await;
            match result {
                Ok(()) => return true,
                Err(error) => tracing::warn!(%error, "finishing a batch failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return false,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Applies the records at `indexes` of `batch` in order, noting in
    /// `finished` what is left to do for them; returns how many were done
    /// before a stop.
    async fn apply_in_order(
        &self,
        indexes: &[usize],
        batch: &[BorrowedMessage<'_>],
        mut stop: watch::Receiver<bool>,
        finished: &mut Finished,
    ) -> usize {
        for (done, message) in indexes.iter().map(|&i| &batch[i]).enumerate() {
            // The request that wrote the event (a header the relay sets) goes
            // on every line logged while applying it.
            let span = tracing::error_span!(
                "event",
                partition = message.partition(),
                offset = message.offset(),
                request_id = tracing::field::Empty,
            );
            if let Some(id) =
                header(message, "request_id").filter(|id| platform::ops::plausible_request_id(id))
            {
                span.record("request_id", id);
            }
            let Some(outcome) = self
                .process(message, &mut stop, finished)
                .instrument(span)
                .await
            else {
                return done;
            };
            let label = match outcome {
                Outcome::Applied => "applied",
                Outcome::Skipped => "skipped",
                Outcome::DeadLettered => "dead_lettered",
            };
            let event_type = header(message, "event_type")
                .unwrap_or("unknown")
                .to_owned();
            metrics::counter!("projector_events_total", "type" => event_type, "outcome" => label)
                .increment(1);
        }
        indexes.len()
    }

    /// Applies one record; `None` if asked to stop before it was done.
    async fn process(
        &self,
        message: &BorrowedMessage<'_>,
        stop: &mut watch::Receiver<bool>,
        finished: &mut Finished,
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
                finished.events.push(envelope.id);
                return Some(Outcome::Skipped);
            }
            Err(e) => return self.dead_letter(message, &e.to_string(), stop).await,
        };
        let mut attempt = 0;
        let mut backoff = Duration::from_millis(100);
        loop {
            let error = match self.effects.apply_without_profiles(&event).await {
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
                    finished.events.push(id);
                    finished
                        .snapshots
                        .extend(event.user_snapshots().into_iter().cloned());
                    return Some(Outcome::Applied);
                }
                Err(e) => e,
            };
            // Only a failure that may lie in the event itself counts towards
            // dead-lettering it, and only while the stores answer: attempts
            // made during an outage, or that lost to a timeout or a lock,
            // say nothing about the event.
            let counts = !error.is_transient() && self.effects.ping().await.is_ok();
            if counts {
                attempt += 1;
            }
            tracing::warn!(error = %error, attempt, counts, partition = message.partition(), offset = message.offset(), "applying an event failed");
            if counts && attempt >= self.max_attempts {
                let outcome = self.dead_letter(message, &error.to_string(), stop).await;
                finished.events.push(id);
                return outcome;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return None,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
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

/// For a batch whose records lie in `partitions` (each partition's in
/// offset order) and of which `done` were applied: the index of the last
/// record of each partition's applied prefix (the offsets to store), and
/// whether any record was left unapplied.
fn applied_prefixes(partitions: &[i32], done: &[bool]) -> (Vec<usize>, bool) {
    let mut last_applied: BTreeMap<i32, usize> = BTreeMap::new();
    let mut unfinished: BTreeSet<i32> = BTreeSet::new();
    for (index, (&partition, &done)) in partitions.iter().zip(done).enumerate() {
        if !done {
            unfinished.insert(partition);
        } else if !unfinished.contains(&partition) {
            last_applied.insert(partition, index);
        }
    }
    (last_applied.into_values().collect(), !unfinished.is_empty())
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

#[cfg(test)]
mod tests {
    use super::applied_prefixes;
    use proptest::prelude::*;

    proptest! {
        /// The stored offset of a partition never passes an unapplied
        /// record, and covers every applied record before the first gap.
        #[test]
        fn offsets_stop_at_the_first_unapplied_record(
            records in proptest::collection::vec((0..4i32, any::<bool>()), 0..60)
        ) {
            let partitions: Vec<i32> = records.iter().map(|r| r.0).collect();
            let done: Vec<bool> = records.iter().map(|r| r.1).collect();
            let (stored, stopped) = applied_prefixes(&partitions, &done);
            prop_assert_eq!(stopped, done.contains(&false));
            for partition in 0..4 {
                let mine: Vec<usize> = (0..records.len()).filter(|&i| partitions[i] == partition).collect();
                let prefix: Vec<usize> = mine.iter().copied().take_while(|&i| done[i]).collect();
                let expected = prefix.last().copied();
                let got = stored.iter().copied().find(|&i| partitions[i] == partition);
                prop_assert_eq!(got, expected);
            }
        }
    }
}
