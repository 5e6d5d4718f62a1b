//! `relay`: publishes the write database's outbox to Kafka.

use std::sync::Arc;

use anyhow::Context;
use platform::pg::PgReady;
use relay::Relay;
use relay::config::RelayConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, metrics) =
        platform::telemetry::start("relay", RelayConfig::from_env, relay::describe_metrics)
            .context("invalid configuration")?;
    let db = platform::pg::connect(&config.database)
        .await
        .context("cannot connect to DATABASE_URL")?;
    config
        .kafka
        .ensure_topics()
        .await
        .context("cannot create the Kafka topics")?;
    let relay = Relay::new(db.clone(), config.clone());

    let ops = platform::ops::attach(poem::Route::new(), metrics, Arc::new(PgReady(db)));
    let (stop_rx, server) = platform::ops::serve_operations(config.listen_addr.clone(), ops);
    relay.run(stop_rx).await?;
    server.abort();
    Ok(())
}
