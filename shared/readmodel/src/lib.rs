//! The read model: what the projector writes and the read API serves.
//!
//! Two tiers:
//! - the durable tier, every post, profile, follower edge, home-feed entry
//!   and author timeline entry, behind two halves: [`FeedReader`] (what the
//!   read API may do) and [`FeedWriter`] (what only the projector does);
//!   conversations, engagement and the follow lists are their
//!   [`social::SocialReader`] and [`social::SocialWriter`] parts, and
//!   inboxes and read markers their [`notifications::NotificationReader`]
//!   and [`notifications::NotificationWriter`] parts.
//!   Implemented on Cassandra / ScyllaDB ([`cassandra::CassandraStore`],
//!   production) and on a PostgreSQL *read* database
//!   ([`postgres::PgFeedStore`], the local default). It is never the write
//!   database.
//! - [`cache::HotCache`], Redis: the newest entries of active users' home
//!   feeds as sorted sets, posts and profiles for hydration, applied-event
//!   marks and revoked sessions.
//!
//! Every write here is idempotent (upserts and set inserts keyed by ids),
//! so redelivered events change nothing.
//!
//! It may depend on `contracts`, `platform` and the stores' drivers (sqlx,
//! scylla, fred); never on the write side or the broker.
//!
//! # Layout
//! - this file: records, [`StoreError`], the reader and writer traits,
//!   readiness of both tiers.
//! - [`social`]: replies, counts, likes, follow lists and profile search.
//! - [`notifications`]: inboxes and read markers.
//! - [`postgres`], [`cassandra`]: the durable stores.
//! - [`cache`]: the Redis tier.
//! - [`connect`]: settings from the environment and the one function that
//!   opens both tiers.

pub mod cache;
pub mod cassandra;
pub mod connect;
pub mod notifications;
pub mod postgres;
pub mod social;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contracts::events::UserSnapshot;
use contracts::views::ProfileView;
use platform::error::ApiError;
use serde::{Deserialize, Serialize};

pub use contracts::cursor::FeedPosition;
pub use contracts::events::PostCounts;
use contracts::ids::{PostId, UserId};
pub use notifications::{
    Marker, NotificationKind, NotificationReader, NotificationRecord, NotificationWriter, Timeline,
};
pub use social::{Engagement, EngagementState, FollowEdge, SocialReader, SocialWriter};

/// A post as the read side serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRecord {
    pub id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    /// The post this one answers, and that post's author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to_id: Option<PostId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to_author_id: Option<UserId>,
    /// Set on a repost: the reposted post. A repost has no text; its author
    /// is the reposter and its time the repost's, which place it in the
    /// reposter's timeline and in feeds, while readers see the post it
    /// names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repost_of: Option<RepostOf>,
}

/// The post a repost names, and where that post sits in feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepostOf {
    pub post_id: PostId,
    pub created_at_ms: i64,
}

impl RepostOf {
    pub fn position(&self) -> FeedPosition {
        FeedPosition {
            created_at_ms: self.created_at_ms,
            post_id: self.post_id,
        }
    }
}

impl PostRecord {
    /// Whether this post answers someone else's post: such a reply reaches
    /// only the readers who also follow the account it answers.
    pub fn answers_another(&self) -> Option<UserId> {
        self.in_reply_to_author_id
            .filter(|&parent_author| parent_author != self.author_id)
    }

    pub fn position(&self) -> FeedPosition {
        FeedPosition {
            created_at_ms: self.created_at.timestamp_millis(),
            post_id: self.id,
        }
    }
}

/// A home-feed entry and whose post it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedEntry {
    pub position: FeedPosition,
    pub author_id: UserId,
}

impl PostRecord {
    pub fn feed_entry(&self) -> FeedEntry {
        FeedEntry {
            position: self.position(),
            author_id: self.author_id,
        }
    }
}

