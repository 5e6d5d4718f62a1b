//! [`FeedReader`] and [`FeedWriter`] on Cassandra / ScyllaDB through the `scylla` driver.
//!
//! Tables are in `schema/cassandra/`, whose README explains the model:
//! home feeds and timelines partitioned by owner and week ([`bucket_of`])
//! with an index of the weeks that hold entries, followers spread over
//! [`FOLLOWER_SHARDS`] partitions per followee ([`follower_shard`]),
//! unfollows recorded as one hidden-author row instead of a tombstone per
//! entry, and every feed and timeline write stamped with the write
//! database's time of its fact.
//!
//! Every statement is prepared once at start-up. Reads by many ids and
//! writes to many feeds are issued as concurrent single-partition
//! statements (bounded by [`CONCURRENCY`]) rather than multi-partition `IN`
//! queries or batches, which would make one coordinator wait on many
//! replicas.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::prepared::PreparedStatement;

use crate::{
    FeedEntry, FeedPosition, FeedReader, FeedWriter, PostRecord, PostRow, ProfileRecord,
    ProfileRow, StoreError,
};
use contracts::ids::{PostId, UserId};

/// In-flight statements per call when writing to or reading from many partitions.
pub const CONCURRENCY: usize = 64;

mod notifications;
mod social;

/// The time span of one home-feed or timeline partition: a week.
pub const BUCKET_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Partitions per followee in `followers`. Part of the data layout: changing
/// it would strand every stored follower in the wrong partition.
pub const FOLLOWER_SHARDS: i32 = 16;

/// Bucket numbers read from an index per round trip while paging.
const BUCKETS_PER_READ: i32 = 16;
/// Follower shards read at once while paging; later shards are only read
/// if the page is not full yet.
const SHARDS_IN_FLIGHT: usize = 4;
/// Rows read per round trip while a feed page skips hidden authors' entries.
const FILTERED_CHUNK: usize = 100;

/// The week `created_at_ms` falls in: the bucket of its feed and timeline rows.
pub fn bucket_of(created_at_ms: i64) -> i64 {
    created_at_ms.div_euclid(BUCKET_MS)
}

/// The `followers` partition of `follower` under any followee. A fixed
/// mixing function (splitmix64's finaliser), not std's hasher, whose output
/// may change between Rust releases; it spreads sequential ids evenly.
pub fn follower_shard(follower: UserId) -> i32 {
    let mut z = follower.0 as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % FOLLOWER_SHARDS as u64) as i32
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A table partitioned by key and week, with an index of its weeks.
enum Bucketed {
    /// `home_feed`; entries of `hidden` authors (author id → hidden until,
    /// µs) written until then are left out.
    HomeFeed {
        hidden: HashMap<i64, i64>,
    },
    Timeline,
    /// `followers_by_time` and `following_by_time`: (followed at, account)
    /// in the places of (created at, post).
    Followers,
    Following,
}

/// Starts a newest-first page strictly before every stored position.
const NEWEST: FeedPosition = FeedPosition {
    created_at_ms: i64::MAX,
    post_id: PostId(i64::MAX),
};

/// `schema/cassandra/`, in order.
const SCHEMA: [&str; 6] = [
    include_str!("../../../schema/cassandra/0001_read_model.cql"),
    include_str!("../../../schema/cassandra/0002_conversations.cql"),
    include_str!("../../../schema/cassandra/0003_reposts.cql"),
    include_str!("../../../schema/cassandra/0004_notifications.cql"),
    include_str!("../../../schema/cassandra/0005_engaged_by_post.cql"),
    include_str!("../../../schema/cassandra/0006_markers_favourites.cql"),
];

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Cassandra(e.to_string())
}

struct Statements {
    put_post: PreparedStatement,
    get_post: PreparedStatement,
    delete_post: PreparedStatement,
    put_profile: PreparedStatement,
    get_profile: PreparedStatement,
    put_username: PreparedStatement,
    get_username: PreparedStatement,
    add_follower: PreparedStatement,
    remove_follower: PreparedStatement,
    followers: PreparedStatement,
    add_feed: PreparedStatement,
    add_feed_bucket: PreparedStatement,
    remove_feed: PreparedStatement,
    feed_buckets: PreparedStatement,
    feed_rows: PreparedStatement,
    hide_author: PreparedStatement,
    hidden_authors: PreparedStatement,
    add_timeline: PreparedStatement,
    add_timeline_bucket: PreparedStatement,
    remove_timeline: PreparedStatement,
    timeline_buckets: PreparedStatement,
    timeline_rows: PreparedStatement,
    add_celebrity_follow: PreparedStatement,
    remove_celebrity_follow: PreparedStatement,
    celebrity_follows: PreparedStatement,
}

