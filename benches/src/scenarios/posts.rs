//! `POST /v1/posts` at a fixed rate, and two lags per post: from its commit
//! to its record on the broker (the record's timestamp, set when the relay
//! sends it, minus the event's `occurred_at`, set in the writing
//! transaction), and from its commit to its showing in the home feed of a
//! real follower of every author (the feed is polled; the post's
//! `created_at` is the write database's clock on this same machine).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use broker::KafkaConfig;
use contracts::events::Envelope;
use hdrhistogram::Histogram;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::client::Api;
use crate::load::{self, Recorder};

#[derive(clap::Args)]
pub struct Args {
    /// Posts per second.
    #[arg(long, default_value_t = 500.0, value_parser = load::rate)]
    rate: f64,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Authors to spread the posts over.
    #[arg(long, default_value_t = 50)]
    authors: usize,
    /// The broker, to measure commit-to-broker lag.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    brokers: String,
    #[arg(long, env = "KAFKA_EVENTS_TOPIC", default_value = "microblog.events")]
    topic: String,
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut authors = Vec::new();
    for i in 0..args.authors {
        authors.push(api.account(&format!("bp{run}{i}")).await?);
    }
    let follower = api.account(&format!("bp{run}f")).await?;
    for author in &authors {
        let id = api.me(&author.access).await?;
        api.follow(&follower.access, &id).await?;
    }
    api.wait_following(&follower.access, authors.len()).await?;
    let kafka = KafkaConfig {
        brokers: args.brokers.clone(),
        events_topic: args.topic.clone(),
        partitions: 1,
        replication: 1,
        client_debug: None,
    };
    // The lag is the record's broker timestamp minus its event's time, so
    // when this consumer reads a record does not change it: it fetches
    // lazily, to load the broker under test no more than it must (the local
    // broker runs SQL for every fetch of every partition).
    let consumer: StreamConsumer = kafka
        .consumer(&format!("bench-{run}"))
        .set("fetch.wait.max.ms", "500")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&args.topic), Duration::from_secs(10))?;
    let mut assignment = TopicPartitionList::new();
    for topic in metadata.topics() {
        for partition in topic.partitions() {
            let (_, high) =
                consumer.fetch_watermarks(&args.topic, partition.id(), Duration::from_secs(10))?;
            assignment.add_partition_offset(&args.topic, partition.id(), Offset::Offset(high))?;
        }
    }
    consumer.assign(&assignment)?;

    println!(
        "posts benchmark: {}/s for {} s over {} authors",
        args.rate, args.seconds, args.authors
    );
    let recorder = Recorder::default();
    let started = Instant::now();
    let api2 = api.clone();
    let lag = tokio::spawn(collect_lag(
        consumer,
        Duration::from_secs(args.seconds + 10),
    ));
    let bench_started = chrono::Utc::now();
    let watcher = tokio::spawn(watch_feed(
        api.clone(),
        follower.access.clone(),
        Schedule {
            started: bench_started,
            rate: args.rate,
            posts: load::scheduled(args.rate, Duration::from_secs(args.seconds)) as usize,
        },
        Duration::from_secs(args.seconds + 60),
    ));
    load::open_loop(
        args.rate,
        Duration::from_secs(args.seconds),
        20_000,
        &recorder,
        move |i| {
            let api = api2.clone();
            let author = authors[i as usize % authors.len()].access.clone();
            async move {
                api.post(&author, &format!("benchmark post {i}"))
                    .await
                    .is_ok()
            }
        },
    )
    .await;
    load::report(
        "POST /v1/posts",
        &recorder,
        started.elapsed(),
        Some(args.rate),
    );
    let lag = lag.await?;
    println!(
        "commit-to-broker lag over {} posts: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        lag.len(),
        lag.value_at_quantile(0.5) as f64 / 1000.0,
        lag.value_at_quantile(0.99) as f64 / 1000.0,
        lag.max() as f64 / 1000.0
    );
    let created = recorder.histogram().len() - recorder.errors();
    let feed_lag = watcher.await?;
    println!(
        "post-to-feed lag over {} of {created} posts (a follower's home feed, polled every {} ms): p50 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        feed_lag.len(),
        FEED_POLL.as_millis(),
        feed_lag.value_at_quantile(0.5) as f64 / 1000.0,
        feed_lag.value_at_quantile(0.99) as f64 / 1000.0,
        feed_lag.max() as f64 / 1000.0
    );
    Ok(())
}