/// A post as both durable stores return it: (id, author id, text,
/// created at, edited at, replied-to post, its author, reposted post, its
/// creation in ms).
pub type PostRow = (
    i64,
    i64,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// The columns of a [`PostRow`], for both stores' `SELECT`s.
#[macro_export]
macro_rules! post_columns {
    () => {
        "id, author_id, text, created_at, edited_at, in_reply_to_id, in_reply_to_author_id, \
         repost_of_id, repost_of_created_at_ms"
    };
}

impl From<PostRow> for PostRecord {
    fn from(row: PostRow) -> Self {
        let (
            id,
            author_id,
            text,
            created_at,
            edited_at,
            parent,
            parent_author,
            repost_of,
            repost_of_ms,
        ) = row;
        Self {
            id: PostId(id),
            author_id: UserId(author_id),
            text,
            created_at,
            edited_at,
            in_reply_to_id: parent.map(PostId),
            in_reply_to_author_id: parent_author.map(UserId),
            repost_of: repost_of.zip(repost_of_ms).map(|(id, ms)| RepostOf {
                post_id: PostId(id),
                created_at_ms: ms,
            }),
        }
    }
}

/// A profile as the read side serves it: the newest snapshot the write
/// side published. Cached as JSON in Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileRecord {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub followers_count: i64,
    pub following_count: i64,
    pub posts_count: i64,
    /// Fan-out on read for this author's posts.
    #[serde(default)]
    pub celebrity: bool,
    pub created_at: DateTime<Utc>,
    /// Of the account row; the newest snapshot wins.
    pub version: i64,
}

/// A profile as both durable stores return it, in [`ProfileRecord`]'s field order.
pub type ProfileRow = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    bool,
    DateTime<Utc>,
    i64,
);

impl From<ProfileRow> for ProfileRecord {
    fn from(row: ProfileRow) -> Self {
        let (
            id,
            username,
            display_name,
            bio,
            followers,
            following,
            posts,
            celebrity,
            created_at,
            version,
        ) = row;
        Self {
            id: UserId(id),
            username,
            display_name,
            bio,
            followers_count: followers,
            following_count: following,
            posts_count: posts,
            celebrity,
            created_at,
            version,
        }
    }
}

impl From<&UserSnapshot> for ProfileRecord {
    fn from(u: &UserSnapshot) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            bio: u.bio.clone(),
            followers_count: u.followers_count,
            following_count: u.following_count,
            posts_count: u.posts_count,
            celebrity: u.celebrity,
            created_at: u.created_at,
            version: u.version,
        }
    }
}

impl From<ProfileRecord> for ProfileView {
    fn from(p: ProfileRecord) -> Self {
        Self {
            id: p.id.to_string(),
            username: p.username,
            display_name: p.display_name,
            bio: p.bio,
            followers_count: p.followers_count,
            following_count: p.following_count,
            posts_count: p.posts_count,
            created_at: p.created_at,
        }
    }
}

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

impl StoreError {
    /// Whether retrying the same operation later may succeed: the store was
    /// unreachable, slow, overloaded or restarting, or a lock or
    /// transaction lost a race. The projector retries such failures for as
    /// long as they last and dead-letters only the others, whose cause may
    /// lie in the event itself; an outage must delay the read model, never
    /// drop events from it.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Postgres(e) => postgres_transient(e),
            StoreError::Redis(e) => redis_transient(e),
            // The driver's errors arrive here as text; at run time they are
            // timeouts and unavailable replicas, and a malformed statement is
            // caught by the contract suite, not by an event.
            StoreError::Cassandra(_) => true,
            StoreError::Corrupt(_) => false,
        }
    }
}

fn postgres_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // SQLSTATE classes: 08 connection, 40 serialization failure or
            // deadlock, 53 insufficient resources, 57 statement timeout or
            // shutdown, 58 system error; 55P03 lock_timeout, 55006 object
            // in use.
            matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58"))
                || code == "55P03"
                || code == "55006"
        }),
        _ => false,
    }
}

fn redis_transient(e: &fred::error::Error) -> bool {
    use fred::error::ErrorKind;
    match e.kind() {
        ErrorKind::IO
        | ErrorKind::Timeout
        | ErrorKind::Canceled
        | ErrorKind::Backpressure
        | ErrorKind::Cluster
        | ErrorKind::Routing
        | ErrorKind::Protocol
        | ErrorKind::Sentinel => true,
        // Server replies while a node restarts, fails over or reshards.
        _ => [
            "LOADING",
            "BUSY",
            "TRYAGAIN",
            "CLUSTERDOWN",
            "MASTERDOWN",
            "READONLY",
        ]
        .iter()
        .any(|prefix| e.details().starts_with(prefix)),
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "read model unavailable");
        ApiError::unavailable("the feed is temporarily unavailable; retry later", 1)
    }
}

