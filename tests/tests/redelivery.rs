//! A relay that dies after the broker acknowledged a batch but before it
//! marked the rows published sends them again when it comes back. This test
//! produces exactly that state, deterministically: it publishes every
//! pending row itself, with the relay's own encoding and producer settings,
//! and does not mark them; then the real relay runs. Every event reaches
//! the topic twice, and projecting the doubled stream yields the same read
//! model as projecting each event once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker::KafkaConfig;
use contracts::events::{Decoded, Envelope, Event};
use contracts::ids::UserId;
use projector::effects::Effects;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use readmodel::cache::{CacheSettings, HotCache};
use readmodel::postgres::PgFeedStore;
use readmodel::{FeedWriter, ProfileRecord};
use relay::Relay;
use relay::config::RelayConfig;
use sqlx::PgPool;

/// Writes a small world through the domain functions, each command in its
/// own transaction under its key lock, as the API does.
async fn write_world(db: &PgPool) -> Vec<UserId> {
    let mut users = Vec::new();
    for name in ["ann", "ben", "cat", "dan"] {
        let account = write_api::accounts::validate(
            name,
            &format!("{name}@example.com"),
            "a long enough passphrase",
        )
        .unwrap();
        let (user, _) = write_api::accounts::create(db, &account, "hash")
            .await
            .unwrap();
        users.push(user.id);
    }
    for (follower, followee) in [(1, 0), (2, 0), (3, 0), (0, 1), (2, 1)] {
        let (a, b) = (users[follower], users[followee]);
        let mut tx = db.begin().await.unwrap();
        write_api::idempotency::lock_key(&mut tx, b).await.unwrap();
        write_api::follows::follow(&mut tx, a, b, 10_000)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let mut posts = Vec::new();
    for n in 0..12 {
        let author = users[n % 2];
        let mut tx = db.begin().await.unwrap();
        write_api::idempotency::lock_key(&mut tx, author)
            .await
            .unwrap();
        let (id, _, _) = write_api::posts::create(&mut tx, author, &format!("post {n}"), None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        posts.push((author, id));
    }
    for &(author, id) in posts.iter().step_by(4) {
        let mut tx = db.begin().await.unwrap();
        write_api::idempotency::lock_key(&mut tx, author)
            .await
            .unwrap();
        write_api::posts::delete(&mut tx, author, id).await.unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = db.begin().await.unwrap();
    write_api::idempotency::lock_key(&mut tx, users[0])
        .await
        .unwrap();
    write_api::follows::unfollow(&mut tx, users[3], users[0], 10_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    users
}

async fn read_model() -> (Arc<dyn FeedWriter>, Effects) {
    let (pool, _) = platform::testing::fresh_database(&readmodel::postgres::MIGRATOR).await;
    let store: Arc<dyn FeedWriter> = Arc::new(PgFeedStore::new(pool));
    let cache = HotCache::connect(
        &platform::testing::redis_url(),
        2,
        CacheSettings {
            prefix: format!("{}:", platform::testing::unique("redelivery")),
            feed_cap: 800,
            feed_ttl: Duration::from_secs(300),
            object_ttl: Duration::from_secs(300),
        },
    )
    .await
    .unwrap();
    (store.clone(), Effects::new(store, cache, 2))
}

/// Everything a reader could see: each user's feed, timeline and profile.
async fn snapshot(
    store: &Arc<dyn FeedWriter>,
    users: &[UserId],
) -> Vec<(Vec<String>, usize, Option<ProfileRecord>)> {
    let mut out = Vec::new();
    for &user in users {
        let feed = store.feed_page(user, None, 1_000).await.unwrap();
        let posts = store
            .posts(&feed.iter().map(|e| e.post_id).collect::<Vec<_>>())
            .await
            .unwrap();
        let mut texts: Vec<String> = posts.into_iter().map(|p| p.text).collect();
        texts.sort();
        let timeline = store.timeline_page(user, None, 1_000).await.unwrap().len();
        let profile = store.profiles(&[user]).await.unwrap().pop();
        out.push((texts, timeline, profile));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_batch_changes_nothing_downstream() {
    let (db, _) = platform::testing::fresh_database(&write_api::MIGRATOR).await;
    let users = write_world(&db).await;
    let kafka = KafkaConfig {
        brokers: platform::testing::kafka_brokers(),
        events_topic: platform::testing::unique("redelivery"),
        partitions: 3,
        replication: 1,
        client_debug: None,
    };
    kafka.ensure_topics().await.unwrap();

    // The "crashed" relay: published and acknowledged, never marked.
    let rows = relay::pending(&db, 10_000).await.unwrap();
    let producer: FutureProducer = kafka.producer().create().unwrap();
    assert_eq!(
        relay::publish(&producer, &kafka.events_topic, &rows).await,
        rows.len()
    );

    // The relay comes back and finds every row still unpublished.
    let config = RelayConfig {
        listen_addr: String::new(),
        database: platform::pg::PoolConfig::default(),
        kafka: kafka.clone(),
        batch_size: 7,
        poll_interval: Duration::from_millis(100),
        retention: Duration::from_secs(3600),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay_task = tokio::spawn({
        let relay = Relay::new(db.clone(), config);
        async move { relay.run(stopped).await.unwrap() }
    });

    let consumer: StreamConsumer = kafka
        .consumer(&platform::testing::unique("check"))
        .create()
        .unwrap();
    consumer.subscribe(&[&kafka.events_topic]).unwrap();
    let mut records: Vec<(uuid::Uuid, Event)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while records.len() < rows.len() * 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .expect("every record twice")
            .unwrap();
        let Ok(Decoded::Known { id, event, .. }) = Envelope::decode(message.payload().unwrap())
        else {
            panic!("undecodable record");
        };
        records.push((id, *event));
    }
    stop.send(true).unwrap();
    relay_task.await.unwrap();

    let mut copies = std::collections::HashMap::<uuid::Uuid, usize>::new();
    for (id, _) in &records {
        *copies.entry(*id).or_default() += 1;
    }
    assert_eq!(copies.len(), rows.len());
    assert!(
        copies.values().all(|&n| n == 2),
        "each event was delivered again"
    );

    // Project the doubled stream in arrival order, and the events once each.
    let (twice_store, twice) = read_model().await;
    for (_, event) in &records {
        twice.apply(event).await.unwrap();
    }
    let (once_store, once) = read_model().await;
    for row in &rows {
        let Ok(Decoded::Known { event, .. }) = Envelope::decode(&row.envelope.to_bytes()) else {
            panic!("undecodable row");
        };
        once.apply(&event).await.unwrap();
    }
    let expected = snapshot(&once_store, &users).await;
    assert_eq!(snapshot(&twice_store, &users).await, expected);
    assert!(
        expected[1].0.len() > 1,
        "the world is not trivially empty: {expected:?}"
    );
}
