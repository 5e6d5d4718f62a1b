//! Fan-out and rebuild throughput, measured on the stores themselves (no
//! HTTP, no broker): feed entries per second into Redis, into the durable
//! store, and through the projector's whole `post.created` path; then
//! `projector rebuild` over a bulk-loaded source database. Everything runs
//! in scratch databases and under a scratch Redis prefix.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use contracts::events::{Event, PostCreated, UserSnapshot};
use contracts::ids::{PostId, UserId};
use projector::effects::Effects;
use projector::rebuild::{Rebuilder, Tally};
use readmodel::cache::{CacheSettings, HotCache};
use readmodel::postgres::{MIGRATOR, PgFeedStore};
use readmodel::{FeedEntry, FeedPosition, FeedWriter};

use crate::load;
use crate::scratch::ScratchDatabase;
use crate::targets::{RedisServer, ScratchServer};

#[derive(clap::Args)]
pub struct Args {
    /// Followers of the author whose posts fan out.
    #[arg(long, default_value_t = 10_000)]
    followers: i64,
    /// Posts fanned out per tier.
    #[arg(long, default_value_t = 20)]
    posts: i64,
    /// Followers per fan-out step, as `FANOUT_PAGE_SIZE`.
    #[arg(long, default_value_t = 1_000, value_parser = load::at_least_one)]
    page: usize,
    /// Users in the source database the rebuild reads.
    #[arg(long, default_value_t = 10_000)]
    rebuild_users: i64,
    /// Accounts each user follows in the rebuild's data set.
    #[arg(long, default_value_t = 20)]
    follows_per_user: i64,
    /// Posts per user in the rebuild's data set.
    #[arg(long, default_value_t = 5)]
    posts_per_user: i64,
    /// Users rebuilt at once, as `REBUILD_CONCURRENCY`.
    #[arg(long, default_value_t = 8, value_parser = load::at_least_one)]
    rebuild_concurrency: usize,
    /// Where the scratch databases go.
    #[command(flatten)]
    scratch: ScratchServer,
    /// Keys go under a scratch prefix.
    #[command(flatten)]
    redis: RedisServer,
}

fn snapshot(id: i64) -> UserSnapshot {
    UserSnapshot {
        id: UserId(id),
        username: format!("author{id}"),
        display_name: String::new(),
        bio: String::new(),
        followers_count: 0,
        following_count: 0,
        posts_count: 0,
        celebrity: false,
        created_at: Utc::now(),
        version: 1,
    }
}

fn entry(post: i64) -> FeedPosition {
    FeedPosition {
        created_at_ms: Utc::now().timestamp_millis(),
        post_id: PostId(post),
    }
}

fn report(what: &str, entries: i64, elapsed: Duration) {
    println!(
        "  {what:<34} {entries:>9} entries in {:>6.2} s = {:>9.0} entries/s",
        elapsed.as_secs_f64(),
        entries as f64 / elapsed.as_secs_f64()
    );
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let read = ScratchDatabase::create(&args.scratch.pg_admin_url, 16).await?;
    MIGRATOR.run(&read.pool).await?;
    let store: Arc<dyn FeedWriter> = Arc::new(PgFeedStore::new(read.pool.clone()));
    let cache = HotCache::connect(
        &args.redis.redis_url,
        4,
        CacheSettings {
            prefix: format!("bench:{}:", read.name),
            feed_cap: 800,
            feed_ttl: Duration::from_secs(600),
            object_ttl: Duration::from_secs(600),
        },
    )
    .await?;

    let author = UserId(1);
    let followers: Vec<UserId> = (2..args.followers + 2).map(UserId).collect();
    for chunk in followers.chunks(args.page) {
        store.add_followers(author, chunk).await?;
    }
    println!(
        "fan-out: {} posts to {} followers each, {} followers per step (durable store: PostgreSQL read database)",
        args.posts, args.followers, args.page
    );

    let started = Instant::now();
    for post in 0..args.posts {
        let entry = entry(post + 1);
        for page in followers.chunks(args.page) {
            cache.fan_out(page, entry).await?;
        }
    }
    report(
        "Redis (gap-free add script, pipelined)",
        args.posts * args.followers,
        started.elapsed(),
    );

    let started = Instant::now();
    for post in 0..args.posts {
        let entry = FeedEntry {
            position: entry(1_000 + post),
            author_id: author,
        };
        for page in followers.chunks(args.page) {
            store.add_to_feeds(page, entry, Utc::now()).await?;
        }
    }
    report(
        "durable store (batched INSERT)",
        args.posts * args.followers,
        started.elapsed(),
    );

    let effects = Effects::new(Arc::clone(&store), cache.clone(), args.page);
    let started = Instant::now();
    for post in 0..args.posts {
        let event = Event::PostCreated(PostCreated {
            post_id: PostId(2_000 + post),
            author_id: author,
            text: format!("bench post {post}"),
            created_at: Utc::now(),
            author: snapshot(author.0),
            in_reply_to: None,
            mentions: Vec::new(),
        });
        effects.apply(&event).await?;
    }
    report(
        "projector post.created (both tiers)",
        args.posts * (args.followers + 1),
        started.elapsed(),
    );

    rebuild(&args, store, cache).await?;
    read.drop().await
}

