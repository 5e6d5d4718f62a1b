//! `projector`: builds the read model from the events topic;
//! `projector rebuild [--user ID]` rebuilds it from PostgreSQL.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use contracts::ids::UserId;
use projector::config::{Config, RebuildConfig};
use projector::consumer::EventConsumer;
use projector::effects::Effects;
use projector::rebuild::{Progress, Rebuilder, Tally};
use readmodel::StoresReady;

#[derive(Parser)]
#[command(
    version,
    about = "Builds the microblog's read model from the events topic."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Rebuilds the read model from PostgreSQL, the source of truth. Safe
    /// while the system serves: no feed is ever read empty, and events the
    /// running projector applies meanwhile are kept.
    Rebuild {
        /// Rebuild only this user's profile, timeline, followers and home feed.
        #[arg(long, value_name = "ID")]
        user: Option<i64>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (config, metrics) =
        platform::telemetry::start("projector", Config::from_env, projector::describe_metrics)
            .context("invalid configuration")?;
    let (store, cache) = config.read_model.open_writer().await?;
    let ready = StoresReady {
        store: store.clone(),
        cache: cache.clone(),
    };
    let effects = Effects::new(store, cache, config.fanout_page);
    let ops = platform::ops::attach(poem::Route::new(), metrics, Arc::new(ready));
    match cli.command {
        None => consume(config, effects, ops).await,
        Some(Command::Rebuild { user }) => rebuild(effects, ops, user.map(UserId)).await,
    }
}

async fn consume(config: Config, effects: Effects, ops: poem::Route) -> anyhow::Result<()> {
    config
        .kafka
        .ensure_topics()
        .await
        .context("cannot create the Kafka topics")?;
    let consumer =
        EventConsumer::new(&config, effects).context("cannot create the Kafka consumer")?;

    let (stop_rx, server) = platform::ops::serve_operations(config.listen_addr.clone(), ops);
    tracing::info!(topic = %config.kafka.events_topic, group = %config.group, "projector consuming");
    consumer.run(stop_rx).await?;
    server.abort();
    Ok(())
}

async fn rebuild(effects: Effects, ops: poem::Route, user: Option<UserId>) -> anyhow::Result<()> {
    let config = RebuildConfig::from_env().context("invalid configuration")?;
    let source = sqlx::postgres::PgPoolOptions::new()
        .max_connections(config.concurrency as u32 + 1)
        .connect(&config.source_url)
        .await
        .context("cannot connect to DATABASE_URL")?;
    // A batch job: its progress metrics are there to scrape while it runs.
    let server = tokio::spawn({
        let addr = config.metrics_addr.clone();
        async move {
            if let Err(e) = platform::ops::serve(&addr, ops).await {
                tracing::warn!(error = %e, %addr, "rebuild metrics are not served");
            }
        }
    });
    let rebuilder = Rebuilder::new(
        source,
        effects.store(),
        effects.cache().clone(),
        config.feed_depth,
    );
    let started = Instant::now();
    let revoked = rebuilder.revoked_sessions().await?;
    match user {
        Some(id) => rebuilder.user(id).await?,
        None => {
            let progress = Progress::new(rebuilder.user_count().await?);
            rebuilder
                .all(config.concurrency, || progress.step())
                .await?;
            progress.finish();
        }
    }
    server.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let tally = rebuilder.tally();
    let users = Tally::get(&tally.users);
    let entries = Tally::get(&tally.feed_entries);
    println!(
        "rebuilt {users} users in {elapsed:.1} s ({:.0} users/s): {} posts, {} follows, \
         {entries} feed entries ({:.0}/s), {} stale entries removed; \
         {revoked} session revocations in force",
        users as f64 / elapsed,
        Tally::get(&tally.posts),
        Tally::get(&tally.follows),
        entries as f64 / elapsed,
        Tally::get(&tally.removed),
    );
    Ok(())
}
