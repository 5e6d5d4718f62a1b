//! `relay`: publishes the write database's outbox to Kafka.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use shared::ops::Readiness;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use write_api::config::RelayConfig;
use write_api::relay::Relay;

struct DbReady(PgPool);

#[async_trait]
impl Readiness for DbReady {
    async fn check(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .map(|_| ())
            .map_err(|e| format!("database: {e}"))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init_logging("relay");
    let config = RelayConfig::from_env().context("invalid configuration")?;
    let metrics = shared::telemetry::init_metrics("relay");
    write_api::relay::describe_metrics();
    let db = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&config.database_url)
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
