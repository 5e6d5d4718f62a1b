//! The relay against the real PostgreSQL and broker: under concurrent
//! writers with random transaction lengths every committed event is
//! published, none is invented, and each key's events arrive in commit
//! order; with the broker down for 30 s writes keep succeeding and the
//! backlog drains when it returns.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use broker::KafkaConfig;
use chrono::Utc;
use contracts::events::{Decoded, Envelope, Event, PostEdited};
use contracts::ids::{PostId, UserId};
use rand::Rng;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use relay::Relay;
use relay::config::RelayConfig;
use sqlx::PgPool;
use tokio::sync::watch;

async fn database() -> PgPool {
    let (pool, _) = platform::testing::fresh_database(&write_api::MIGRATOR).await;
    sqlx::query("CREATE TABLE key_sequence (key BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    pool
}

fn relay_config(brokers: String) -> RelayConfig {
    RelayConfig {
        listen_addr: String::new(),
        database: platform::pg::PoolConfig::default(),
        kafka: KafkaConfig {
            brokers,
            events_topic: platform::testing::unique("relay"),
            partitions: 3,
            replication: 1,
            client_debug: None,
        },
        batch_size: 500,
        poll_interval: Duration::from_millis(200),
        retention: Duration::from_secs(7 * 24 * 3600),
    }
}

fn start_relay(
    db: PgPool,
    config: RelayConfig,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = watch::channel(false);
    let relay = Relay::new(db, config);
    let task = tokio::spawn(async move { relay.run(stopped).await.unwrap() });
    (stop, task)
}

/// One writer: transactions of 1-3 events on a random key, each numbered
/// `(n, i)` where `n` counts the key's transactions in commit order (it is
/// taken under the key lock), with random pauses inside the transaction.
async fn writer(db: PgPool, keys: i64, budget: Arc<AtomicI64>) {
    loop {
        let (key, events, pause_ms) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..keys),
                rng.random_range(1..=3i64),
                rng.random_range(0..4u64),
            )
        };
        if budget.fetch_sub(events, Ordering::SeqCst) < events {
            return;
        }
        let mut tx = db.begin().await.unwrap();
        write_api::idempotency::lock_key(&mut tx, UserId(key))
            .await
            .unwrap();
        let (n,): (i64,) = sqlx::query_as(
            "INSERT INTO key_sequence (key, n) VALUES ($1, 1)
             ON CONFLICT (key) DO UPDATE SET n = key_sequence.n + 1 RETURNING n",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        for i in 0..events {
            let event = Event::PostEdited(PostEdited {
                post_id: PostId(n * 10 + i),
                author_id: UserId(key),
                text: format!("{n}.{i}"),
                created_at: Utc::now(),
                edited_at: Utc::now(),
                in_reply_to_id: None,
                in_reply_to_author_id: None,
            });
            write_api::outbox::append(&mut tx, &event).await.unwrap();
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        }
        tx.commit().await.unwrap();
    }
}

/// Reads the topic from the start until `expected` distinct events arrived;
/// returns each key's `(n, i)` in arrival order (first copies only) and how
/// many copies arrived in all.
async fn consume(
    config: &KafkaConfig,
    expected: usize,
    within: Duration,
) -> (HashSet<uuid::Uuid>, HashMap<i64, Vec<(i64, i64)>>, usize) {
    let consumer: StreamConsumer = config
        .consumer(&platform::testing::unique("check"))
        .create()
        .unwrap();
    consumer.subscribe(&[&config.events_topic]).unwrap();
    let deadline = Instant::now() + within;
    let (mut seen, mut by_key, mut copies) =
        (HashSet::new(), HashMap::<i64, Vec<(i64, i64)>>::new(), 0);
    while seen.len() < expected {
        let left = deadline.saturating_duration_since(Instant::now());
        let received = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {expected} events arrived", seen.len()));
        // Transient errors (a broker just restarted) are retried, as the projector does.
        let Ok(message) = received else { continue };
        copies += 1;
        let Ok(Decoded::Known { id, event, .. }) = Envelope::decode(message.payload().unwrap())
        else {
            panic!("undecodable record");
        };
        let Event::PostEdited(e) = *event else {
            panic!("unexpected event")
        };
        assert_eq!(
            message.key(),
            Some(e.author_id.to_string().as_bytes()),
            "keyed by author"
        );
        if seen.insert(id) {
            let (n, i) = e.text.split_once('.').unwrap();
            by_key
                .entry(e.author_id.0)
                .or_default()
                .push((n.parse().unwrap(), i.parse().unwrap()));
        }
    }
    (seen, by_key, copies)
}

async fn committed_ids(db: &PgPool) -> HashSet<uuid::Uuid> {
    let rows: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT event_id FROM outbox")
        .fetch_all(db)
        .await
        .unwrap();
    rows.into_iter().map(|(id,)| id).collect()
}

