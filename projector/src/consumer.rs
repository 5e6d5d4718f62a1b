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
//!
//! Records flow without a barrier: the dispatcher hands each record to the
//! lane of its key (`concurrency` lanes, each applying its records in
//! order), and a committer finishes what the lanes applied (user snapshots,
//! applied-event marks) in groups and moves each partition's offset over
//! its applied prefix. A slow chain of one key's events holds back only
//! the keys that share its lane, not every other key's next events.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use contracts::events::{Decoded, Envelope, UserSnapshot};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::Instrument;

use crate::config::Config;
use crate::effects::{Effects, profiles_of};
use crate::lag::{LagReporter, STATISTICS_INTERVAL_MS};

pub struct EventConsumer {
    consumer: StreamConsumer<LagReporter>,
    topic: String,
    dead_letters: FutureProducer,
    dead_letter_topic: String,
    effects: Effects,
    max_attempts: u32,
    max_in_flight: usize,
    concurrency: usize,
}

/// Of records applied: their event ids and the user snapshots they carried.
#[derive(Default)]
struct Finished {
    events: Vec<uuid::Uuid>,
    snapshots: Vec<UserSnapshot>,
}

/// A record a lane applied (or skipped, or dead-lettered).
struct Applied {
    partition: i32,
    offset: i64,
    finished: Finished,
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
            topic: kafka.events_topic.clone(),
            dead_letters: kafka.producer().create()?,
            dead_letter_topic: kafka.dead_letter_topic(),
            effects,
            max_attempts: config.max_attempts,
            max_in_flight: config.batch_max,
            concurrency: config.concurrency,
        })
    }

    /// Consumes until `stop` turns true, then commits what was processed.
    ///
    /// Events whose effects touch the same data share a key (the author,
    /// or the followee), and the effects of events with different keys
    /// commute, so each key's records go to one lane, applied in order, and
    /// lanes run at once. At most `max_in_flight` records are between the
    /// broker and their stored offset. A partition's offset moves past a
    /// record only when it and every earlier record of that partition are
    /// applied and finished, so a stop redelivers, never skips.
    pub async fn run(&self, stop: watch::Receiver<bool>) -> Result<(), rdkafka::error::KafkaError> {
        let offsets = Mutex::new(Offsets::default());
        let permits = Semaphore::new(self.max_in_flight);
        let (applied_tx, applied_rx) = mpsc::unbounded_channel();
        let (lane_txs, lane_rxs): (Vec<_>, Vec<_>) = (0..self.concurrency)
            .map(|_| mpsc::unbounded_channel::<OwnedMessage>())
            .unzip();
        let lanes = futures::future::join_all(
            lane_rxs
                .into_iter()
                .map(|rx| self.lane(rx, applied_tx.clone(), stop.clone())),
        );
        drop(applied_tx);
        tokio::join!(
            self.dispatch(lane_txs, &offsets, &permits, stop.clone()),
            lanes,
            self.commit_applied(applied_rx, &offsets, &permits, stop.clone()),
        );
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(())
            | Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Takes records from the broker and hands each to its key's lane,
    /// until asked to stop (dropping the lanes' senders ends them).
    async fn dispatch(
        &self,
        lanes: Vec<mpsc::UnboundedSender<OwnedMessage>>,
        offsets: &Mutex<Offsets>,
        permits: &Semaphore,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let permit = tokio::select! {
                _ = stop.changed() => return,
                permit = permits.acquire() => permit,
            };
            let Ok(permit) = permit else { return };
            let message = tokio::select! {
                _ = stop.changed() => return,
                message = self.consumer.recv() => message,
            };
            let message = match message {
                Ok(m) => m.detach(),
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            // Released by the committer once the record's offset is stored.
            permit.forget();
            offsets
                .lock()
                .expect("offsets lock")
                .dispatched(message.partition(), message.offset());
            let lane = lane_of(message.key().unwrap_or_default(), lanes.len());
            if lanes[lane].send(message).is_err() {
                return;
            }
        }
    }

    /// Applies one lane's records in order until its sender is gone or a
    /// stop arrives; the records left then are delivered again.
    async fn lane(
        &self,
        mut records: mpsc::UnboundedReceiver<OwnedMessage>,
        applied: mpsc::UnboundedSender<Applied>,
        mut stop: watch::Receiver<bool>,
    ) {
        while let Some(message) = records.recv().await {
            if *stop.borrow() {
                return;
            }
            let mut finished = Finished::default();
            if self
                .apply_one(&message, &mut stop, &mut finished)
                .await
                .is_none()
            {
                return;
            }
            let record = Applied {
                partition: message.partition(),
                offset: message.offset(),
                finished,
            };
            if applied.send(record).is_err() {
                return;
            }
        }
    }

    /// Finishes applied records in groups (whatever has arrived while the
    /// previous group was being finished) and stores the offsets their
    /// partitions' applied prefixes reached. Ends when every lane has.
    async fn commit_applied(
        &self,
        mut applied: mpsc::UnboundedReceiver<Applied>,
        offsets: &Mutex<Offsets>,
        permits: &Semaphore,
        mut stop: watch::Receiver<bool>,
    ) {
        while let Some(first) = applied.recv().await {
            let mut group = vec![first];
            while let Ok(more) = applied.try_recv() {
                group.push(more);
            }
            metrics::histogram!("projector_batch_size").record(group.len() as f64);
            let mut finished = Finished::default();
            let mut positions = Vec::with_capacity(group.len());
            for record in group {
                positions.push((record.partition, record.offset));
                finished.events.extend(record.finished.events);
                finished.snapshots.extend(record.finished.snapshots);
            }
            if !self.finish(&finished, &mut stop).await {
                return;
            }
            let (to_store, released) = offsets.lock().expect("offsets lock").applied(&positions);
            permits.add_permits(released);
            for (partition, offset) in to_store {
                // A partition taken away by a rebalance refuses the store;
                // its new owner starts from the last commit and redelivers.
                if let Err(error) = self.consumer.store_offset(&self.topic, partition, offset) {
                    tracing::warn!(%error, partition, offset, "storing an offset failed");
                }
            }
        }
    }

    /// What applied records leave to do: the user snapshots they carried,
    /// newest of each user, and telling reads that wait on their
    /// consistency tokens. Retried until it succeeds; false if asked to
    /// stop first, and then none of their offsets is stored, so they are
    /// delivered again.
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

    /// Applies one record with its span and outcome metric; `None` if asked
    /// to stop before it was done.
    async fn apply_one(
        &self,
        message: &OwnedMessage,
        stop: &mut watch::Receiver<bool>,
        finished: &mut Finished,
    ) -> Option<()> {
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
        let outcome = self
            .process(message, stop, finished)
            .instrument(span)
            .await?;
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
        Some(())
    }

    /// Applies one record; `None` if asked to stop before it was done.
    async fn process(
        &self,
        message: &OwnedMessage,
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
            attempt += 1;
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
            let stores_up = self.effects.ping().await.is_ok();
            tracing::warn!(error = %error, attempt, stores_up, partition = message.partition(), offset = message.offset(), "applying an event failed");
            if stores_up && attempt >= self.max_attempts {
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
        message: &OwnedMessage,
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

/// The lane of a record's key: the same key always the same lane.
fn lane_of(key: &[u8], lanes: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

/// The records between the broker and their stored offset, by partition:
/// whether each is applied (and finished) yet.
#[derive(Default)]
struct Offsets {
    partitions: HashMap<i32, BTreeMap<i64, bool>>,
}

impl Offsets {
    fn dispatched(&mut self, partition: i32, offset: i64) {
        self.partitions
            .entry(partition)
            .or_default()
            .insert(offset, false);
    }

    /// Marks `positions` applied; returns the offset each partition's
    /// applied prefix now reaches, where it moved (the offsets to store),
    /// and how many records left the books.
    fn applied(&mut self, positions: &[(i32, i64)]) -> (Vec<(i32, i64)>, usize) {
        for (partition, offset) in positions {
            if let Some(done) = self
                .partitions
                .get_mut(partition)
                .and_then(|records| records.get_mut(offset))
            {
                *done = true;
            }
        }
        let mut to_store = Vec::new();
        let mut released = 0;
        for (&partition, records) in &mut self.partitions {
            let mut reached = None;
            while let Some(entry) = records.first_entry() {
                if !*entry.get() {
                    break;
                }
                reached = Some(*entry.key());
                entry.remove();
                released += 1;
            }
            if let Some(offset) = reached {
                to_store.push((partition, offset));
            }
        }
        to_store.sort_unstable();
        (to_store, released)
    }
}

fn header<'a>(message: &'a OwnedMessage, name: &str) -> Option<&'a str> {
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
    use super::Offsets;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    proptest! {
        /// Records dispatched in partition order and applied in any order,
        /// in any grouping: the stored offset of a partition never passes
        /// an unapplied record, ends at the last record of its applied
        /// prefix, and every record is released exactly once.
        #[test]
        fn offsets_stop_at_the_first_unapplied_record(
            partitions in proptest::collection::vec(0..4i32, 0..60),
            ranks in proptest::collection::vec(any::<u32>(), 60),
            applied_count in any::<proptest::sample::Index>(),
            group_sizes in proptest::collection::vec(1..8usize, 1..20),
        ) {
            let mut next: BTreeMap<i32, i64> = BTreeMap::new();
            let mut offsets = Offsets::default();
            let mut records = Vec::new();
            for &partition in &partitions {
                let offset = *next.entry(partition).and_modify(|o| *o += 1).or_insert(0);
                offsets.dispatched(partition, offset);
                records.push((partition, offset));
            }
            // Applied in a random order (sorted by random ranks), and only
            // a prefix of that order applied at all.
            let mut shuffled: Vec<(usize, (i32, i64))> = records.iter().copied().enumerate().collect();
            shuffled.sort_by_key(|(i, _)| ranks[*i]);
            let shuffled: Vec<(i32, i64)> = shuffled.into_iter().map(|(_, r)| r).collect();
            let applied_n = if shuffled.is_empty() { 0 } else { applied_count.index(shuffled.len() + 1) };
            let applied: Vec<(i32, i64)> = shuffled[..applied_n].to_vec();
            let mut stored: BTreeMap<i32, i64> = BTreeMap::new();
            let mut released = 0;
            let mut rest = &applied[..];
            for size in group_sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (group, tail) = rest.split_at((*size).min(rest.len()));
                rest = tail;
                let (to_store, freed) = offsets.applied(group);
                released += freed;
                for (partition, offset) in to_store {
                    prop_assert!(stored.get(&partition).is_none_or(|&o| o < offset));
                    stored.insert(partition, offset);
                }
            }
            let applied: BTreeSet<(i32, i64)> = applied.into_iter().collect();
            let mut expected_released = 0;
            for (&partition, &count) in &next {
                let prefix = (0..=count).take_while(|o| applied.contains(&(partition, *o))).count() as i64;
                expected_released += prefix as usize;
                prop_assert_eq!(stored.get(&partition).copied(), (prefix > 0).then_some(prefix - 1));
            }
            prop_assert_eq!(released, expected_released);
        }
    }
}