/// What the read API may ask of the durable read model. Pages are newest
/// first and strictly after the given position.
#[async_trait]
pub trait FeedReader: SocialReader + NotificationReader {
    /// Answers if the store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The posts that exist among `ids`, in no particular order.
    async fn posts(&self, ids: &[PostId]) -> Result<Vec<PostRecord>, StoreError>;
    /// The profiles that exist among `ids`, in no particular order.
    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<ProfileRecord>, StoreError>;
    /// The profile with this (lower-case) username.
    async fn profile_by_username(
        &self,
        username: &str,
    ) -> Result<Option<ProfileRecord>, StoreError>;
    /// Followers of `followee` after `after` in the store's own order (id
    /// order on PostgreSQL, shard then id on Cassandra), at most `limit`;
    /// paging with the last one returned visits each follower once.
    async fn followers(
        &self,
        followee: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError>;
    /// Fewer than `limit` entries means the feed ends there. Entries of an
    /// author hidden by [`FeedWriter::hide_author`] are left out.
    async fn feed_page(
        &self,
        owner: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError>;
    /// The authors whose timelines `follower`'s home feed merges at read
    /// time, in id order.
    async fn celebrity_follows(&self, follower: UserId) -> Result<Vec<UserId>, StoreError>;
    async fn timeline_page(
        &self,
        author: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError>;
}

/// What only the projector (and its rebuild) does to the durable read
/// model; it reads too, through [`FeedReader`].
#[async_trait]
pub trait FeedWriter: FeedReader + SocialWriter + NotificationWriter {
    /// Stores `post` unless the stored copy is a later edit, so a replayed
    /// or rebuilt older version never overwrites a newer one.
    async fn put_post(&self, post: &PostRecord) -> Result<(), StoreError>;
    /// Forgets a post; hydration then drops it from every page.
    /// `deleted_at` is the write database's time of the deletion, the clock
    /// its creation and edits were stamped with, so a store that orders
    /// writes by timestamp (Cassandra) orders them by one clock.
    async fn delete_post(&self, id: PostId, deleted_at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Stores `profile` unless a snapshot with the same or a higher version
    /// is already stored, so snapshots may arrive in any order.
    async fn put_profile(&self, profile: &ProfileRecord) -> Result<(), StoreError>;

    async fn add_followers(&self, followee: UserId, followers: &[UserId])
    -> Result<(), StoreError>;
    async fn remove_follower(&self, followee: UserId, follower: UserId) -> Result<(), StoreError>;

    /// Adds one entry to each owner's home feed.
    ///
    /// `at`, here and in every other feed and timeline write, is the write
    /// database's time of the fact behind the write (the post's creation,
    /// its deletion, the follow, a rebuild's reading of the source). A store
    /// that orders writes by timestamp (Cassandra) orders them by that one
    /// clock, so a redelivered add older than a removal stays removed.
    async fn add_to_feeds(
        &self,
        owners: &[UserId],
        entry: FeedEntry,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Removes one entry from each owner's home feed.
    async fn remove_from_feeds(
        &self,
        owners: &[UserId],
        entry: FeedPosition,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Adds entries to one owner's home feed.
    async fn add_to_feed(
        &self,
        owner: UserId,
        entries: &[FeedEntry],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Removes entries from one owner's home feed.
    async fn remove_from_feed(
        &self,
        owner: UserId,
        entries: &[FeedPosition],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Fans a post out: adds `entry` (a post's) to each owner's home feed,
    /// except where the feed shows the post already through a repost of it
    /// (applied first from another partition, or before a redelivery of
    /// the post); there the post waits as an offer, to take the place when
    /// the repost leaves. Returns the readers it reached.
    async fn fan_out_post(
        &self,
        owners: &[UserId],
        entry: FeedEntry,
        at: DateTime<Utc>,
    ) -> Result<Vec<UserId>, StoreError>;
    /// Fans posts out to one reader (a follow's backfill, a rebuild): each
    /// of `entries` (posts, not reposts) joins `owner`'s feed as
    /// [`FeedWriter::fan_out_post`] would add it. Returns the entries that
    /// joined.
    ///
    /// This default decides with separate reads and writes, so a repost of
    /// one of the posts offered meanwhile can show beside it; a store that
    /// can decide under the posts' locks does so.
    async fn fan_out_posts(
        &self,
        owner: UserId,
        entries: &[FeedEntry],
        at: DateTime<Utc>,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let posts: Vec<PostId> = entries.iter().map(|e| e.position.post_id).collect();
        let held: Vec<PostId> = self
            .reposted_in_feed(owner, &posts)
            .await?
            .into_iter()
            .filter_map(|(post, held)| held.then_some(post))
            .collect();
        let (held, free): (Vec<FeedEntry>, Vec<FeedEntry>) = entries
            .iter()
            .partition(|e| held.contains(&e.position.post_id));
        self.add_to_feed(owner, &free, at).await?;
        let mut joined: Vec<FeedPosition> = free.iter().map(|e| e.position).collect();
        for entry in held {
            let reached = self
                .offer_to_feeds(&[owner], entry, entry.position, at)
                .await?;
            if !reached.is_empty() {
                joined.push(entry.position);
            }
        }
        Ok(joined)
    }
    /// Offers `owners` the post at `original` through `entry` (a repost of
    /// it, or the post itself arriving by a follow's backfill): the entry
    /// joins the feeds that hold the post neither itself nor through
    /// another entry still in them, so a post shows once per feed. Each
    /// reader records the offer, so that when the entry holding the place
    /// leaves, another can take it ([`FeedWriter::withdraw_offer`]).
    /// Returns the readers it reached; asked again about the same entry (a
    /// redelivery) it answers the same. `at` is the entry's time.
    async fn offer_to_feeds(
        &self,
        owners: &[UserId],
        entry: FeedEntry,
        original: FeedPosition,
        at: DateTime<Utc>,
    ) -> Result<Vec<UserId>, StoreError>;
    /// `entry`, a repost of `original`, ended: it leaves `owners`' feeds
    /// and their offers, and where it held the post's place, the oldest
    /// other offer of an account the reader still follows (or of the
    /// reader) takes it. Returns the (reader, entry) placed so.
    async fn withdraw_offer(
        &self,
        owners: &[UserId],
        entry: FeedPosition,
        original: PostId,
        at: DateTime<Utc>,
    ) -> Result<Vec<(UserId, FeedPosition)>, StoreError>;
    /// Gives `originals` (posts, where each sits in feeds) back their
    /// places in `owner`'s feed where offers of them wait but nothing shows
    /// them any more (an unfollow hid the entries that did): the oldest
    /// offer of an account the reader still follows, or of the reader,
    /// joins the feed. Returns the entries placed; `at` is the time of the
    /// change that freed the places.
    async fn restore_places(
        &self,
        owner: UserId,
        originals: &[FeedPosition],
        at: DateTime<Utc>,
    ) -> Result<Vec<FeedPosition>, StoreError>;
    /// Those of `posts` that reposts offered `owner`'s feed, each with
    /// whether one of those reposts holds the post's place there now.
    async fn reposted_in_feed(
        &self,
        owner: UserId,
        posts: &[PostId],
    ) -> Result<Vec<(PostId, bool)>, StoreError>;
    /// `owner` stopped following `author` at `at`: the author's entries
    /// written to the feed until then stop showing, while those written
    /// later (newer posts, a later follow's backfill) show. Cassandra
    /// records this as one row instead of a tombstone per entry.
    async fn hide_author(
        &self,
        owner: UserId,
        author: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

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

    /// Adds the author's entry, stamped with the post's creation time.
    async fn add_to_timeline(&self, author: UserId, entry: FeedPosition) -> Result<(), StoreError>;
    /// Removes a deleted post's entry; `at` is its deletion's time.
    async fn remove_from_timeline(
        &self,
        author: UserId,
        entry: FeedPosition,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// `GET /ready` of a process that uses both tiers.
pub struct StoresReady {
    pub store: Arc<dyn FeedReader>,
    pub cache: cache::HotCache,
}

#[async_trait]
impl platform::ops::Readiness for StoresReady {
    async fn check(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())?;
        self.cache.ping().await.map_err(|e| e.to_string())
    }
}
