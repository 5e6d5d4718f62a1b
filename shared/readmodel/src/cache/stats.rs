//! Instance statistics: how many accounts and posts exist, as the
//! instance's description reports them.
//!
//! Keys: `stats:accounts`, `stats:posts` and `stats:deleted_posts`, each a
//! HyperLogLog of ids. Adding an id twice changes nothing, so redelivered
//! events and rebuilds count each once, and each key stays 12 KiB however
//! many ids it holds; a count is within about 1% of the truth, which is
//! what such a figure needs.

use fred::prelude::*;

use super::HotCache;
use crate::StoreError;
use contracts::ids::{PostId, UserId};

/// What an instance reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstanceStats {
    pub accounts: u64,
    /// Posts written and not deleted; reposts are not posts here.
    pub posts: u64,
}

impl HotCache {
    fn stats_key(&self, name: &str) -> String {
        format!("{}stats:{name}", self.prefix)
    }

    /// Counts `accounts` as existing.
    pub async fn count_accounts(&self, accounts: &[UserId]) -> Result<(), StoreError> {
        self.count("accounts", accounts.iter().map(|u| u.0)).await
    }

    /// Counts `posts` as written.
    pub async fn count_posts(&self, posts: &[PostId]) -> Result<(), StoreError> {
        self.count("posts", posts.iter().map(|p| p.0)).await
    }

    /// Counts `posts` as deleted.
    pub async fn count_deleted_posts(&self, posts: &[PostId]) -> Result<(), StoreError> {
        self.count("deleted_posts", posts.iter().map(|p| p.0)).await
    }

    async fn count(&self, name: &str, ids: impl Iterator<Item = i64>) -> Result<(), StoreError> {
        let ids: Vec<Value> = ids.map(Value::from).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let _: i64 = self.pool.pfadd(self.stats_key(name), ids).await?;
        Ok(())
    }

    /// The counts as of now.
    pub async fn instance_stats(&self) -> Result<InstanceStats, StoreError> {
        let (accounts, posts, deleted): (u64, u64, u64) = tokio::try_join!(
            self.pool.pfcount(self.stats_key("accounts")),
            self.pool.pfcount(self.stats_key("posts")),
            self.pool.pfcount(self.stats_key("deleted_posts")),
        )?;
        Ok(InstanceStats {
            accounts,
            posts: posts.saturating_sub(deleted),
        })
    }
}
