//! Guards what the relay and the projector need from the broker, with the
//! exact client settings they use ([`broker::KafkaConfig`]):
//! topic creation, an idempotent `acks=all` producer that keeps per-key
//! order, a consumer group whose offsets are stored only after processing,
//! and a restart after a commit inside a multi-record batch that resumes
//! exactly at the committed offset.

use std::collections::HashMap;
use std::time::Duration;

use broker::KafkaConfig;
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

fn config(partitions: i32) -> KafkaConfig {
    KafkaConfig {
        brokers: platform::testing::kafka_brokers(),
        events_topic: platform::testing::unique("guard"),
        partitions,
        replication: 1,
        client_debug: None,
    }
}

/// Produces `count` records without awaiting each, so they leave in
/// multi-record batches, then waits for every acknowledgement.
async fn produce(config: &KafkaConfig, count: usize, keys: usize) {
    let producer: FutureProducer = config.producer().create().unwrap();
    let payloads: Vec<(String, String)> = (0..count)
        .map(|i| (format!("key-{}", i % keys), i.to_string()))
        .collect();
    let sends = payloads.iter().map(|(key, value)| {
        producer.send(
            FutureRecord::to(&config.events_topic)
                .key(key)
                .payload(value),
            Duration::from_secs(30),
        )
    });
    for result in futures::future::join_all(sends).await {
        result.expect("the broker acknowledges every record");
    }
}

async fn next(consumer: &StreamConsumer) -> rdkafka::message::OwnedMessage {
    tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record arrives within 30 s")
        .expect("the consumer reads without error")
        .detach()
}

#[tokio::test]
async fn resumes_exactly_at_the_committed_offset_inside_a_batch() {
    let config = config(1);
    config.ensure_topics().await.unwrap();
    produce(&config, 200, 7).await;
    let group = platform::testing::unique("group");

    let first: StreamConsumer = config.consumer(&group).create().unwrap();
    first.subscribe(&[&config.events_topic]).unwrap();
    for expected in 0..77i64 {
        let message = next(&first).await;
        assert_eq!(message.offset(), expected);
        assert_eq!(message.payload(), Some(expected.to_string().as_bytes()));
        // Stored only after "processing", as the projector does.
        first
            .store_offset(&config.events_topic, message.partition(), message.offset())
            .unwrap();
    }
    first.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(first);

    let second: StreamConsumer = config.consumer(&group).create().unwrap();
    second.subscribe(&[&config.events_topic]).unwrap();
    for expected in 77..200i64 {
        let message = next(&second).await;
        assert_eq!(message.offset(), expected, "no record skipped or repeated");
        assert_eq!(message.payload(), Some(expected.to_string().as_bytes()));
    }
}

#[tokio::test]
async fn keeps_each_keys_records_in_order_across_partitions() {
    let config = config(3);
    config.ensure_topics().await.unwrap();
    config
        .ensure_topics()
        .await
        .expect("creating existing topics is harmless");
    produce(&config, 300, 10).await;

    let consumer: StreamConsumer = config
        .consumer(&platform::testing::unique("group"))
        .create()
        .unwrap();
    consumer.subscribe(&[&config.events_topic]).unwrap();
    let mut last_by_key: HashMap<Vec<u8>, (i32, i64)> = HashMap::new();
    for _ in 0..300 {
        let message = next(&consumer).await;
        let key = message.key().unwrap().to_vec();
        let value: i64 = std::str::from_utf8(message.payload().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        if let Some(&(partition, previous)) = last_by_key.get(&key) {
            assert_eq!(partition, message.partition(), "one key, one partition");
            assert!(value > previous, "records of one key arrive in order");
        }
        last_by_key.insert(key, (message.partition(), value));
    }
    assert_eq!(last_by_key.len(), 10);
}
