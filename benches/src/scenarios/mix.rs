//! The whole system under a read/write mix, on the data set `bench data`
//! loaded: open-loop arrivals at a fixed rate (or stepped up with
//! `--find-max`), every operation's latency measured from its scheduled
//! time, fan-out lag sampled on real followers, and raw floors (the same
//! page read straight from Redis, the same write straight into a scratch
//! PostgreSQL database) measured in the same run. Prints a summary and
//! writes every figure to a JSON file.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use contracts::ids::UserId;
use fred::interfaces::ClientLike;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::PgPool;
use write_api::tokens::TokenIssuer;

use crate::chart;
use crate::client::Api;
use crate::load::{self, Recorder};
use crate::scratch::ScratchDatabase;
use crate::targets::{ScratchServer, StackStores};

/// Reads : writes, e.g. `100:1`.
#[derive(Clone, Copy, Debug)]
pub struct Ratio {
    reads: u32,
    writes: u32,
}

impl FromStr for Ratio {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (r, w) = s
            .split_once(':')
            .ok_or("expected READS:WRITES, e.g. 100:1")?;
        let reads = r
            .trim()
            .parse()
            .map_err(|_| format!("bad read share {r:?}"))?;
        let writes = w
            .trim()
            .parse()
            .map_err(|_| format!("bad write share {w:?}"))?;
        if reads + writes == 0 {
            return Err("the ratio cannot be 0:0".into());
        }
        Ok(Self { reads, writes })
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum NamedMix {
    /// DeathStarBench socialNetwork's mixed workload: 60% home timeline,
    /// 30% user timeline, 10% compose post.
    Dsb,
}

#[derive(clap::Args)]
pub struct Args {
    /// Home-feed reads : writes (posts, plus follows and unfollows as a
    /// tenth of the writes). A share of the reads goes a page deeper.
    #[arg(long, default_value = "100:1")]
    ratio: Ratio,
    /// A named mix instead of `--ratio`.
    #[arg(long, value_enum)]
    mix: Option<NamedMix>,
    /// Requests per second (the starting rate with `--find-max`).
    #[arg(long, default_value_t = 200.0, value_parser = load::rate)]
    rate: f64,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The data set to use (the seed `bench data` loaded).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Users who read (a seeded sample, warmed before measuring); posts,
    /// follows and timelines come from all users.
    #[arg(long, default_value_t = 1_000, value_parser = load::at_least_one)]
    active_users: usize,
    /// Share of home-feed reads that also fetch the next page by cursor.
    #[arg(long, default_value_t = 0.2, value_parser = load::share)]
    deep_share: f64,
    /// Sample one post in this many for fan-out lag.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    lag_every: u64,
    /// Raise the rate by half each step until p99 exceeds `--p99-bound-ms`
    /// or errors appear; report the highest sustainable rate.
    #[arg(long)]
    find_max: bool,
    #[arg(long, default_value_t = 50.0)]
    p99_bound_ms: f64,
    /// Where to write every figure.
    #[arg(long, default_value = "bench-results.json")]
    json: PathBuf,
    /// Where to draw latency over time and the fan-out lag distribution.
    #[arg(long, default_value = "bench-results.svg")]
    svg: PathBuf,
    /// The stack's signing key: the data set's accounts have no password.
    #[arg(
        long,
        env = "JWT_PRIVATE_KEY_FILE",
        default_value = ".stack/keys/jwt-ed25519.pem"
    )]
    jwt_private_key_file: PathBuf,
    #[arg(long, env = "JWT_ISSUER", default_value = "microblog")]
    jwt_issuer: String,
    #[arg(long, env = "JWT_AUDIENCE", default_value = "microblog-api")]
    jwt_audience: String,
    /// Where the write floor's scratch database goes.
    #[command(flatten)]
    scratch: ScratchServer,
    #[command(flatten)]
    stores: StackStores,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    HomeFeed,
    HomeFeedDeep,
    UserTimeline,
    Post,
    Follow,
    Unfollow,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::HomeFeed => "home feed",
            Op::HomeFeedDeep => "home feed, 2 pages",
            Op::UserTimeline => "user timeline",
            Op::Post => "post",
            Op::Follow => "follow",
            Op::Unfollow => "unfollow",
        }
    }
}