#[derive(Clone)]
pub struct CassandraStore {
    session: Arc<Session>,
    st: Arc<Statements>,
    social: Arc<social::Statements>,
    notifications: Arc<notifications::Statements>,
}

impl CassandraStore {
    /// Connects to `keyspace`. With `migrate` (the projector; never the
    /// read API), first creates the keyspace with `replication` (a CQL
    /// replication map, e.g. `{'class': 'NetworkTopologyStrategy',
    /// 'replication_factor': 3}`) and applies `schema/cassandra/`, the one
    /// source of the DDL. Then prepares every statement.
    pub async fn connect(
        nodes: &[String],
        keyspace: &str,
        replication: &str,
        migrate: bool,
    ) -> Result<Self, StoreError> {
        let valid_name = !keyspace.is_empty()
            && keyspace.len() <= 48
            && keyspace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(StoreError::Cassandra(format!(
                "invalid keyspace name {keyspace:?}"
            )));
        }
        let session = SessionBuilder::new()
            .known_nodes(nodes)
            .build()
            .await
            .map_err(err)?;
        if migrate {
            session
                .query_unpaged(
                    format!(
                        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}"
                    ),
                    (),
                )
                .await
                .map_err(err)?;
        }
        session.use_keyspace(keyspace, false).await.map_err(err)?;
        if migrate {
            for statement in SCHEMA
                .iter()
                .flat_map(|file| file.split(";\n"))
                .map(strip_comments)
                .filter(|s| !s.is_empty())
            {
                session.query_unpaged(statement, ()).await.map_err(err)?;
            }
            session.await_schema_agreement().await.map_err(err)?;
        }

        let prepare = |cql: &'static str| {
            let session = &session;
            async move { session.prepare(cql).await.map_err(err) }
        };
        let st = Statements {
            put_post: prepare(
                "INSERT INTO posts (id, author_id, text, created_at, edited_at, in_reply_to_id,
                     in_reply_to_author_id, repost_of_id, repost_of_created_at_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            delete_post: prepare("DELETE FROM posts USING TIMESTAMP ? WHERE id = ?").await?,
            get_post: prepare(concat!(
                "SELECT ",
                crate::post_columns!(),
                " FROM posts WHERE id = ?"
            ))
            .await?,
            // The snapshot's version is the write timestamp: of two
            // snapshots the newer wins cell by cell whatever order they
            // arrive in, with no lightweight transaction (ScyllaDB rejects
            // those on tablet keyspaces, and they cost Paxos rounds on a
            // celebrity's row). Every write to `profiles` must do the same.
            put_profile: prepare(
                "INSERT INTO profiles (id, username, display_name, bio, followers_count,
                     following_count, posts_count, celebrity, created_at, version)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            get_profile: prepare(
                "SELECT id, username, display_name, bio, followers_count, following_count,
                     posts_count, celebrity, created_at, version FROM profiles WHERE id = ?",
            )
            .await?,
            put_username: prepare("INSERT INTO profiles_by_username (username, id) VALUES (?, ?)")
                .await?,
            get_username: prepare("SELECT id FROM profiles_by_username WHERE username = ?").await?,
            add_follower: prepare(
                "INSERT INTO followers (followee_id, shard, follower_id) VALUES (?, ?, ?)",
            )
            .await?,
            remove_follower: prepare(
                "DELETE FROM followers WHERE followee_id = ? AND shard = ? AND follower_id = ?",
            )
            .await?,
            followers: prepare(
                "SELECT follower_id FROM followers
                 WHERE followee_id = ? AND shard = ? AND follower_id > ? LIMIT ?",
            )
            .await?,
            add_feed: prepare(
                "INSERT INTO home_feed (owner_id, bucket, created_at_ms, post_id, author_id)
                 VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            add_feed_bucket: prepare(
                "INSERT INTO home_feed_buckets (owner_id, bucket) VALUES (?, ?)",
            )
            .await?,
            remove_feed: prepare(
                "DELETE FROM home_feed USING TIMESTAMP ?
                 WHERE owner_id = ? AND bucket = ? AND created_at_ms = ? AND post_id = ?",
            )
            .await?,
            feed_buckets: prepare(
                "SELECT bucket FROM home_feed_buckets WHERE owner_id = ? AND bucket <= ? LIMIT ?",
            )
            .await?,
            feed_rows: prepare(
                "SELECT created_at_ms, post_id, author_id, WRITETIME(author_id) FROM home_feed
                 WHERE owner_id = ? AND bucket = ? AND (created_at_ms, post_id) < (?, ?) LIMIT ?",
            )
            .await?,
            hide_author: prepare(
                "INSERT INTO home_feed_hidden_authors (owner_id, author_id, hidden_at)
                 VALUES (?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            hidden_authors: prepare(
                "SELECT author_id, hidden_at FROM home_feed_hidden_authors WHERE owner_id = ?",
            )
            .await?,
            add_timeline: prepare(
                "INSERT INTO timeline (author_id, bucket, created_at_ms, post_id)
                 VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            add_timeline_bucket: prepare(
                "INSERT INTO timeline_buckets (author_id, bucket) VALUES (?, ?)",
            )
            .await?,
            remove_timeline: prepare(
                "DELETE FROM timeline USING TIMESTAMP ?
                 WHERE author_id = ? AND bucket = ? AND created_at_ms = ? AND post_id = ?",
            )
            .await?,
            timeline_buckets: prepare(
                "SELECT bucket FROM timeline_buckets WHERE author_id = ? AND bucket <= ? LIMIT ?",
            )
            .await?,
            timeline_rows: prepare(
                "SELECT created_at_ms, post_id FROM timeline
                 WHERE author_id = ? AND bucket = ? AND (created_at_ms, post_id) < (?, ?) LIMIT ?",
            )
            .await?,
            add_celebrity_follow: prepare(
                "INSERT INTO celebrity_follows (follower_id, celebrity_id) VALUES (?, ?)",
            )
            .await?,
            remove_celebrity_follow: prepare(
                "DELETE FROM celebrity_follows WHERE follower_id = ? AND celebrity_id = ?",
            )
            .await?,
            celebrity_follows: prepare(
                "SELECT celebrity_id FROM celebrity_follows WHERE follower_id = ?",
            )
            .await?,
        };
        let social = social::Statements::prepare(&session).await?;
        let notifications = notifications::Statements::prepare(&session).await?;
        Ok(Self {
            session: Arc::new(session),
            st: Arc::new(st),
            social: Arc::new(social),
            notifications: Arc::new(notifications),
        })
    }

    async fn profile(&self, id: UserId) -> Result<Option<ProfileRow>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.st.get_profile, (id.0,))
            .await
            .map_err(err)?;
        result
            .into_rows_result()
            .map_err(err)?
            .maybe_first_row::<ProfileRow>()
            .map_err(err)
    }

    /// Runs `statement` once per value set, at most [`CONCURRENCY`] at a time.
    async fn for_each<V>(
        &self,
        statement: &PreparedStatement,
        values: Vec<V>,
    ) -> Result<(), StoreError>
    where
        V: scylla::serialize::row::SerializeRow + Send + Sync,
    {
        stream::iter(values)
            .map(|v| async move {
                self.session
                    .execute_unpaged(statement, v)
                    .await
                    .map_err(err)
            })
            .buffer_unordered(CONCURRENCY)
            .try_for_each(|_| async { Ok(()) })
            .await
    }

    /// Writes feed rows and the index of the weeks that hold them.
    async fn add_feed_rows(
        &self,
        rows: impl Iterator<Item = (UserId, FeedEntry)>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (entries, buckets): (Vec<_>, Vec<_>) = rows
            .map(|(owner, e)| {
                let bucket = bucket_of(e.position.created_at_ms);
                (
                    (
                        owner.0,
                        bucket,
                        e.position.created_at_ms,
                        e.position.post_id.0,
                        e.author_id.0,
                        micros(at),
                    ),
                    (owner.0, bucket),
                )
            })
            .unzip();
        let mut buckets = buckets;
        buckets.sort_unstable();
        buckets.dedup();
        futures::try_join!(
            self.for_each(&self.st.add_feed, entries),
            self.for_each(&self.st.add_feed_bucket, buckets),
        )?;
        Ok(())
    }

    async fn remove_feed_rows(
        &self,
        rows: impl Iterator<Item = (UserId, FeedPosition)>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let values = rows
            .map(|(owner, p)| {
                (
                    micros(at),
                    owner.0,
                    bucket_of(p.created_at_ms),
                    p.created_at_ms,
                    p.post_id.0,
                )
            })
            .collect();
        self.for_each(&self.st.remove_feed, values).await
    }

    /// Up to [`BUCKETS_PER_READ`] buckets of `key` at or before `newest`,
    /// newest first.
    async fn buckets(
        &self,
        statement: &PreparedStatement,
        key: i64,
        newest: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let result = self
            .session
            .execute_unpaged(statement, (key, newest, BUCKETS_PER_READ))
            .await
            .map_err(err)?;
        let rows = result.into_rows_result().map_err(err)?;
        rows.rows::<(i64,)>()
            .map_err(err)?
            .map(|row| row.map(|(bucket,)| bucket).map_err(err))
            .collect()
    }

    /// A newest-first page across weekly partitions: walks the bucket index
    /// of `key` from the bucket of `after` backwards and reads each bucket
    /// until `limit` rows are shown.
    async fn bucketed_page(
        &self,
        table: Bucketed,
        key: i64,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let mut page = Vec::with_capacity(limit.min(1_000));
        if limit == 0 {
            return Ok(page);
        }
        let (bucket_index, chunk) = match &table {
            Bucketed::Timeline => (&self.st.timeline_buckets, limit),
            Bucketed::Followers => (&self.social.followers_buckets, limit),
            Bucketed::Following => (&self.social.following_buckets, limit),
            Bucketed::HomeFeed { hidden } if hidden.is_empty() => (&self.st.feed_buckets, limit),
            Bucketed::HomeFeed { .. } => (&self.st.feed_buckets, limit.max(FILTERED_CHUNK)),
        };
        let mut before = after.unwrap_or(NEWEST);
        let mut newest_bucket = bucket_of(before.created_at_ms);
        loop {
            let buckets = self.buckets(bucket_index, key, newest_bucket).await?;
            for &bucket in &buckets {
                loop {
                    let found = self.rows(&table, key, bucket, before, chunk).await?;
                    let exhausted = found.len() < chunk;
                    for (position, shown) in found {
                        // Older buckets hold only older positions, so the
                        // last row read bounds the next read wherever it is.
                        before = position;
                        if shown {
                            page.push(position);
                            if page.len() == limit {
                                return Ok(page);
                            }
                        }
                    }
                    if exhausted {
                        break;
                    }
                }
            }
            match buckets.last() {
                Some(&oldest) if buckets.len() == BUCKETS_PER_READ as usize => {
                    newest_bucket = oldest - 1;
                }
                _ => return Ok(page),
            }
        }
    }

    /// Up to `chunk` rows of one bucket strictly before `before`, each
    /// with whether a page shows it.
    async fn rows(
        &self,
        table: &Bucketed,
        key: i64,
        bucket: i64,
        before: FeedPosition,
        chunk: usize,
    ) -> Result<Vec<(FeedPosition, bool)>, StoreError> {
        let values = (
            key,
            bucket,
            before.created_at_ms,
            before.post_id.0,
            i32::try_from(chunk).unwrap_or(i32::MAX),
        );
        match table {
            Bucketed::Timeline | Bucketed::Followers | Bucketed::Following => {
                let statement = match table {
                    Bucketed::Followers => &self.social.followers_rows,
                    Bucketed::Following => &self.social.following_rows,
                    _ => &self.st.timeline_rows,
                };
                let result = self
                    .session
                    .execute_unpaged(statement, values)
                    .await
                    .map_err(err)?;
                let rows = result.into_rows_result().map_err(err)?;
                rows.rows::<(i64, i64)>()
                    .map_err(err)?
                    .map(|row| {
                        let (ms, id) = row.map_err(err)?;
                        Ok((position(ms, id), true))
                    })
                    .collect()
            }
            Bucketed::HomeFeed { hidden } => {
                let result = self
                    .session
                    .execute_unpaged(&self.st.feed_rows, values)
                    .await
                    .map_err(err)?;
                let rows = result.into_rows_result().map_err(err)?;
                rows.rows::<(i64, i64, i64, i64)>()
                    .map_err(err)?
                    .map(|row| {
                        let (ms, id, author, written) = row.map_err(err)?;
                        let shown = hidden.get(&author).is_none_or(|&until| written > until);
                        Ok((position(ms, id), shown))
                    })
                    .collect()
            }
        }
    }

    /// Authors hidden from `owner`'s feed, with the time (µs) until which
    /// their entries are hidden.
    async fn hidden_authors(&self, owner: UserId) -> Result<HashMap<i64, i64>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.st.hidden_authors, (owner.0,))
            .await
            .map_err(err)?;
        let rows = result.into_rows_result().map_err(err)?;
        rows.rows::<(i64, i64)>()
            .map_err(err)?
            .map(|row| row.map_err(err))
            .collect()
    }
}

