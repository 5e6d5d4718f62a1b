//! Revoked sessions as the read host knows them.
//!
//! The projector keeps the set of revoked sessions in Redis (from
//! `session.revoked` events). Each replica holds a copy in memory and
//! reloads it whenever the set's version changes, checked every
//! [`POLL`], so an access-token check costs no round trip and a logout
//! reaches every replica within the pipeline's delay plus one poll. Until
//! the first load succeeds, authenticated requests are refused with 503:
//! a replica that cannot know which sessions ended lets none through.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use platform::auth::RevokedSessions;
use readmodel::cache::HotCache;
use uuid::Uuid;

/// How often the set's version is checked.
pub const POLL: Duration = Duration::from_millis(250);

/// The in-memory copy; `None` until first loaded.
#[derive(Default)]
pub struct RevokedSessionSet(RwLock<Option<Arc<HashSet<Uuid>>>>);

impl RevokedSessionSet {
    /// Loads the set and keeps it current from `cache` in the background.
    pub fn start(cache: HotCache) -> Arc<Self> {
        let set = Arc::new(Self::default());
        tokio::spawn(Arc::clone(&set).follow(cache));
        set
    }

    async fn follow(self: Arc<Self>, cache: HotCache) {
        let mut loaded_version = None;
        let mut every = tokio::time::interval(POLL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match Self::load_if_changed(&cache, loaded_version).await {
                Ok(Some((version, sessions))) => {
                    *self.0.write().expect("the lock is never poisoned") = Some(Arc::new(sessions));
                    loaded_version = Some(version);
                }
                Ok(None) => {}
                Err(e) => {
                    metrics::counter!("read_cache_errors_total", "operation" => "revoked_sessions")
                        .increment(1);
                    tracing::warn!(error = %e, "cannot refresh the revoked sessions");
                }
            }
        }
    }

    async fn load_if_changed(
        cache: &HotCache,
        loaded: Option<i64>,
    ) -> Result<Option<(i64, HashSet<Uuid>)>, readmodel::StoreError> {
        let version = cache.revocations_version().await?;
        if loaded == Some(version) {
            return Ok(None);
        }
        let now = chrono::Utc::now().timestamp();
        let sessions = cache.revoked_sessions(now).await?;
        Ok(Some((version, sessions.into_iter().collect())))
    }
}

#[async_trait]
impl RevokedSessions for RevokedSessionSet {
    async fn is_revoked(&self, session: Uuid) -> Result<bool, String> {
        match &*self.0.read().expect("the lock is never poisoned") {
            Some(set) => Ok(set.contains(&session)),
            None => Err("the revoked sessions are not loaded yet".to_owned()),
        }
    }
}
