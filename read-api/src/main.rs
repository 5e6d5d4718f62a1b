//! `read-api`: serves feeds from the read cluster.

use anyhow::Context;
use platform::auth::TokenVerifier;
use read_api::config::Config;
use read_api::feed::FeedService;
use read_api::stream::LiveHub;
use std::sync::Arc;

/// glibc's allocator cost a quarter of the CPU of a hydrated page (many
/// small, short-lived allocations across threads); see README, benchmarks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, metrics) =
        platform::telemetry::start("read-api", Config::from_env, read_api::describe_metrics)
            .context("invalid configuration")?;
    let (store, cache) = config.read_model.open_reader().await?;
    let verifier = TokenVerifier::new(&config.public_key_pem, &config.issuer, &config.audience)
        .context("JWT_PUBLIC_KEY is not an Ed25519 public key in PEM form")?;
    let server_url = format!("http://{}", config.listen_addr);
    let feeds = Arc::new(
        FeedService::new(store, cache).with_timeline_copies(config.celebrity_timeline_copy),
    );
    let hub = LiveHub::start(Arc::clone(&feeds), config.stream)
        .await
        .context("cannot subscribe to the live stream's channels")?;
    let closing = Arc::clone(&hub);
    tokio::spawn(async move {
        // Live streams would hold the graceful shutdown until its timeout:
        // close them at once, with 1001, so clients reconnect elsewhere.
        platform::ops::shutdown_signal().await;
        closing.shut_down();
    });
    let app = read_api::app::build(
        feeds,
        Arc::clone(&hub),
        verifier,
        metrics,
        read_api::app::WaitLimits {
            bound: config.consistency_bound,
            max_waiters: config.max_waiters,
            in_flight: platform::shed::InFlightLimit::new(config.max_in_flight, config.queue),
        },
        platform::ops::cors_from_env().context("invalid CORS_ALLOWED_ORIGINS")?,
        &server_url,
    );
    tracing::info!(addr = %config.listen_addr, "read-api listening");
    platform::ops::serve(&config.listen_addr, app).await?;
    // Upgraded sockets outlive the HTTP server's graceful shutdown.
    hub.drained(std::time::Duration::from_secs(5)).await;
    Ok(())
}