async fn unpublished(db: &PgPool) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(db)
        .await
        .unwrap();
    n
}

/// Each key's events arrived in commit order, every transaction of the key
/// is there (1..=last), and each transaction's events are complete and in order.
fn assert_in_order_without_gaps(by_key: &HashMap<i64, Vec<(i64, i64)>>) {
    for (key, events) in by_key {
        assert!(
            events.windows(2).all(|w| w[0] < w[1]),
            "key {key} out of order: {events:?}"
        );
        let transactions: Vec<i64> = events
            .iter()
            .filter(|(_, i)| *i == 0)
            .map(|(n, _)| *n)
            .collect();
        let expected: Vec<i64> = (1..=transactions.len() as i64).collect();
        assert_eq!(transactions, expected, "key {key} has a gap");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_nothing_and_keep_per_key_order() {
    // A broker of its own: the shared test broker is busy with every other test.
    let broker = PrivateBroker::start().await;
    let db = database().await;
    let config = relay_config(broker.brokers());
    config.kafka.ensure_topics().await.unwrap();
    // Two relays, as for availability: only the leader publishes.
    let (stop, relay) = start_relay(db.clone(), config.clone());
    let (stop_standby, standby) = start_relay(db.clone(), config.clone());

    let budget = Arc::new(AtomicI64::new(10_000));
    let writers: Vec<_> = (0..8)
        .map(|_| tokio::spawn(writer(db.clone(), 16, budget.clone())))
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let committed = committed_ids(&db).await;
    assert!(
        committed.len() >= 9_990,
        "{} events committed",
        committed.len()
    );

    let (seen, by_key, _) = consume(&config.kafka, committed.len(), Duration::from_secs(180)).await;
    assert_eq!(seen, committed, "the published set is the committed set");
    assert_in_order_without_gaps(&by_key);
    for (stop, relay) in [(stop, relay), (stop_standby, standby)] {
        stop.send(true).unwrap();
        relay.await.unwrap();
    }
    assert_eq!(unpublished(&db).await, 0, "every row is marked published");
}

#[tokio::test]
async fn published_rows_past_retention_are_deleted() {
    let db = database().await;
    let mut config = relay_config(platform::testing::kafka_brokers());
    config.retention = Duration::from_secs(3600);
    config.kafka.ensure_topics().await.unwrap();
    for published_ago in ["2 hours", "10 minutes"] {
        sqlx::query(
            "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, event_version, key, payload, published_at)
             VALUES (gen_random_uuid(), 'post', 1, 'post.edited', 1, '1', '{}', now() - $1::interval)",
        )
        .bind(published_ago)
        .execute(&db)
        .await
        .unwrap();
    }
    let (stop, relay) = start_relay(db.clone(), config);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox")
            .fetch_one(&db)
            .await
            .unwrap();
        if rows == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the old row is never deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    relay.await.unwrap();
}

/// A broker of this test's own, so stopping it disturbs no other test.
struct PrivateBroker {
    dir: std::path::PathBuf,
    port: u16,
    child: Option<tokio::process::Child>,
}

impl PrivateBroker {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(platform::testing::unique("tansu"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut broker = Self {
            dir,
            port,
            child: None,
        };
        broker.restart().await;
        broker
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = tokio::process::Command::new("tansu")
            .args([
                "broker",
                "--storage-engine",
                "sqlite://tansu.db",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("tansu is on the PATH (deploy/stack installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the private broker did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_outage_delays_events_but_loses_none() {
    let mut broker = PrivateBroker::start().await;
    let db = database().await;
    let config = relay_config(broker.brokers());
    config.kafka.ensure_topics().await.unwrap();
    let (stop, relay) = start_relay(db.clone(), config.clone());

    // Writes go on throughout: about 50 transactions a second for 40 s.
    let writing = {
        let db = db.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(40) {
                writer(db.clone(), 8, Arc::new(AtomicI64::new(3))).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    broker.kill().await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let backlog = unpublished(&db).await;
    assert!(backlog > 0, "rows accumulate while the broker is down");
    broker.restart().await;
    writing.await.unwrap();

    let committed = committed_ids(&db).await;
    let (seen, by_key, copies) =
        consume(&config.kafka, committed.len(), Duration::from_secs(120)).await;
    assert_eq!(seen, committed, "nothing lost across the outage");
    assert_in_order_without_gaps(&by_key);
    eprintln!(
        "{} events, {copies} records, backlog during the outage {backlog}",
        committed.len()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while unpublished(&db).await > 0 {
        assert!(Instant::now() < deadline, "the backlog drains");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.send(true).unwrap();
    relay.await.unwrap();
}
