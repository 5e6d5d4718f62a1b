//! Logins saturate the write host's bounded argon2id pool; the read host's
//! home-feed latency is measured before and during, at the same fixed rate.

use std::time::{Duration, Instant};

use crate::client::Api;
use crate::load::{self, Recorder};

#[derive(clap::Args)]
pub struct Args {
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent login loops (more than the hash pool, to saturate it).
    #[arg(long, default_value_t = 16)]
    login_workers: usize,
    /// Home-feed reads per second, in both phases.
    #[arg(long, default_value_t = 100.0, value_parser = load::rate)]
    feed_rate: f64,
    /// Accounts to log in as.
    #[arg(long, default_value_t = 20)]
    accounts: usize,
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let names: Vec<String> = (0..args.accounts).map(|i| format!("bl{run}{i}")).collect();
    let reader = api.account(&format!("br{run}")).await?;
    for name in &names {
        api.register(name).await?;
    }
    let duration = Duration::from_secs(args.seconds);
    println!(
        "login benchmark: {} s per phase, {} login workers, feed reads at {}/s",
        args.seconds, args.login_workers, args.feed_rate
    );

    let idle_feed = Recorder::default();
    let started = Instant::now();
    let (api2, token) = (api.clone(), reader.access.clone());
    load::open_loop(args.feed_rate, duration, 10_000, &idle_feed, move |_| {
        let (api, token) = (api2.clone(), token.clone());
        async move { api.feed_ok(&token).await }
    })
    .await;
    load::report(
        "feed (no login load)",
        &idle_feed,
        started.elapsed(),
        Some(args.feed_rate),
    );

    let logins = Recorder::default();
    let busy_feed = Recorder::default();
    let started = Instant::now();
    let (api2, names2) = (api.clone(), names.clone());
    let login_load = load::closed_loop(args.login_workers, duration, &logins, move |i| {
        let (api, name) = (api2.clone(), names2[i as usize % names2.len()].clone());
        async move {
            api.http
                .post(format!("{}/v1/sessions", api.write))
                .json(&serde_json::json!({"username": name, "password": crate::client::PASSWORD}))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    });
    let (api2, token) = (api.clone(), reader.access.clone());
    let feed_load = load::open_loop(args.feed_rate, duration, 10_000, &busy_feed, move |_| {
        let (api, token) = (api2.clone(), token.clone());
        async move { api.feed_ok(&token).await }
    });
    let (done, ()) = tokio::join!(login_load, feed_load);
    let elapsed = started.elapsed();
    load::report("login (saturated)", &logins, elapsed, None);
    load::report(
        "feed (during logins)",
        &busy_feed,
        elapsed,
        Some(args.feed_rate),
    );
    println!("logins/s: {:.1}", done as f64 / elapsed.as_secs_f64());
    Ok(())
}