struct User {
    id: i64,
    username: String,
    celebrity: bool,
}

/// What one run needs, shared by every request.
struct World {
    api: Api,
    issuer: TokenIssuer,
    users: Vec<User>,
    celebrities: Vec<usize>,
    /// Indexes into `users` of those who read.
    readers: Vec<usize>,
    source: PgPool,
    deep_share: f64,
    lag_every: u64,
    mix: Option<NamedMix>,
    ratio: Ratio,
    lag_ordinary: Recorder,
    lag_celebrity: Recorder,
    timeline: Mutex<Vec<Histogram<u64>>>,
    /// Each account's access token and when it was minted.
    tokens: Mutex<HashMap<UserId, (String, Instant)>>,
}

/// How long a token is used before a new one is minted: well inside its
/// 900 s lifetime, as a client refreshes before expiry.
const TOKEN_REUSE: Duration = Duration::from_secs(600);

impl World {
    fn token(&self, user: usize) -> String {
        self.token_of(UserId(self.users[user].id))
    }

    /// `account`'s access token, held for [`TOKEN_REUSE`] as a real client
    /// holds one: a token per request would make the read host check a
    /// signature on every request (and the generator sign one), a cost no
    /// client causes.
    fn token_of(&self, account: UserId) -> String {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, minted)) = tokens.get(&account)
            && minted.elapsed() < TOKEN_REUSE
        {
            return token.clone();
        }
        let token = self.issuer.access_token(account, uuid::Uuid::new_v4());
        tokens.insert(account, (token.clone(), Instant::now()));
        token
    }

    fn pick(&self, rng: &mut StdRng) -> Op {
        match self.mix {
            Some(NamedMix::Dsb) => match rng.random_range(0..100) {
                0..60 => Op::HomeFeed,
                60..90 => Op::UserTimeline,
                _ => Op::Post,
            },
            None => {
                let total = self.ratio.reads + self.ratio.writes;
                if rng.random_range(0..total) < self.ratio.reads {
                    if rng.random_bool(self.deep_share) {
                        Op::HomeFeedDeep
                    } else {
                        Op::HomeFeed
                    }
                } else {
                    match rng.random_range(0..20) {
                        0 => Op::Follow,
                        1 => Op::Unfollow,
                        _ => Op::Post,
                    }
                }
            }
        }
    }

    fn record_second(&self, second: usize, latency: Duration) {
        let mut timeline = self.timeline.lock().expect("not poisoned");
        while timeline.len() <= second {
            timeline.push(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"));
        }
        timeline[second].saturating_record(latency.as_micros() as u64);
    }

    /// Runs request `i`; an error answer is an `Err`.
    async fn request(self: Arc<Self>, i: u64, op: Op, rng: &mut StdRng) -> anyhow::Result<()> {
        let user = if matches!(op, Op::HomeFeed | Op::HomeFeedDeep) {
            self.readers[rng.random_range(0..self.readers.len())]
        } else {
            rng.random_range(0..self.users.len())
        };
        let http = &self.api.http;
        let token = self.token(user);
        match op {
            Op::HomeFeed | Op::HomeFeedDeep => {
                let page: Value = http
                    .get(format!("{}/v1/feed", self.api.read))
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                if let (Op::HomeFeedDeep, Some(cursor)) = (op, page["next_cursor"].as_str()) {
                    http.get(format!("{}/v1/feed?cursor={cursor}", self.api.read))
                        .bearer_auth(&token)
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?;
                }
            }
            Op::UserTimeline => {
                let author = &self.users[rng.random_range(0..self.users.len())];
                http.get(format!(
                    "{}/v1/users/{}/posts",
                    self.api.read, author.username
                ))
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            }
            Op::Post => {
                // Every sampled post alternates between a celebrity and an
                // ordinary author, so both lags get samples.
                let sampled = i.is_multiple_of(self.lag_every);
                let author =
                    if sampled && (i / self.lag_every) % 2 == 1 && !self.celebrities.is_empty() {
                        self.celebrities[rng.random_range(0..self.celebrities.len())]
                    } else {
                        user
                    };
                let written = Instant::now();
                let response = http
                    .post(format!("{}/v1/posts", self.api.write))
                    .bearer_auth(self.token(author))
                    .json(&json!({"text": format!("benchmark post {i}")}))
                    .send()
                    .await?
                    .error_for_status()?;
                let body: Value = response.json().await?;
                if sampled {
                    let id = body["id"].as_str().context("no post id")?.to_owned();
                    tokio::spawn(Arc::clone(&self).measure_lag(author, id, written));
                }
            }
            Op::Follow | Op::Unfollow => {
                let other = self.users[rng.random_range(0..self.users.len())].id;
                if other == self.users[user].id {
                    return Ok(());
                }
                let url = format!("{}/v1/users/{other}/follow", self.api.write);
                let request = if op == Op::Follow {
                    http.put(url)
                } else {
                    http.delete(url)
                };
                request
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .error_for_status()?;
            }
        }
        Ok(())
    }

    /// Polls up to three followers' home feeds until the post shows, and
    /// records the time from the write's answer.
    async fn measure_lag(self: Arc<Self>, author: usize, post: String, written: Instant) {
        let followers: Vec<(i64,)> = sqlx::query_as(
            "SELECT follower_id FROM follows WHERE followee_id = $1 ORDER BY random() LIMIT 3",
        )
        .bind(self.users[author].id)
        .fetch_all(&self.source)
        .await
        .unwrap_or_default();
        let recorder = if self.users[author].celebrity {
            &self.lag_celebrity
        } else {
            &self.lag_ordinary
        };
        for (follower,) in followers {
            let token = self.token_of(UserId(follower));
            let deadline = written + Duration::from_secs(15);
            loop {
                let page: Option<Value> = async {
                    self.api
                        .http
                        .get(format!("{}/v1/feed", self.api.read))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .ok()?
                        .json()
                        .await
                        .ok()
                }
                .await;
                let seen = page.is_some_and(|p| {
                    p["items"]
                        .as_array()
                        .is_some_and(|items| items.iter().any(|it| it["post"]["id"] == post))
                });
                if seen {
                    recorder.record(written.elapsed(), true);
                    break;
                }
                if Instant::now() > deadline {
                    recorder.record(written.elapsed(), false);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// One phase's figures per operation.
struct Phase {
    rate: f64,
    elapsed: Duration,
    ops: BTreeMap<Op, Recorder>,
    /// Failed requests by operation and kind (`HTTP 503`, `timeout`, …).
    errors: BTreeMap<String, u64>,
}

fn error_kind(e: &anyhow::Error) -> String {
    match e.downcast_ref::<reqwest::Error>() {
        Some(r) if r.is_timeout() => "timeout".to_owned(),
        Some(r) if r.is_connect() => "connection failed".to_owned(),
        Some(r) => r.status().map_or_else(
            || "transport".to_owned(),
            |s| format!("HTTP {}", s.as_u16()),
        ),
        None => "other".to_owned(),
    }
}

impl Phase {
    fn all(&self) -> Histogram<u64> {
        let mut all = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        for r in self.ops.values() {
            all.add(r.histogram()).expect("same bounds");
        }
        all
    }

    fn error_count(&self) -> u64 {
        self.ops.values().map(Recorder::errors).sum()
    }
}

async fn phase(world: &Arc<World>, rate: f64, seconds: u64, seed: u64) -> Phase {
    let ops: BTreeMap<Op, Recorder> = [
        Op::HomeFeed,
        Op::HomeFeedDeep,
        Op::UserTimeline,
        Op::Post,
        Op::Follow,
        Op::Unfollow,
    ]
    .into_iter()
    .map(|op| (op, Recorder::default()))
    .collect();
    let started = Instant::now();
    let all = Recorder::default();
    let ops_for_requests = ops.clone();
    let errors: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let errors_for_requests = Arc::clone(&errors);
    load::open_loop(rate, Duration::from_secs(seconds), 10_000, &all, {
        let world = Arc::clone(world);
        move |i| {
            let world = Arc::clone(&world);
            let ops = ops_for_requests.clone();
            let errors = Arc::clone(&errors_for_requests);
            let scheduled = Instant::now();
            async move {
                let mut rng = StdRng::seed_from_u64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let op = world.pick(&mut rng);
                let result = Arc::clone(&world).request(i, op, &mut rng).await;
                if let Err(e) = &result {
                    let key = format!("{}: {}", op.name(), error_kind(e));
                    *errors.lock().expect("not poisoned").entry(key).or_default() += 1;
                }
                let ok = result.is_ok();
                let latency = scheduled.elapsed();
                ops[&op].record(latency, ok);
                world.record_second(started.elapsed().as_secs() as usize, latency);
                ok
            }
        }
    })
    .await;
    let errors = errors.lock().expect("not poisoned").clone();
    Phase {
        rate,
        elapsed: started.elapsed(),
        ops,
        errors,
    }
}

fn stats(h: &Histogram<u64>, errors: u64, elapsed: Duration, rate: Option<f64>) -> Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({
        "requested_per_s": rate,
        "achieved_per_s": h.len() as f64 / elapsed.as_secs_f64(),
        "count": h.len(),
        "errors": errors,
        "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "p999_ms": ms(0.999),
        "max_ms": h.max() as f64 / 1000.0,
    })
}

/// Reads every active user's feed once, so hot feeds are warm for the
/// floor and the measured phase alike, as they are for users who read.
async fn warm_readers(world: &World) {
    use futures::StreamExt;
    futures::stream::iter(&world.readers)
        .for_each_concurrent(16, |&r| async move {
            let _ = world.api.feed_len(&world.token(r)).await;
        })
        .await;
}

/// The raw floors: a page read straight from Redis, and a post with its
/// outbox row written straight into a scratch copy of the write schema.
async fn floors(args: &Args, world: &World, seconds: u64) -> anyhow::Result<(Recorder, Recorder)> {
    let redis = fred::prelude::Builder::from_config(fred::prelude::Config::from_url(
        &args.stores.redis.server.redis_url,
    )?)
    .build_pool(4)?;
    redis.init().await?;
    let ids: Arc<Vec<String>> = Arc::new(
        world
            .readers
            .iter()
            .map(|&r| world.users[r].id.to_string())
            .collect(),
    );
    let read = Recorder::default();
    let prefix: Arc<str> = args.stores.redis.redis_prefix.clone().into();
    load::open_loop(
        args.rate,
        Duration::from_secs(seconds),
        10_000,
        &read,
        move |i| {
            let (redis, prefix, ids) = (redis.clone(), Arc::clone(&prefix), Arc::clone(&ids));
            async move {
                super::feed::raw_page(&redis, &prefix, &ids[i as usize % ids.len()])
                    .await
                    .is_ok()
            }
        },
    )
    .await;

    let scratch = ScratchDatabase::create(&args.scratch.pg_admin_url, 16).await?;
    write_api::MIGRATOR.run(&scratch.pool).await?;
    sqlx::query(
        "INSERT INTO users (username, email, password_hash) VALUES ('floor', 'floor@x', 'x')",
    )
    .execute(&scratch.pool)
    .await?;
    let write = Recorder::default();
    let pool = scratch.pool.clone();
    load::open_loop(
        args.rate,
        Duration::from_secs(seconds),
        10_000,
        &write,
        move |i| {
            let pool = pool.clone();
            async move { raw_write(&pool, i).await.is_ok() }
        },
    )
    .await;
    scratch.drop().await?;
    Ok((read, write))
}

/// The write path's database work without the API: one transaction with a
/// post row and its outbox row.
async fn raw_write(pool: &PgPool, i: u64) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO posts (author_id, text) SELECT id, $1 FROM users LIMIT 1 RETURNING id",
    )
    .bind(format!("floor post {i}"))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, event_version, key, payload)
         VALUES (gen_random_uuid(), 'post', $1, 'post.created', 1, '1', '{}')",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let source = PgPool::connect(&args.stores.database_url).await?;
    let rows: Vec<(i64, String, bool)> = sqlx::query_as(
        "SELECT id, username, celebrity FROM users WHERE username LIKE $1 || '%' ORDER BY id",
    )
    .bind(format!("d{}_", args.seed))
    .fetch_all(&source)
    .await?;
    anyhow::ensure!(
        !rows.is_empty(),
        "no data set for seed {}: run `bench data --seed {}` first",
        args.seed,
        args.seed
    );
    let users: Vec<User> = rows
        .into_iter()
        .map(|(id, username, celebrity)| User {
            id,
            username,
            celebrity,
        })
        .collect();
    let celebrities = (0..users.len()).filter(|&i| users[i].celebrity).collect();
    let mut readers: Vec<usize> = (0..users.len()).collect();
    readers.shuffle(&mut StdRng::seed_from_u64(args.seed));
    readers.truncate(args.active_users);
    let pem = std::fs::read(&args.jwt_private_key_file).with_context(|| {
        format!(
            "cannot read the signing key {}",
            args.jwt_private_key_file.display()
        )
    })?;
    let issuer = TokenIssuer::new(
        &pem,
        args.jwt_issuer.clone(),
        args.jwt_audience.clone(),
        Duration::from_secs(900),
    )?;
    let world = Arc::new(World {
        api: api.clone(),
        issuer,
        users,
        celebrities,
        readers,
        source,
        deep_share: args.deep_share,
        lag_every: args.lag_every,
        mix: args.mix,
        ratio: args.ratio,
        lag_ordinary: Recorder::default(),
        lag_celebrity: Recorder::default(),
        timeline: Mutex::new(Vec::new()),
        tokens: Mutex::default(),
    });
    let mix_name = match args.mix {
        Some(NamedMix::Dsb) => "dsb (60% home timeline, 30% user timeline, 10% compose)".to_owned(),
        None => format!("ratio {}:{}", args.ratio.reads, args.ratio.writes),
    };
    println!(
        "mix {mix_name} on data set {} ({} users, {} of them reading, {} celebrities), {} s per phase",
        args.seed,
        world.users.len(),
        world.readers.len(),
        world.celebrities.len(),
        args.seconds
    );

    warm_readers(&world).await;
    let floor_seconds = (args.seconds / 3).max(3);
    let (floor_read, floor_write) = floors(&args, &world, floor_seconds).await?;
    let floor_elapsed = Duration::from_secs(floor_seconds);
    load::report(
        "floor: Redis page",
        &floor_read,
        floor_elapsed,
        Some(args.rate),
    );
    load::report(
        "floor: PG post+outbox",
        &floor_write,
        floor_elapsed,
        Some(args.rate),
    );

    let mut phases = Vec::new();
    let mut rate = args.rate;
    let mut sustainable = None;
    loop {
        let phase = phase(&world, rate, args.seconds, args.seed).await;
        println!("-- at {rate:.0}/s:");
        for (op, recorder) in &phase.ops {
            if !recorder.histogram().is_empty() {
                load::report(op.name(), recorder, phase.elapsed, None);
            }
        }
        for (kind, n) in &phase.errors {
            println!("   errors: {kind}: {n}");
        }
        let p99_ms = phase.all().value_at_quantile(0.99) as f64 / 1000.0;
        let good = phase.error_count() == 0 && p99_ms <= args.p99_bound_ms;
        phases.push(phase);
        if !args.find_max {
            break;
        }
        if !good {
            println!("p99 {p99_ms:.1} ms or errors past the bound: stopping");
            break;
        }
        sustainable = Some(rate);
        rate *= 1.5;
    }
    // Let the last lag samples finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lag_elapsed = Duration::from_secs(args.seconds);
    load::report(
        "fan-out lag, ordinary",
        &world.lag_ordinary,
        lag_elapsed,
        None,
    );
    load::report(
        "fan-out lag, celebrity",
        &world.lag_celebrity,
        lag_elapsed,
        None,
    );
    if let Some(rate) = sustainable {
        println!(
            "highest sustainable rate: {rate:.0}/s (p99 <= {} ms, no errors)",
            args.p99_bound_ms
        );
    }

    let last = phases.last().expect("at least one phase");
    let ratio_to = |api: &Histogram<u64>, floor: &Histogram<u64>, q: f64| {
        api.value_at_quantile(q) as f64 / floor.value_at_quantile(q).max(1) as f64
    };
    let feed = last.ops[&Op::HomeFeed].histogram();
    let post = last.ops[&Op::Post].histogram();
    println!(
        "vs floors: home feed p50 {:.1}x / p99 {:.1}x the Redis page; post p50 {:.1}x / p99 {:.1}x the PostgreSQL write",
        ratio_to(&feed, &floor_read.histogram(), 0.5),
        ratio_to(&feed, &floor_read.histogram(), 0.99),
        ratio_to(&post, &floor_write.histogram(), 0.5),
        ratio_to(&post, &floor_write.histogram(), 0.99),
    );
    let seconds: Vec<(u64, chart::Second)> = world
        .timeline
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|h| {
            (
                h.len(),
                chart::Second {
                    p50_ms: h.value_at_quantile(0.5) as f64 / 1000.0,
                    p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
                },
            )
        })
        .collect();
    let timeline: Vec<Value> = seconds
        .iter()
        .enumerate()
        .map(|(s, (count, second))| {
            json!({"second": s, "count": count, "p50_ms": second.p50_ms, "p99_ms": second.p99_ms})
        })
        .collect();
    let per_second: Vec<chart::Second> = seconds.into_iter().map(|(_, s)| s).collect();
    chart::render(
        &args.svg,
        &format!("{mix_name} at {:.0}/s, rev {}", last.rate, git_revision()),
        &per_second,
        &world.lag_ordinary.histogram(),
        &world.lag_celebrity.histogram(),
    )?;
    let report = json!({
        "git_revision": git_revision(),
        "machine": {"cpus": std::thread::available_parallelism().map_or(0, |n| n.get()), "colocated": true},
        "parameters": {
            "mix": mix_name, "rate": args.rate, "seconds": args.seconds, "seed": args.seed,
            "users": world.users.len(), "celebrities": world.celebrities.len(),
            "active_users": world.readers.len(),
            "deep_share": args.deep_share, "lag_every": args.lag_every,
            "find_max": args.find_max, "p99_bound_ms": args.p99_bound_ms,
        },
        "floors": {
            "redis_page": stats(&floor_read.histogram(), floor_read.errors(), floor_elapsed, Some(args.rate)),
            "postgres_post_outbox": stats(&floor_write.histogram(), floor_write.errors(), floor_elapsed, Some(args.rate)),
        },
        "phases": phases.iter().map(|p| json!({
            "rate": p.rate,
            "errors_by_kind": p.errors,
            "operations": p.ops.iter()
                .filter(|(_, r)| !r.histogram().is_empty())
                .map(|(op, r)| (op.name().to_owned(), stats(&r.histogram(), r.errors(), p.elapsed, None)))
                .collect::<serde_json::Map<String, Value>>(),
        })).collect::<Vec<_>>(),
        "fan_out_lag": {
            "ordinary": stats(&world.lag_ordinary.histogram(), world.lag_ordinary.errors(), lag_elapsed, None),
            "celebrity": stats(&world.lag_celebrity.histogram(), world.lag_celebrity.errors(), lag_elapsed, None),
        },
        "ratios_to_floor": {
            "home_feed_p50": ratio_to(&feed, &floor_read.histogram(), 0.5),
            "home_feed_p99": ratio_to(&feed, &floor_read.histogram(), 0.99),
            "post_p50": ratio_to(&post, &floor_write.histogram(), 0.5),
            "post_p99": ratio_to(&post, &floor_write.histogram(), 0.99),
        },
        "highest_sustainable_rate": sustainable,
        "latency_over_time": timeline,
    });
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)?;
    println!(
        "every figure: {}; chart: {}",
        args.json.display(),
        args.svg.display()
    );
    Ok(())
}
