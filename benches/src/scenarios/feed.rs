//! The hydrated home feed (`GET /v1/feed`, first page of 20) at a fixed
//! rate and at saturation, beside a raw-Redis floor measured in the same
//! run: the same page read with the bare commands (`ZREVRANGE` of the feed
//! set, then `MGET` of its posts), so the API's cost is printed as a ratio.
//! Each fixed-rate phase follows a few unrecorded seconds at its rate.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::interfaces::{ClientLike, KeysInterface, SortedSetsInterface};
use fred::prelude::{Builder, Config};
use futures::future::try_join_all;

use crate::client::{Api, Session};
use crate::load::{self, Recorder};
use crate::targets::StackRedis;

const PAGE: i64 = 20;

#[derive(clap::Args)]
pub struct Args {
    /// Readers, each following every author.
    #[arg(long, default_value_t = 20, value_parser = load::at_least_one)]
    readers: usize,
    #[arg(long, default_value_t = 10)]
    authors: usize,
    #[arg(long, default_value_t = 30)]
    posts_per_author: usize,
    /// Fixed arrival rate of the first phase, per second.
    #[arg(long, default_value_t = 200.0, value_parser = load::rate)]
    rate: f64,
    /// Concurrent clients of the saturation phase.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Seconds of unrecorded load at the fixed rate before each fixed
    /// phase: the setup's posts are still being fanned out when it ends,
    /// and the client opens its connections as the rate demands.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// The stack's Redis, for the raw floor.
    #[command(flatten)]
    redis: StackRedis,
}

struct Reader {
    session: Session,
    id: String,
}

async fn setup(api: &Api, args: &Args) -> anyhow::Result<Vec<Reader>> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut authors = Vec::new();
    for i in 0..args.authors {
        authors.push(api.account(&format!("fa{run}{i}")).await?);
    }
    let mut readers = Vec::new();
    for i in 0..args.readers {
        let session = api.account(&format!("fr{run}{i}")).await?;
        let id = api.me(&session.access).await?;
        readers.push(Reader { session, id });
    }
    for author in &authors {
        let author_id = api.me(&author.access).await?;
        try_join_all(
            readers
                .iter()
                .map(|r| api.follow(&r.session.access, &author_id)),
        )
        .await?;
    }
    try_join_all(authors.iter().map(|a| async move {
        for n in 0..args.posts_per_author {
            api.post(&a.access, &format!("feed benchmark post {n}"))
                .await?;
        }
        anyhow::Ok(())
    }))
    .await?;
    let expected = (args.authors * args.posts_per_author).min(PAGE as usize);
    let deadline = Instant::now() + Duration::from_secs(60);
    for reader in &readers {
        while api.feed_len(&reader.session.access).await? < expected {
            anyhow::ensure!(Instant::now() < deadline, "feeds did not fill within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(readers)
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let readers = setup(api, &args).await?;
    let redis =
        Builder::from_config(Config::from_url(&args.redis.server.redis_url)?).build_pool(4)?;
    redis.init().await?;
    let duration = Duration::from_secs(args.seconds);
    println!(
        "feed benchmark: {} readers following {} authors, pages of {PAGE}, {} s per phase",
        args.readers, args.authors, args.seconds
    );

    let tokens: Arc<Vec<String>> =
        Arc::new(readers.iter().map(|r| r.session.access.clone()).collect());
    let ids: Arc<Vec<String>> = Arc::new(readers.iter().map(|r| r.id.clone()).collect());
    let api_request = {
        let api = api.clone();
        move |i: u64| {
            let (api, tokens) = (api.clone(), Arc::clone(&tokens));
            async move { api.feed_ok(&tokens[i as usize % tokens.len()]).await }
        }
    };
    let raw_request = {
        let prefix: Arc<str> = args.redis.redis_prefix.clone().into();
        move |i: u64| {
            let (redis, prefix, ids) = (redis.clone(), Arc::clone(&prefix), Arc::clone(&ids));
            async move {
                raw_page(&redis, &prefix, &ids[i as usize % ids.len()])
                    .await
                    .is_ok()
            }
        }
    };

    let mut rows = Vec::new();
    for (name, raw) in [
        ("GET /v1/feed (hydrated)", false),
        ("raw Redis ZREVRANGE+MGET", true),
    ] {
        let (fixed, fixed_elapsed) = if raw {
            fixed_phase(&args, duration, raw_request.clone()).await
        } else {
            fixed_phase(&args, duration, api_request.clone()).await
        };
        load::report(
            &format!("{name} fixed"),
            &fixed,
            fixed_elapsed,
            Some(args.rate),
        );
        let saturated = Recorder::default();
        let started = Instant::now();
        if raw {
            load::closed_loop(args.workers, duration, &saturated, raw_request.clone()).await;
        } else {
            load::closed_loop(args.workers, duration, &saturated, api_request.clone()).await;
        }
        let elapsed = started.elapsed();
        load::report(&format!("{name} max"), &saturated, elapsed, None);
        rows.push((fixed.histogram(), saturated.histogram(), elapsed));
    }
    let [
        (api_fixed, api_max, api_elapsed),
        (raw_fixed, raw_max, raw_elapsed),
    ] = &rows[..]
    else {
        unreachable!("two rows were measured");
    };
    let throughput =
        |h: &hdrhistogram::Histogram<u64>, e: &Duration| h.len() as f64 / e.as_secs_f64();
    println!(
        "API / raw floor: throughput {:.2}x of the floor; p50 at {}/s {:.1}x, p99 {:.1}x",
        throughput(api_max, api_elapsed) / throughput(raw_max, raw_elapsed),
        args.rate,
        api_fixed.value_at_quantile(0.5) as f64 / raw_fixed.value_at_quantile(0.5).max(1) as f64,
        api_fixed.value_at_quantile(0.99) as f64 / raw_fixed.value_at_quantile(0.99).max(1) as f64,
    );
    Ok(())
}

/// `request` at the fixed rate: `--warmup` seconds unrecorded, then
/// `duration` recorded; returns the recording and how long it took.
async fn fixed_phase<F, Fut>(args: &Args, duration: Duration, request: F) -> (Recorder, Duration)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let warmup = Duration::from_secs(args.warmup);
    load::open_loop(args.rate, warmup, 10_000, &Recorder::default(), &request).await;
    let fixed = Recorder::default();
    let started = Instant::now();
    load::open_loop(args.rate, duration, 10_000, &fixed, request).await;
    (fixed, started.elapsed())
}

/// One page the way a minimal reader would fetch it from Redis.
pub async fn raw_page(redis: &fred::clients::Pool, prefix: &str, user: &str) -> anyhow::Result<()> {
    let members: Vec<String> = redis
        .zrevrange(format!("{prefix}feed:{{{user}}}"), 0, PAGE - 1, false)
        .await?;
    if members.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = members
        .iter()
        .map(|m| format!("{prefix}post:{}", m.trim_start_matches('0')))
        .collect();
    let _: Vec<Option<String>> = redis.mget(keys).await?;
    Ok(())
}