/// Bulk-loads a source database and rebuilds the read model from it.
async fn rebuild(args: &Args, store: Arc<dyn FeedWriter>, cache: HotCache) -> anyhow::Result<()> {
    let source =
        ScratchDatabase::create(&args.scratch.pg_admin_url, args.rebuild_concurrency + 2).await?;
    write_api::MIGRATOR.run(&source.pool).await?;
    let loading = Instant::now();
    sqlx::query(
        "INSERT INTO users (username, email, password_hash)
         SELECT 'u' || g, 'u' || g || '@example.com', 'x' FROM generate_series(1, $1) g",
    )
    .bind(args.rebuild_users)
    .execute(&source.pool)
    .await?;
    // Skewed follows: the followee is drawn with a square bias towards low
    // ids, so a few accounts gather many followers.
    sqlx::query(
        "INSERT INTO follows (follower_id, followee_id)
         SELECT DISTINCT follower, followee FROM (
             SELECT u.id AS follower, 1 + floor(power(random(), 2) * $1)::bigint AS followee
             FROM users u, generate_series(1, $2)) AS drawn
         WHERE follower <> followee
         ON CONFLICT DO NOTHING",
    )
    .bind(args.rebuild_users)
    .bind(args.follows_per_user)
    .execute(&source.pool)
    .await?;
    sqlx::query(
        "INSERT INTO posts (author_id, text, created_at)
         SELECT u.id, 'post ' || n, now() - n * interval '1 minute'
         FROM users u, generate_series(1, $1) n",
    )
    .bind(args.posts_per_user)
    .execute(&source.pool)
    .await?;
    let (edges,): (i64,) = sqlx::query_as("SELECT count(*) FROM follows")
        .fetch_one(&source.pool)
        .await?;
    println!(
        "rebuild: {} users, {edges} follows, {} posts (loaded in {:.1} s), {} users at once",
        args.rebuild_users,
        args.rebuild_users * args.posts_per_user,
        loading.elapsed().as_secs_f64(),
        args.rebuild_concurrency
    );
    let rebuilder = Rebuilder::new(source.pool.clone(), store, cache, 5_000);
    let started = Instant::now();
    rebuilder.all(args.rebuild_concurrency, || {}).await?;
    let elapsed = started.elapsed();
    let tally = rebuilder.tally();
    println!(
        "  {} users in {:.2} s = {:.0} users/s; {} feed entries = {:.0} entries/s",
        Tally::get(&tally.users),
        elapsed.as_secs_f64(),
        Tally::get(&tally.users) as f64 / elapsed.as_secs_f64(),
        Tally::get(&tally.feed_entries),
        Tally::get(&tally.feed_entries) as f64 / elapsed.as_secs_f64(),
    );
    source.drop().await
}
