//! The benchmark data set: N users with a power-law follow graph and a post
//! history, loaded in bulk into the write database and then projected with
//! `projector rebuild` (in process). Seeded, so a seed always gives the
//! same graph and history.
//!
//! Users are named `d{seed}_{i}`. Followees are drawn from a Zipf law over
//! the users (user 0 is the most followed), so most accounts have a few
//! followers and a handful have thousands; out-degrees are skewed too (most
//! users follow tens). Authors at or above `--celebrity-threshold`
//! followers get the celebrity flag, exactly as the write API would set it:
//! run the stack with the same `CELEBRITY_FOLLOWER_THRESHOLD`.
//!
//! The accounts have no usable password; the load generator signs access
//! tokens for them with the stack's key instead (see [`super::mix`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use projector::rebuild::{Progress, Rebuilder, Tally};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use readmodel::FeedWriter;
use readmodel::cache::{CacheSettings, HotCache};
use readmodel::postgres::{MIGRATOR, PgFeedStore};
use sqlx::PgPool;

use crate::load;
use crate::targets::StackStores;

/// Rows per bulk insert.
const CHUNK: usize = 10_000;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Mean posts per user in the initial history.
    #[arg(long, default_value_t = 5)]
    posts_per_user: usize,
    /// Mean accounts each user follows.
    #[arg(long, default_value_t = 40)]
    follows_per_user: usize,
    /// Followers at which an author is a celebrity; match the stack's
    /// `CELEBRITY_FOLLOWER_THRESHOLD`.
    #[arg(long, default_value_t = 1_000)]
    celebrity_threshold: i64,
    /// Users rebuilt at once.
    #[arg(long, default_value_t = 8, value_parser = load::at_least_one)]
    rebuild_concurrency: usize,
    #[command(flatten)]
    stores: StackStores,
}

/// Draws ranks 0..n with probability proportional to 1/(rank+1).
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|rank| {
                total += 1.0 / (rank as f64 + 1.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let x = rng.random::<f64>() * self.cumulative.last().copied().unwrap_or(0.0);
        self.cumulative.partition_point(|&c| c < x)
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.users >= 2, "--users must be at least 2");
    let source = PgPool::connect(&args.stores.database_url).await?;
    let prefix = format!("d{}_", args.seed);
    let (existing,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM users WHERE username LIKE $1 || '%'")
            .bind(&prefix)
            .fetch_one(&source)
            .await?;
    anyhow::ensure!(
        existing == 0,
        "the data set of seed {} is already loaded ({existing} users named {prefix}*); \
         pick another --seed or reset the stack",
        args.seed
    );
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let names: Vec<String> = (0..args.users).map(|i| format!("{prefix}{i}")).collect();
    let emails: Vec<String> = names.iter().map(|n| format!("{n}@bench.example")).collect();
    let mut ids = Vec::with_capacity(args.users);
    for (names, emails) in names.chunks(CHUNK).zip(emails.chunks(CHUNK)) {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "INSERT INTO users (username, email, password_hash)
             SELECT n, e, 'no password: the benchmark signs tokens'
             FROM unnest($1::text[], $2::text[]) AS u(n, e) RETURNING id",
        )
        .bind(names)
        .bind(emails)
        .fetch_all(&source)
        .await?;
        ids.extend(rows.into_iter().map(|(id,)| id));
    }

    let zipf = Zipf::new(args.users);
    let mut edges: Vec<(i64, i64)> = Vec::new();
    for (i, &follower) in ids.iter().enumerate() {
        // Skewed out-degree: most users follow a few tens, some hundreds.
        let wanted =
            1 + (rng.random::<f64>().powi(2) * 3.0 * args.follows_per_user as f64) as usize;
        let mut followees = std::collections::BTreeSet::new();
        for _ in 0..wanted * 2 {
            if followees.len() == wanted {
                break;
            }
            let rank = zipf.sample(&mut rng);
            if rank != i {
                followees.insert(ids[rank]);
            }
        }
        edges.extend(followees.into_iter().map(|f| (follower, f)));
    }
    for chunk in edges.chunks(CHUNK) {
        let (followers, followees): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
        sqlx::query(
            "INSERT INTO follows (follower_id, followee_id)
             SELECT * FROM unnest($1::bigint[], $2::bigint[])",
        )
        .bind(&followers)
        .bind(&followees)
        .execute(&source)
        .await?;
    }

    let mut posts: Vec<(i64, i64)> = Vec::new();
    for &author in &ids {
        for _ in 0..rng.random_range(0..=2 * args.posts_per_user) {
            // Spread over the last 30 days, in seconds.
            posts.push((author, rng.random_range(0..30 * 24 * 3600)));
        }
    }
    for chunk in posts.chunks(CHUNK) {
        let (authors, ages): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
        sqlx::query(
            "INSERT INTO posts (author_id, text, created_at)
             SELECT a, 'generated post ' || ordinality, now() - age * interval '1 second'
             FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS p(a, age)",
        )
        .bind(&authors)
        .bind(&ages)
        .execute(&source)
        .await?;
    }
    let (celebrities,): (i64,) = sqlx::query_as(
        "WITH counts AS (
             UPDATE users u SET
                 followers_count = (SELECT count(*) FROM follows WHERE followee_id = u.id),
                 following_count = (SELECT count(*) FROM follows WHERE follower_id = u.id),
                 posts_count = (SELECT count(*) FROM posts WHERE author_id = u.id),
                 version = version + 1
             WHERE u.id = ANY($1) RETURNING u.id, u.followers_count)
         SELECT count(*) FROM counts WHERE followers_count >= $2",
    )
    .bind(&ids)
    .bind(args.celebrity_threshold)
    .fetch_one(&source)
    .await?;
    sqlx::query(
        "UPDATE users SET celebrity = true, version = version + 1
         WHERE id = ANY($1) AND followers_count >= $2",
    )
    .bind(&ids)
    .bind(args.celebrity_threshold)
    .execute(&source)
    .await?;
    println!(
        "loaded {} users, {} follows, {} posts, {celebrities} celebrities (>= {} followers) in {:.1} s",
        ids.len(),
        edges.len(),
        posts.len(),
        args.celebrity_threshold,
        started.elapsed().as_secs_f64()
    );

    let read = PgPool::connect(&args.stores.read_database_url).await?;
    MIGRATOR.run(&read).await?;
    let store: Arc<dyn FeedWriter> = Arc::new(PgFeedStore::new(read));
    let cache = HotCache::connect(
        &args.stores.redis.server.redis_url,
        4,
        CacheSettings {
            prefix: args.stores.redis.redis_prefix.clone(),
            feed_cap: 800,
            feed_ttl: Duration::from_secs(7 * 24 * 3600),
            object_ttl: Duration::from_secs(24 * 3600),
        },
    )
    .await?;
    let rebuilder = Rebuilder::new(source, store, cache, 5_000);
    let started = Instant::now();
    let progress = Progress::new(ids.len() as u64);
    rebuilder
        .users(
            ids.iter().map(|&id| contracts::ids::UserId(id)).collect(),
            args.rebuild_concurrency,
            &|| progress.step(),
        )
        .await?;
    progress.finish();
    let tally = rebuilder.tally();
    println!(
        "projected them with the rebuild in {:.1} s: {} feed entries",
        started.elapsed().as_secs_f64(),
        Tally::get(&tally.feed_entries)
    );
    Ok(())
}
