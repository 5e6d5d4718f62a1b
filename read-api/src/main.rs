//! `read-api`: serves feeds from the read cluster.

use anyhow::Context;
use read_api::config::Config;
use read_api::feed::FeedService;
use shared::auth::TokenVerifier;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init_logging("read-api");
    let config = Config::from_env().context("invalid configuration")?;
    let metrics = shared::telemetry::init_metrics("read-api");
    read_api::describe_metrics();
    let store = config
        .read_model
        .durable_store(false)
        .await
        .context("cannot open the durable read store")?;
    let cache = config
        .read_model
        .hot_cache()
        .await
        .context("cannot connect to REDIS_URL")?;
    let verifier = TokenVerifier::new(&config.public_key_pem, &config.issuer, &config.audience)
        .context("JWT_PUBLIC_KEY is not an Ed25519 public key in PEM form")?;
    let server_url = format!("http://{}", config.listen_addr);
    let app = read_api::app::build(
        FeedService::new(store, cache),
        verifier,
        metrics,
        read_api::app::WaitLimits {
            bound: config.consistency_bound,
            max_waiters: config.max_waiters,
        },
        shared::ops::cors_from_env().context("invalid CORS_ALLOWED_ORIGINS")?,
        &server_url,
    );
    tracing::info!(addr = %config.listen_addr, "read-api listening");
    shared::ops::serve(&config.listen_addr, app).await?;
    Ok(())
}
