//! `bench`: measures a running stack (`deploy/stack up`) over HTTP and
//! prints its figures. Load is open-loop where a rate is given: requests
//! are scheduled on a timeline and each latency is measured from its
//! scheduled time, so a server that stalls cannot hide it by slowing the
//! client down (no coordinated omission).

mod chart;
mod client;
mod load;
mod scenarios;
mod scratch;
mod targets;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmarks for the microblog stack", version)]
struct Cli {
    /// The write host.
    #[arg(
        long,
        env = "BENCH_WRITE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    write_url: String,
    /// The read host.
    #[arg(
        long,
        env = "BENCH_READ_URL",
        default_value = "http://127.0.0.1:8081",
        global = true
    )]
    read_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Login throughput and latency at saturation, and home-feed latency on
    /// the read host before and while logins saturate the hash pool.
    Login(scenarios::login::Args),
    /// `POST /v1/posts` at a fixed rate, commit-to-broker lag, and
    /// post-to-feed lag in a real follower's home feed.
    Posts(scenarios::posts::Args),
    /// Fan-out throughput into Redis and the durable store, and rebuild
    /// throughput, on the stores directly (no running services needed).
    Fanout(scenarios::fanout::Args),
    /// The hydrated home feed at a fixed rate and at saturation, beside a
    /// raw-Redis floor of the same page measured in the same run.
    Feed(scenarios::feed::Args),
    /// Loads the seeded data set (users, a power-law follow graph, a post
    /// history) in bulk and projects it with the rebuild.
    Data(scenarios::data::Args),
    /// The whole system under a read/write mix (`--ratio R:W` or `--mix
    /// dsb`) on that data set: latency per operation, fan-out lag, raw
    /// floors, `--find-max`, and a JSON file of every figure.
    Mix(scenarios::mix::Args),
    /// Many open live streams (mostly idle), posts at a fixed rate:
    /// post-to-socket latency and the read API's memory per connection.
    Stream(scenarios::stream::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let api = client::Api::new(&cli.write_url, &cli.read_url);
    match cli.command {
        Command::Login(args) => scenarios::login::run(&api, args).await,
        Command::Posts(args) => scenarios::posts::run(&api, args).await,
        Command::Fanout(args) => scenarios::fanout::run(args).await,
        Command::Feed(args) => scenarios::feed::run(&api, args).await,
        Command::Data(args) => scenarios::data::run(args).await,
        Command::Mix(args) => scenarios::mix::run(&api, args).await,
        Command::Stream(args) => scenarios::stream::run(&api, args).await,
    }
}
