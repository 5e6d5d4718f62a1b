//! A record the projector cannot decode goes to the dead-letter topic with
//! the error and its source position, and its partition keeps flowing.

use std::time::{Duration, Instant};

use broker::KafkaConfig;
use e2e::Stack;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_its_partition_keeps_flowing() {
    let (stack, http, [alice]) = Stack::with_accounts(&[], ["alice"]).await;
    let kafka = KafkaConfig {
        brokers: platform::testing::kafka_brokers(),
        events_topic: stack.events_topic.clone(),
        partitions: 3,
        replication: 1,
        client_debug: None,
    };
    // Keyed like Alice's events, so it sits in her partition, ahead of her next post.
    let producer: FutureProducer = kafka.producer().create().unwrap();
    producer
        .send(
            FutureRecord::to(&kafka.events_topic)
                .key(alice.id.as_str())
                .payload("{not an event"),
            Duration::from_secs(10),
        )
        .await
        .expect("the broker takes the poison record");

    let response = stack
        .acting(&http, &alice.access)
        .post("/v1/posts", json!({"text": "after the poison"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let page = stack
        .eventually(
            &http,
            &stack.read("/v1/feed"),
            Some(&alice.access),
            |p: &Value| p["items"].as_array().is_some_and(|items| !items.is_empty()),
        )
        .await;
    assert_eq!(page["items"][0]["post"]["text"], "after the poison");

    let consumer: StreamConsumer = kafka
        .consumer(&platform::testing::unique("dlq"))
        .create()
        .unwrap();
    consumer.subscribe(&[&kafka.dead_letter_topic()]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.recv())
            .await
            .expect("a dead letter arrives")
        {
            Ok(message) => break message.detach(),
            Err(_) => continue,
        }
    };
    assert_eq!(message.payload(), Some(&b"{not an event"[..]));
    let headers = message.headers().expect("dead letters carry headers");
    let names: Vec<&str> = headers.iter().map(|h| h.key).collect();
    for name in ["error", "source_topic", "source_partition", "source_offset"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}
