//! The live stream under many open connections: `--connections`
//! WebSockets held open on the read host (most of them idle, spread over
//! `--idle-accounts`), while `--watchers` accounts that follow every
//! author each hold one more and posts arrive at `--rate`. Prints post →
//! socket latency (from sending the `POST` to a watcher's socket receiving
//! its `feed.item`, both on this machine's clock) and the read API's
//! resident memory per connection (its `process_resident_memory_bytes`
//! before and after the idle connections opened).
//!
//! The read API must allow that many streams per account and in all:
//! start the stack with `STREAM_MAX_PER_ACCOUNT` and
//! `STREAM_MAX_CONNECTIONS` raised (README, Benchmarks).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, stream};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::client::Api;
use crate::load::{self, Recorder};

#[derive(clap::Args)]
pub struct Args {
    /// WebSockets held open in all (the watchers' included).
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Accounts the idle connections are spread over.
    #[arg(long, default_value_t = 100, value_parser = load::at_least_one)]
    idle_accounts: usize,
    /// Accounts that follow every author and time each post's arrival.
    #[arg(long, default_value_t = 20, value_parser = load::at_least_one)]
    watchers: usize,
    #[arg(long, default_value_t = 10, value_parser = load::at_least_one)]
    authors: usize,
    /// Posts per second.
    #[arg(long, default_value_t = 100.0, value_parser = load::rate)]
    rate: f64,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 200)]
    opening: usize,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Raises this process's open-file limit to its hard limit: each
/// connection is a descriptor.
fn raise_file_limit(needed: usize) -> anyhow::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            bail!("cannot read the open-file limit");
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            bail!("cannot raise the open-file limit");
        }
    }
    if (limit.rlim_cur as usize) < needed + 256 {
        bail!(
            "{needed} connections need an open-file limit above {}; the hard limit is {} (raise it with `ulimit -Hn` as root)",
            needed + 256,
            limit.rlim_max
        );
    }
    Ok(())
}

async fn open(api: &Api, access: &str) -> anyhow::Result<Socket> {
    let url = format!("{}/v1/stream", api.read.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {access}").parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(request).await.context(
        "opening a stream (are STREAM_MAX_PER_ACCOUNT and STREAM_MAX_CONNECTIONS high enough?)",
    )?;
    Ok(socket)
}

/// The read API's resident memory, from its metrics.
async fn read_api_rss(api: &Api) -> anyhow::Result<f64> {
    let text = api
        .http
        .get(format!("{}/metrics", api.read))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .filter(|l| l.starts_with("process_resident_memory_bytes"))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .context("the read API reports no process_resident_memory_bytes")
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let idle = args.connections.saturating_sub(args.watchers);
    raise_file_limit(args.connections)?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut authors = Vec::new();
    for i in 0..args.authors {
        authors.push(api.account(&format!("bs{run}a{i}")).await?);
    }
    let mut author_ids = Vec::new();
    for author in &authors {
        author_ids.push(api.me(&author.access).await?);
    }
    let mut watchers = Vec::new();
    for i in 0..args.watchers {
        let watcher = api.account(&format!("bs{run}w{i}")).await?;
        for id in &author_ids {
            api.follow(&watcher.access, id).await?;
        }
        watchers.push(watcher);
    }
    for watcher in &watchers {
        api.wait_following(&watcher.access, authors.len()).await?;
    }
    let mut idle_accounts = Vec::new();
    for i in 0..args.idle_accounts {
        idle_accounts.push(api.account(&format!("bs{run}i{i}")).await?);
    }

    let before = read_api_rss(api).await?;
    let started = Instant::now();
    let idle_sockets: Vec<Socket> = stream::iter(0..idle)
        .map(|n| {
            let access = idle_accounts[n % idle_accounts.len()].access.clone();
            async move { open(api, &access).await }
        })
        .buffer_unordered(args.opening)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let opened_in = started.elapsed();
    // The gauge is sampled every 5 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = read_api_rss(api).await?;
    println!(
        "stream benchmark: {} connections ({} idle over {} accounts, {} watchers following {} authors), posts at {}/s for {} s",
        args.connections,
        idle_sockets.len(),
        args.idle_accounts,
        args.watchers,
        args.authors,
        args.rate,
        args.seconds
    );
    println!(
        "opened {} idle connections in {:.1} s; read-api resident memory {:.0} MiB -> {:.0} MiB: {:.1} KiB per connection",
        idle_sockets.len(),
        opened_in.as_secs_f64(),
        before / 1_048_576.0,
        after / 1_048_576.0,
        (after - before) / 1024.0 / idle_sockets.len().max(1) as f64
    );

    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let latency = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"),
    ));
    let mut listening = Vec::new();
    for watcher in &watchers {
        let socket = open(api, &watcher.access).await?;
        listening.push(tokio::spawn(listen(
            socket,
            format!("stream bench {run} "),
            Arc::clone(&sent),
            Arc::clone(&latency),
        )));
    }

    let recorder = Recorder::default();
    let load_started = Instant::now();
    let posting = api.clone();
    let stamps = Arc::clone(&sent);
    let texts = format!("stream bench {run} ");
    load::open_loop(
        args.rate,
        Duration::from_secs(args.seconds),
        10_000,
        &recorder,
        move |i| {
            let api = posting.clone();
            let author = authors[i as usize % authors.len()].access.clone();
            let stamps = Arc::clone(&stamps);
            let text = format!("{texts}{i}");
            async move {
                stamps
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(i, Instant::now());
                api.post(&author, &text).await.is_ok()
            }
        },
    )
    .await;
    load::report(
        "POST /v1/posts",
        &recorder,
        load_started.elapsed(),
        Some(args.rate),
    );
    // Late deliveries still count, for a while.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for task in listening {
        task.abort();
    }
    let created = recorder.histogram().len() - recorder.errors();
    let latency = latency.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let expected = created * args.watchers as u64;
    println!(
        "post-to-socket latency over {} of {expected} deliveries ({created} posts x {} watchers): p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        latency.len(),
        args.watchers,
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0
    );
    let still_open = idle_sockets.len();
    drop(idle_sockets);
    println!("{still_open} idle connections closed");
    Ok(())
}

/// Records, for each `feed.item` of a benchmark post, the time since the
/// post was sent.
async fn listen(
    mut socket: Socket,
    prefix: String,
    sent: Arc<Mutex<HashMap<u64, Instant>>>,
    latency: Arc<Mutex<Histogram<u64>>>,
) {
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let arrived = Instant::now();
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if message["event"] != "feed.item" {
            continue;
        }
        let Some(i) = message["data"]["post"]["text"]
            .as_str()
            .and_then(|t| t.strip_prefix(prefix.as_str()))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let Some(at) = sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&i)
            .copied()
        else {
            continue;
        };
        let micros = arrived.duration_since(at).as_micros() as u64;
        latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .saturating_record(micros.max(1));
    }
}
