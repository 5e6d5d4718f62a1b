//! The read model: what the projector writes and the read API serves.
//!
//! Two tiers:
//! - [`FeedStore`], the durable tier: every post, profile, follower edge,
//!   home-feed entry and author timeline entry. Implemented on Cassandra /
//!   ScyllaDB ([`cassandra::CassandraStore`], production) and on a PostgreSQL
//!   *read* database ([`postgres::PgFeedStore`], the local default). It is
//!   never the write database.
//! - [`cache::HotCache`], Redis: the newest entries of active users' home
//!   feeds as sorted sets, and posts and profiles for hydration.
//!
//! Every write here is idempotent (upserts and set inserts keyed by ids),
//! so redelivered events change nothing.

pub mod cache;
pub mod cassandra;
pub mod connect;
pub mod postgres;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::cursor::FeedPosition;
use crate::ids::{PostId, UserId};

/// A post as the read side serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRecord {
    pub id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
}

impl PostRecord {
    pub fn position(&self) -> FeedPosition {
        FeedPosition {
            created_at_ms: self.created_at.timestamp_millis(),
            post_id: self.id,
        }
    }
}

/// A profile as the read side serves it: the newest snapshot the write
/// side published.
pub type ProfileRecord = crate::events::UserSnapshot;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("cassandra: {0}")]
    Cassandra(String),
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The durable read model. Pages are newest first and strictly after the
/// given position.
#[async_trait]
pub trait FeedStore: Send + Sync + 'static {
    /// Answers if the store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores `post` unless the stored copy is a later edit, so a replayed
    /// or rebuilt older version never overwrites a newer one.
    async fn put_post(&self, post: &PostRecord) -> Result<(), StoreError>;
    /// Forgets a post; hydration then drops it from every page.
    async fn delete_post(&self, id: PostId) -> Result<(), StoreError>;
    /// The posts that exist among `ids`, in no particular order.
    async fn posts(&self, ids: &[PostId]) -> Result<Vec<PostRecord>, StoreError>;

    /// Stores `profile` unless a snapshot with the same or a higher version
    /// is already stored, so snapshots may arrive in any order.
    async fn put_profile(&self, profile: &ProfileRecord) -> Result<(), StoreError>;
    /// The profiles that exist among `ids`, in no particular order.
    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<ProfileRecord>, StoreError>;
    /// The profile with this (lower-case) username.
    async fn profile_by_username(
        &self,
        username: &str,
    ) -> Result<Option<ProfileRecord>, StoreError>;

    async fn add_followers(&self, followee: UserId, followers: &[UserId])
    -> Result<(), StoreError>;
    async fn remove_follower(&self, followee: UserId, follower: UserId) -> Result<(), StoreError>;
    /// Followers of `followee` in id order, after `after`, at most `limit`.
    async fn followers(
        &self,
        followee: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError>;

    /// Adds one entry to each owner's home feed.
    async fn add_to_feeds(&self, owners: &[UserId], entry: FeedPosition) -> Result<(), StoreError>;
    /// Removes one entry from each owner's home feed.
    async fn remove_from_feeds(
        &self,
        owners: &[UserId],
        entry: FeedPosition,
    ) -> Result<(), StoreError>;
    /// Adds entries to one owner's home feed.
    async fn add_to_feed(&self, owner: UserId, entries: &[FeedPosition]) -> Result<(), StoreError>;
    /// Removes entries from one owner's home feed.
    async fn remove_from_feed(
        &self,
        owner: UserId,
        entries: &[FeedPosition],
    ) -> Result<(), StoreError>;
    async fn feed_page(
        &self,
        owner: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError>;

    /// Records that each of `followers` pulls `celebrity`'s posts at read time.
    async fn add_celebrity_follows(
        &self,
        followers: &[UserId],
        celebrity: UserId,
    ) -> Result<(), StoreError>;
    async fn remove_celebrity_follow(
        &self,
        follower: UserId,
        celebrity: UserId,
    ) -> Result<(), StoreError>;
    /// The authors whose timelines `follower`'s home feed merges at read
    /// time, in id order.
    async fn celebrity_follows(&self, follower: UserId) -> Result<Vec<UserId>, StoreError>;

    async fn add_to_timeline(&self, author: UserId, entry: FeedPosition) -> Result<(), StoreError>;
    async fn remove_from_timeline(
        &self,
        author: UserId,
        entry: FeedPosition,
    ) -> Result<(), StoreError>;
    async fn timeline_page(
        &self,
        author: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError>;
}
