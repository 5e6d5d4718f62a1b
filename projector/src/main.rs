//! `projector`: builds the read model from the events topic.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use projector::config::Config;
use projector::consumer::EventConsumer;
use projector::effects::Effects;
use shared::ops::Readiness;

struct StoresReady(Effects);

#[async_trait]
impl Readiness for StoresReady {
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init_logging("projector");
    let config = Config::from_env().context("invalid configuration")?;
    let metrics = shared::telemetry::init_metrics("projector");
    let store = config
        .read_model
        .durable_store(true)
        .await
        .context("cannot open the durable read store")?;
    let cache = config
        .read_model
        .hot_cache()
        .await
        .context("cannot connect to REDIS_URL")?;
    let effects = Effects::new(store, cache, config.fanout_page);
    config
        .kafka
        .ensure_topics()
        .await
        .context("cannot create the Kafka topics")?;
    let consumer = EventConsumer::new(
        &config.kafka,
        &config.group,
        effects.clone(),
        config.max_attempts,
    )
    .context("cannot create the Kafka consumer")?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ops = shared::ops::attach(poem::Route::new(), metrics, Arc::new(StoresReady(effects)));
    let server = tokio::spawn({
        let addr = config.listen_addr.clone();
        async move { shared::ops::serve(&addr, ops).await }
    });
    tokio::spawn(async move {
        shared::ops::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    tracing::info!(topic = %config.kafka.events_topic, group = %config.group, "projector consuming");
    consumer.run(stop_rx).await?;
    server.abort();
    Ok(())
}
