//! Leaves each Mastodon command's event id where the read host looks
//! before answering the same account (see
//! `contracts::consistency::recent_writes`):
//! Mastodon clients read their own writes at once and send nothing that
//! names them.
//!
//! This is the write host's one use of the read cluster's Redis, and it
//! only writes there. A failure is logged and counted, never fails the
//! command (it has committed): the client then may read its write late.

use std::time::Duration;

use contracts::consistency::recent_writes;
use contracts::ids::UserId;
use fred::prelude::*;
use uuid::Uuid;

/// Where recent writes are recorded; `None` records nothing.
#[derive(Clone)]
pub struct RecentWrites(Option<Target>);

#[derive(Clone)]
struct Target {
    pool: Pool,
    prefix: String,
}

impl RecentWrites {
    pub fn disabled() -> Self {
        Self(None)
    }

    /// Connects to `url` (`redis://…` or `redis-cluster://a,b,…`), keys
    /// under `prefix` as the read side's cache keys are.
    pub async fn connect(url: &str, prefix: String) -> Result<Self, fred::error::Error> {
        let config = Config::from_url(&platform::config::redis_driver_url(url))?;
        let pool = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
            })
            .with_performance_config(|p| {
                p.default_command_timeout = Duration::from_millis(500);
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build_pool(2)?;
        pool.init().await?;
        Ok(Self(Some(Target { pool, prefix })))
    }

    /// Records that `user` just wrote `event`.
    pub async fn record(&self, user: UserId, event: Option<Uuid>) {
        let (Some(target), Some(event)) = (&self.0, event) else {
            return;
        };
        if let Err(e) = target.record(user, event).await {
            metrics::counter!("recent_writes_errors_total").increment(1);
            tracing::warn!(error = %e, "cannot record a recent write for read-your-writes");
        }
    }
}

impl Target {
    async fn record(&self, user: UserId, event: Uuid) -> Result<(), fred::error::Error> {
        let key = recent_writes::key(&self.prefix, user);
        let now = chrono::Utc::now().timestamp_millis();
        let window = recent_writes::WINDOW_MS;
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline
            .zadd(
                &key,
                None,
                None,
                false,
                false,
                (now as f64, recent_writes::member(event)),
            )
            .await?;
        let _: () = pipeline
            .zremrangebyscore(&key, f64::NEG_INFINITY, (now - window) as f64)
            .await?;
        let _: () = pipeline.pexpire(&key, window, None).await?;
        let _: Vec<Value> = pipeline.all().await?;
        Ok(())
    }
}
