//! `relay`: publishes the write database's outbox to Kafka.

use std::sync::Arc;

use anyhow::Context;
use platform::pg::PgReady;
use relay::Relay;
use relay::config::RelayConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init_logging("relay");
    let config = RelayConfig::from_env().context("invalid configuration")?;
    let metrics = platform::telemetry::init_metrics("relay");
    relay::describe_metrics();
    let db = platform::pg::connect(&config.database)
        .await
        .context("cannot connect to DATABASE_URL")?;
    config
        .kafka
        .ensure_topics()
        .await
        .context("cannot create the Kafka topics")?;
    let relay = Relay::new(db.clone(), config.clone());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ops = platform::ops::attach(poem::Route::new(), metrics, Arc::new(PgReady(db)));
    let server = tokio::spawn({
        let addr = config.listen_addr.clone();
        async move { platform::ops::serve(&addr, ops).await }
    });
    tokio::spawn(async move {
        platform::ops::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    relay.run(stop_rx).await?;
    server.abort();
    Ok(())
}