fn strip_comments(statement: &str) -> String {
    statement
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .trim_end_matches(';')
        .to_owned()
}

fn position(created_at_ms: i64, post_id: i64) -> FeedPosition {
    FeedPosition {
        created_at_ms,
        post_id: PostId(post_id),
    }
}

/// The single `bigint` column of every row, as user ids.
fn user_ids(
    result: scylla::response::query_result::QueryResult,
) -> Result<Vec<UserId>, StoreError> {
    let rows = result.into_rows_result().map_err(err)?;
    rows.rows::<(i64,)>()
        .map_err(err)?
        .map(|row| row.map(|(id,)| UserId(id)).map_err(err))
        .collect()
}

#[async_trait]
impl FeedReader for CassandraStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.session
            .query_unpaged("SELECT release_version FROM system.local", ())
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn posts(&self, ids: &[PostId]) -> Result<Vec<PostRecord>, StoreError> {
        let found: Vec<Option<PostRow>> = stream::iter(ids.iter().copied())
            .map(|id| async move {
                let result = self
                    .session
                    .execute_unpaged(&self.st.get_post, (id.0,))
                    .await
                    .map_err(err)?;
                result
                    .into_rows_result()
                    .map_err(err)?
                    .maybe_first_row::<PostRow>()
                    .map_err(err)
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().map(PostRecord::from).collect())
    }

    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<ProfileRecord>, StoreError> {
        let found: Vec<Option<ProfileRow>> = stream::iter(ids.iter().copied())
            .map(|id| self.profile(id))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .flatten()
            .map(ProfileRecord::from)
            .collect())
    }

    async fn profile_by_username(
        &self,
        username: &str,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.st.get_username, (username,))
            .await
            .map_err(err)?;
        let id = result
            .into_rows_result()
            .map_err(err)?
            .maybe_first_row::<(i64,)>()
            .map_err(err)?;
        match id {
            Some((id,)) => Ok(self.profile(UserId(id)).await?.map(ProfileRecord::from)),
            None => Ok(None),
        }
    }

    /// In (shard, id) order: the shard of `after` from just past it, then
    /// each later shard from its start.
    async fn followers(
        &self,
        followee: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError> {
        let limit_i32 = i32::try_from(limit).unwrap_or(i32::MAX);
        let first = after.map_or(0, follower_shard);
        let mut shards = stream::iter(first..FOLLOWER_SHARDS)
            .map(|shard| {
                let from = match after {
                    Some(after) if shard == first => after.0,
                    _ => i64::MIN,
                };
                async move {
                    let result = self
                        .session
                        .execute_unpaged(&self.st.followers, (followee.0, shard, from, limit_i32))
                        .await
                        .map_err(err)?;
                    user_ids(result)
                }
            })
            .buffered(SHARDS_IN_FLIGHT);
        let mut page = Vec::new();
        while let Some(found) = shards.next().await {
            page.extend(found?);
            if page.len() >= limit {
                page.truncate(limit);
                break;
            }
        }
        Ok(page)
    }

    async fn feed_page(
        &self,
        owner: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let hidden = self.hidden_authors(owner).await?;
        self.bucketed_page(Bucketed::HomeFeed { hidden }, owner.0, after, limit)
            .await
    }

    async fn celebrity_follows(&self, follower: UserId) -> Result<Vec<UserId>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.st.celebrity_follows, (follower.0,))
            .await
            .map_err(err)?;
        user_ids(result)
    }

    async fn timeline_page(
        &self,
        author: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        self.bucketed_page(Bucketed::Timeline, author.0, after, limit)
            .await
    }
}

