//! Broker settings shared by the relay, the projector and the tests that
//! guard them, so that what is tested is exactly what runs.
//!
//! It may depend on `platform` (configuration) and rdkafka only.
//!
//! # Layout
//! - this file: [`KafkaConfig`] from the environment, producer and
//!   consumer settings, topic creation.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use platform::config::{self, ConfigError};

/// Where the broker is and which topics carry events.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `KAFKA_BROKERS`, default `127.0.0.1:9092`.
    pub brokers: String,
    /// `KAFKA_EVENTS_TOPIC`, default `microblog.events`.
    pub events_topic: String,
    /// `KAFKA_EVENTS_PARTITIONS`, default 6: used only when the topic is created here.
    pub partitions: i32,
    /// `KAFKA_REPLICATION_FACTOR`, default 1.
    pub replication: i32,
    /// `KAFKA_CLIENT_DEBUG`, default none: librdkafka's `debug` contexts
    /// (e.g. `broker,protocol,cgrp,eos`) for every client, logged at debug.
    pub client_debug: Option<String>,
}

impl KafkaConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            brokers: config::or("KAFKA_BROKERS", "127.0.0.1:9092".to_owned())?,
            events_topic: config::or("KAFKA_EVENTS_TOPIC", "microblog.events".to_owned())?,
            partitions: config::in_range("KAFKA_EVENTS_PARTITIONS", 6, 1..=1024)?,
            replication: config::in_range("KAFKA_REPLICATION_FACTOR", 1, 1..=16)?,
            client_debug: config::optional("KAFKA_CLIENT_DEBUG")?,
        })
    }

    /// The dead-letter topic for events the projector cannot apply.
    pub fn dead_letter_topic(&self) -> String {
        format!("{}.dlq", self.events_topic)
    }

    /// What every client shares: where the brokers are, and debugging.
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        if let Some(contexts) = &self.client_debug {
            c.set("debug", contexts);
        }
        c
    }

    /// The relay's producer: idempotent with `acks=all`, so retries neither
    /// duplicate nor reorder records within a partition.
    pub fn producer(&self) -> ClientConfig {
        let mut c = self.client();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("message.timeout.ms", "30000")
            .set("linger.ms", "2")
            .set("partitioner", "murmur2_random");
        c
    }

    /// A consumer that stores an offset only when the application says the
    /// record is fully processed; stored offsets are committed in the
    /// background and on rebalance or close.
    pub fn consumer(&self, group: &str) -> ClientConfig {
        let mut c = self.client();
        c.set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // Kafka's default. A broker outage shorter than this keeps the
            // group's membership. Longer, librdkafka rejoins under a new
            // member id, and the local broker (tansu 0.6) never expires the
            // old one after its own restart, so the group would stall.
            .set("session.timeout.ms", "45000")
            // The broker may hold an empty fetch for the whole wait; the
            // default 500 ms would then be the floor of write-to-feed latency.
            .set("fetch.wait.max.ms", "50");
        c
    }

    /// Creates the events and dead-letter topics if they do not exist.
    pub async fn ensure_topics(&self) -> Result<(), rdkafka::error::KafkaError> {
        let admin: AdminClient<DefaultClientContext> = self.client().create()?;
        let dlq = self.dead_letter_topic();
        // With three or more replicas an acknowledged write (acks=all) is
        // on at least two brokers, so losing one loses nothing.
        let min_insync = (self.replication >= 3).then_some("2");
        let topic = |name, partitions| {
            let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(self.replication));
            match min_insync {
                Some(n) => topic.set("min.insync.replicas", n),
                None => topic,
            }
        };
        let topics = [topic(&self.events_topic, self.partitions), topic(&dlq, 1)];
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&topics, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(rdkafka::error::KafkaError::AdminOp(code)).inspect_err(|_| {
                        tracing::error!(%topic, ?code, "cannot create topic");
                    });
                }
            }
        }
        Ok(())
    }
}
