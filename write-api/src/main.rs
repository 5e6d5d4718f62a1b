//! `write-api`: serves the command side over HTTP.

use anyhow::Context;
use platform::auth::TokenVerifier;
use write_api::app;
use write_api::config::Config;
use write_api::passwords::PasswordHasherPool;
use write_api::recent_writes::RecentWrites;
use write_api::sessions::SessionPolicy;
use write_api::state::AppState;
use write_api::throttle::LoginThrottle;
use write_api::tokens::TokenIssuer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, metrics) =
        platform::telemetry::start("write-api", Config::from_env, write_api::describe_metrics)
            .context("invalid configuration")?;
    let db = platform::pg::connect(&config.database)
        .await
        .context("cannot connect to DATABASE_URL")?;
    if config.run_migrations {
        write_api::MIGRATOR
            .run(&db)
            .await
            .context("migrations failed")?;
    }
    let issuer = TokenIssuer::new(
        &config.private_key_pem,
        config.issuer.clone(),
        config.audience.clone(),
        config.access_ttl,
    )
    .context("JWT_PRIVATE_KEY is not an Ed25519 private key in PEM form")?;
    let verifier = TokenVerifier::new(&config.public_key_pem, &config.issuer, &config.audience)
        .context("JWT_PUBLIC_KEY is not an Ed25519 public key in PEM form")?;
    tokio::spawn(housekeeping(db.clone()));
    let recent_writes = match &config.recent_writes_redis_url {
        Some(url) => RecentWrites::connect(url, config.redis_key_prefix.clone())
            .await
            .context("cannot connect to RECENT_WRITES_REDIS_URL")?,
        None => RecentWrites::disabled(),
    };
    let state = AppState {
        db,
        hasher: PasswordHasherPool::new(config.hash_concurrency),
        issuer,
        sessions: SessionPolicy {
            refresh_ttl: config.refresh_ttl,
            lifetime: config.session_lifetime,
            access_ttl: config.access_ttl,
        },
        throttle: config.throttle.clone(),
        registrations: config.registrations.clone(),
        apps: config.apps.clone(),
        writes: config.writes.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        celebrity_threshold: config.celebrity_threshold,
        recent_writes,
    };
    let server_url = format!("http://{}", config.listen_addr);
    let cors = platform::ops::cors_from_env().context("invalid CORS_ALLOWED_ORIGINS")?;
    let app = app::build(
        state,
        verifier,
        metrics,
        config.max_body_bytes,
        cors,
        &server_url,
    );
    tracing::info!(addr = %config.listen_addr, "write-api listening");
    platform::ops::serve(&config.listen_addr, app).await?;
    Ok(())
}

/// Deletes expired idempotency keys, stale rate-limit rows and revocations
/// no token can outlive every ten minutes.
async fn housekeeping(db: sqlx::PgPool) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        let result = async {
            let keys = write_api::idempotency::delete_expired(&db).await?;
            LoginThrottle::delete_stale(&db).await?;
            write_api::sessions::delete_expired_revocations(&db).await?;
            Ok::<_, sqlx::Error>(keys)
        }
        .await;
        match result {
            Ok(keys) => tracing::debug!(expired_idempotency_keys = keys, "housekeeping done"),
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
}