#[async_trait]
impl FeedWriter for CassandraStore {
    async fn put_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(
                &self.st.put_post,
                (
                    post.id.0,
                    post.author_id.0,
                    &post.text,
                    post.created_at,
                    post.edited_at,
                    post.in_reply_to_id.map(|p| p.0),
                    post.in_reply_to_author_id.map(|u| u.0),
                    post.repost_of.map(|r| r.post_id.0),
                    post.repost_of.map(|r| r.created_at_ms),
                    // Last write wins by the version's own time: a replayed
                    // or rebuilt older version never overwrites a later edit.
                    micros(post.edited_at.unwrap_or(post.created_at)),
                ),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn delete_post(&self, id: PostId, deleted_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(&self.st.delete_post, (micros(deleted_at), id.0))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn put_profile(&self, profile: &ProfileRecord) -> Result<(), StoreError> {
        let p = profile;
        self.session
            .execute_unpaged(&self.st.put_username, (&p.username, p.id.0))
            .await
            .map_err(err)?;
        self.session
            .execute_unpaged(
                &self.st.put_profile,
                (
                    p.id.0,
                    &p.username,
                    &p.display_name,
                    &p.bio,
                    p.followers_count,
                    p.following_count,
                    p.posts_count,
                    p.celebrity,
                    p.created_at,
                    p.version,
                    p.version,
                ),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn add_followers(
        &self,
        followee: UserId,
        followers: &[UserId],
    ) -> Result<(), StoreError> {
        let values = followers
            .iter()
            .map(|&f| (followee.0, follower_shard(f), f.0))
            .collect();
        self.for_each(&self.st.add_follower, values).await
    }

    async fn remove_follower(&self, followee: UserId, follower: UserId) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(
                &self.st.remove_follower,
                (followee.0, follower_shard(follower), follower.0),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn add_to_feeds(
        &self,
        owners: &[UserId],
        entry: FeedEntry,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.add_feed_rows(owners.iter().map(|&o| (o, entry)), at)
            .await
    }

    async fn remove_from_feeds(
        &self,
        owners: &[UserId],
        entry: FeedPosition,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.remove_feed_rows(owners.iter().map(|&o| (o, entry)), at)
            .await
    }

    async fn add_to_feed(
        &self,
        owner: UserId,
        entries: &[FeedEntry],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.add_feed_rows(entries.iter().map(|&e| (owner, e)), at)
            .await
    }

    async fn remove_from_feed(
        &self,
        owner: UserId,
        entries: &[FeedPosition],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.remove_feed_rows(entries.iter().map(|&e| (owner, e)), at)
            .await
    }

    async fn fan_out_post(
        &self,
        owners: &[UserId],
        entry: FeedEntry,
        at: DateTime<Utc>,
    ) -> Result<Vec<UserId>, StoreError> {
        let held = self.hold_back_post(owners, entry, at).await?;
        let reached: Vec<UserId> = owners
            .iter()
            .copied()
            .filter(|o| !held.contains(o))
            .collect();
        self.add_feed_rows(reached.iter().map(|&o| (o, entry)), at)
            .await?;
        Ok(reached)
    }

    async fn offer_to_feeds(
        &self,
        owners: &[UserId],
        entry: FeedEntry,
        original: FeedPosition,
        at: DateTime<Utc>,
    ) -> Result<Vec<UserId>, StoreError> {
        let placed: Vec<Option<UserId>> = stream::iter(owners.iter().copied())
            .map(|owner| async move {
                let placed = self.offer_for(owner, entry, original, at).await?;
                Ok::<_, StoreError>(placed.then_some(owner))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let placed: Vec<UserId> = placed.into_iter().flatten().collect();
        self.add_feed_rows(placed.iter().map(|&o| (o, entry)), at)
            .await?;
        Ok(placed)
    }

    async fn withdraw_offer(
        &self,
        owners: &[UserId],
        entry: FeedPosition,
        original: PostId,
        at: DateTime<Utc>,
    ) -> Result<Vec<(UserId, FeedPosition)>, StoreError> {
        let next: Vec<Option<(UserId, FeedEntry)>> = stream::iter(owners.iter().copied())
            .map(|owner| async move {
                let next = self.withdraw_for(owner, entry, original, at).await?;
                Ok::<_, StoreError>(next.map(|e| (owner, e)))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        self.remove_from_feeds(owners, entry, at).await?;
        let mut placed = Vec::new();
        for (owner, next) in next.into_iter().flatten() {
            self.add_to_feed(owner, &[next], at).await?;
            placed.push((owner, next.position));
        }
        Ok(placed)
    }

    async fn restore_places(
        &self,
        owner: UserId,
        originals: &[FeedPosition],
        at: DateTime<Utc>,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let hidden = self.hidden_authors(owner).await?;
        let hidden = &hidden;
        let found: Vec<Option<FeedEntry>> = stream::iter(originals.iter().copied())
            .map(|original| self.restore_place(owner, original, hidden))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let placed: Vec<FeedEntry> = found.into_iter().flatten().collect();
        self.add_to_feed(owner, &placed, at).await?;
        Ok(placed.iter().map(|e| e.position).collect())
    }

    async fn reposted_in_feed(
        &self,
        owner: UserId,
        posts: &[PostId],
    ) -> Result<Vec<(PostId, bool)>, StoreError> {
        self.reposted_in_feed_of(owner, posts).await
    }

    async fn hide_author(
        &self,
        owner: UserId,
        author: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Stamped with its own time, so of two unfollows the later one wins.
        self.session
            .execute_unpaged(
                &self.st.hide_author,
                (owner.0, author.0, micros(at), micros(at)),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn add_celebrity_follows(
        &self,
        followers: &[UserId],
        celebrity: UserId,
    ) -> Result<(), StoreError> {
        let values = followers.iter().map(|f| (f.0, celebrity.0)).collect();
        self.for_each(&self.st.add_celebrity_follow, values).await
    }

    async fn remove_celebrity_follow(
        &self,
        follower: UserId,
        celebrity: UserId,
    ) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(&self.st.remove_celebrity_follow, (follower.0, celebrity.0))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn add_to_timeline(&self, author: UserId, entry: FeedPosition) -> Result<(), StoreError> {
        let bucket = bucket_of(entry.created_at_ms);
        futures::try_join!(
            self.session.execute_unpaged(
                &self.st.add_timeline,
                (
                    author.0,
                    bucket,
                    entry.created_at_ms,
                    entry.post_id.0,
                    entry.created_at_ms.saturating_mul(1_000),
                ),
            ),
            self.session
                .execute_unpaged(&self.st.add_timeline_bucket, (author.0, bucket)),
        )
        .map_err(err)?;
        Ok(())
    }

    async fn remove_from_timeline(
        &self,
        author: UserId,
        entry: FeedPosition,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(
                &self.st.remove_timeline,
                (
                    micros(at),
                    author.0,
                    bucket_of(entry.created_at_ms),
                    entry.created_at_ms,
                    entry.post_id.0,
                ),
            )
            .await
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOLDEN_SHARDS: [i32; 8] = [5, 10, 0, 4, 12, 12, 4, 8];

    #[test]
    fn shards_are_a_fixed_function_of_the_id() {
        // Stored rows depend on these values: they must never change.
        let shards: Vec<i32> = (1..=8).map(|id| follower_shard(UserId(id))).collect();
        assert_eq!(shards, GOLDEN_SHARDS);
    }

    #[test]
    fn sequential_ids_spread_evenly_over_the_shards() {
        let mut counts = [0u32; FOLLOWER_SHARDS as usize];
        for id in 1..=160_000 {
            counts[follower_shard(UserId(id)) as usize] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min < 500, "uneven shards: {counts:?}");
    }

    proptest! {
        #[test]
        fn a_bucket_holds_exactly_its_week(ms in -1_000_000_000_000_000i64..1_000_000_000_000_000) {
            let bucket = bucket_of(ms);
            prop_assert!(bucket * BUCKET_MS <= ms && ms < (bucket + 1) * BUCKET_MS);
            prop_assert!(bucket_of(ms + 1) >= bucket);
        }

        #[test]
        fn every_id_has_a_shard(id in any::<i64>()) {
            prop_assert!((0..FOLLOWER_SHARDS).contains(&follower_shard(UserId(id))));
        }
    }
}