const FEED_POLL: Duration = Duration::from_millis(20);
const LATE_COMMITS: chrono::TimeDelta = chrono::TimeDelta::seconds(2);
/// How often a poll reads down to the oldest post not seen yet, and how far
/// below the newest post it reads at most.
const DEEP_EVERY: Duration = Duration::from_millis(500);
const DEEPEST: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// When the load posts what: post `i` ("benchmark post {i}") is sent at
/// `started + i / rate`, and its `created_at` is no earlier.
struct Schedule {
    started: chrono::DateTime<chrono::Utc>,
    rate: f64,
    posts: usize,
}

impl Schedule {
    fn sent_at(&self, post: usize) -> chrono::DateTime<chrono::Utc> {
        self.started + chrono::TimeDelta::microseconds((post as f64 / self.rate * 1e6) as i64)
    }
}

/// Polls `access`'s home feed and records, for each post of the load the
/// first time it shows, the time since its `created_at`. Every poll reads
/// back to [`LATE_COMMITS`] before the newest post of the last one, since
/// a post's `created_at` is its transaction's start and one that commits
/// later may land below one already seen; every [`DEEP_EVERY`] a poll reads
/// further, to the send time of the oldest post not seen yet (posts of
/// different authors are applied independently, so one can land well below
/// newer ones), never more than [`DEEPEST`]. Posts found by a deep poll
/// are timed up to [`DEEP_EVERY`] late; reading that deep every poll would
/// load the system it measures. Stops after `within`, when every post was
/// seen, or 5 s after the last new post once something was seen.
async fn watch_feed(
    api: Api,
    access: String,
    schedule: Schedule,
    within: Duration,
) -> Histogram<u64> {
    let mut lag = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
    let mut seen = HashSet::new();
    let mut unseen: std::collections::BTreeSet<usize> = (0..schedule.posts).collect();
    let mut frontier = schedule.started;
    let deadline = Instant::now() + within;
    let mut last_new = Instant::now();
    let mut last_deep = Instant::now();
    while Instant::now() < deadline
        && !unseen.is_empty()
        && (seen.is_empty() || last_new.elapsed() < Duration::from_secs(5))
    {
        let mut horizon = frontier - LATE_COMMITS;
        if last_deep.elapsed() >= DEEP_EVERY {
            last_deep = Instant::now();
            let oldest_unseen = unseen.first().map(|&i| schedule.sent_at(i));
            horizon = horizon
                .min(oldest_unseen.unwrap_or(horizon))
                .max(frontier - DEEPEST);
        }
        let horizon = horizon.max(schedule.started);
        let mut newest = frontier;
        let mut cursor: Option<String> = None;
        'pages: loop {
            let Ok(page) = api.feed_page(&access, 100, cursor.as_deref()).await else {
                break;
            };
            let now = chrono::Utc::now();
            for item in page["items"].as_array().into_iter().flatten() {
                let created = item["post"]["created_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.to_utc());
                let Some(created) = created else { continue };
                if created < horizon {
                    break 'pages;
                }
                newest = newest.max(created);
                let id = item["post"]["id"].as_str().unwrap_or_default().to_owned();
                if seen.insert(id) {
                    last_new = Instant::now();
                    let micros = (now - created).num_microseconds().unwrap_or(0);
                    lag.saturating_record(micros.max(1) as u64);
                    let number = item["post"]["text"]
                        .as_str()
                        .and_then(|t| t.strip_prefix("benchmark post "))
                        .and_then(|n| n.parse().ok());
                    if let Some(number) = number {
                        unseen.remove(&number);
                    }
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        frontier = newest;
        tokio::time::sleep(FEED_POLL).await;
    }
    lag
}

/// Reads new `post.created` records for `within` and records, per record,
/// broker timestamp minus `occurred_at`.
async fn collect_lag(consumer: StreamConsumer, within: Duration) -> Histogram<u64> {
    let mut lag = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
    let deadline = Instant::now() + within;
    while let Ok(Ok(message)) = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        consumer.recv(),
    )
    .await
    {
        let Some(sent_ms) = message.timestamp().to_millis() else {
            continue;
        };
        let Ok(envelope) =
            serde_json::from_slice::<Envelope>(message.payload().unwrap_or_default())
        else {
            continue;
        };
        if envelope.event_type != "post.created" {
            continue;
        }
        let micros = (sent_ms * 1000 - envelope.occurred_at.timestamp_micros()).max(1) as u64;
        lag.saturating_record(micros);
    }
    lag
}
