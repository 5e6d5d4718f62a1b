//! `relay`: publishes the write database's outbox to Kafka.

use std::sync::Arc;

use anyhow::Context;
use write_api::config::RelayConfig;
use write_api::db::DbReady;
use write_api::relay::Relay;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init_logging("relay");
    let config = RelayConfig::from_env().context("invalid configuration")?;
    let metrics = shared::telemetry::init_metrics("relay");
    write_api::relay::describe_metrics();
    let db = write_api::db::connect(&config.database)
        .await
        .context("cannot connect to DATABASE_URL")?;
    config
        .kafka
        .ensure_topics()
        .await
        .context("cannot create the Kafka topics")?;
    let relay = Relay::new(db.clone(), config.clone());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ops = shared::ops::attach(poem::Route::new(), metrics, Arc::new(DbReady(db)));
    let server = tokio::spawn({
        let addr = config.listen_addr.clone();
        async move { shared::ops::serve(&addr, ops).await }
    });
    tokio::spawn(async move {
        shared::ops::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    relay.run(stop_rx).await?;
    server.abort();
    Ok(())
}
