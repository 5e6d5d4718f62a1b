//! [`FeedReader`] and [`FeedWriter`] on Cassandra / ScyllaDB through the `scylla` driver.
//!
//! Tables are in `schema/cassandra/`. Every statement is prepared once at
//! start-up. Reads by many ids and writes to many feeds are issued as
//! concurrent single-partition statements (bounded by
//! [`CONCURRENCY`]) rather than multi-partition `IN` queries or batches,
//! which would make one coordinator wait on many replicas.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::prepared::PreparedStatement;

use crate::{
    FeedPosition, FeedReader, FeedWriter, PostRecord, PostRow, ProfileRecord, ProfileRow,
    StoreError,
};
use contracts::ids::{PostId, UserId};

/// In-flight statements per call when writing to or reading from many partitions.
pub const CONCURRENCY: usize = 64;

const SCHEMA: &str = include_str!("../../../schema/cassandra/0001_read_model.cql");

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Cassandra(e.to_string())
}

struct Statements {
    put_post: PreparedStatement,
    get_post: PreparedStatement,
    delete_post: PreparedStatement,
    remove_follower: PreparedStatement,
    remove_feed: PreparedStatement,
    remove_timeline: PreparedStatement,
    put_profile: PreparedStatement,
    get_profile: PreparedStatement,
    put_username: PreparedStatement,
    get_username: PreparedStatement,
    add_follower: PreparedStatement,
    followers: PreparedStatement,
    add_feed: PreparedStatement,
    feed_first: PreparedStatement,
    feed_after: PreparedStatement,
    add_timeline: PreparedStatement,
    timeline_first: PreparedStatement,
    timeline_after: PreparedStatement,
    add_celebrity_follow: PreparedStatement,
    remove_celebrity_follow: PreparedStatement,
    celebrity_follows: PreparedStatement,
}

#[derive(Clone)]
pub struct CassandraStore {
    session: Arc<Session>,
    st: Arc<Statements>,
}

impl CassandraStore {
    /// Connects, creates the keyspace and tables if missing, and prepares
    /// every statement. `replication` is a CQL replication map, e.g.
    /// `{'class': 'NetworkTopologyStrategy', 'replication_factor': 3}`.
    /// Connects to `keyspace`. With `migrate` (the projector; never the
    /// read API), first creates the keyspace with `replication` and applies
    /// `schema/cassandra/`, the one source of the DDL.
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
                .split(";\n")
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
                "INSERT INTO posts (id, author_id, text, created_at, edited_at) VALUES (?, ?, ?, ?, ?)
                 USING TIMESTAMP ?",
            )
            .await?,
            delete_post: prepare("DELETE FROM posts USING TIMESTAMP ? WHERE id = ?").await?,
            remove_follower: prepare("DELETE FROM followers WHERE followee_id = ? AND follower_id = ?")
                .await?,
            remove_feed: prepare(
                "DELETE FROM home_feed WHERE owner_id = ? AND created_at_ms = ? AND post_id = ?",
            )
            .await?,
            remove_timeline: prepare(
                "DELETE FROM timeline WHERE author_id = ? AND created_at_ms = ? AND post_id = ?",
            )
            .await?,
            get_post: prepare("SELECT id, author_id, text, created_at, edited_at FROM posts WHERE id = ?")
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
            get_username: prepare("SELECT id FROM profiles_by_username WHERE username = ?")
                .await?,
            add_follower: prepare("INSERT INTO followers (followee_id, follower_id) VALUES (?, ?)")
                .await?,
            followers: prepare(
                "SELECT follower_id FROM followers WHERE followee_id = ? AND follower_id > ? LIMIT ?",
            )
            .await?,
            add_feed: prepare(
                "INSERT INTO home_feed (owner_id, created_at_ms, post_id) VALUES (?, ?, ?)",
            )
            .await?,
            feed_first: prepare(
                "SELECT created_at_ms, post_id FROM home_feed WHERE owner_id = ? LIMIT ?",
            )
            .await?,
            feed_after: prepare(
                "SELECT created_at_ms, post_id FROM home_feed
                 WHERE owner_id = ? AND (created_at_ms, post_id) < (?, ?) LIMIT ?",
            )
            .await?,
            add_timeline: prepare(
                "INSERT INTO timeline (author_id, created_at_ms, post_id) VALUES (?, ?, ?)",
            )
            .await?,
            timeline_first: prepare(
                "SELECT created_at_ms, post_id FROM timeline WHERE author_id = ? LIMIT ?",
            )
            .await?,
            timeline_after: prepare(
                "SELECT created_at_ms, post_id FROM timeline
                 WHERE author_id = ? AND (created_at_ms, post_id) < (?, ?) LIMIT ?",
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
        Ok(Self {
            session: Arc::new(session),
            st: Arc::new(st),
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

    async fn page(
        &self,
        first: &PreparedStatement,
        after_stmt: &PreparedStatement,
        key: i64,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let result = match after {
            None => self.session.execute_unpaged(first, (key, limit)).await,
            Some(p) => {
                self.session
                    .execute_unpaged(after_stmt, (key, p.created_at_ms, p.post_id.0, limit))
                    .await
            }
        }
        .map_err(err)?;
        let rows = result.into_rows_result().map_err(err)?;
        rows.rows::<(i64, i64)>()
            .map_err(err)?
            .map(|row| {
                row.map(|(created_at_ms, id)| FeedPosition {
                    created_at_ms,
                    post_id: PostId(id),
                })
                .map_err(err)
            })
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

    async fn followers(
        &self,
        followee: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let result = self
            .session
            .execute_unpaged(
                &self.st.followers,
                (followee.0, after.map_or(i64::MIN, |u| u.0), limit),
            )
            .await
            .map_err(err)?;
        user_ids(result)
    }

    async fn feed_page(
        &self,
        owner: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        self.page(
            &self.st.feed_first,
            &self.st.feed_after,
            owner.0,
            after,
            limit,
        )
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
        self.page(
            &self.st.timeline_first,
            &self.st.timeline_after,
            author.0,
            after,
            limit,
        )
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
                    // Last write wins by the version's own time: a replayed
                    // or rebuilt older version never overwrites a later edit.
                    post.edited_at.unwrap_or(post.created_at).timestamp_micros(),
                ),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn delete_post(&self, id: PostId, deleted_at: DateTime<Utc>) -> Result<(), StoreError> {
        // Stamped by the write database's clock, like the post's writes.
        self.session
            .execute_unpaged(&self.st.delete_post, (deleted_at.timestamp_micros(), id.0))
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
        let values = followers.iter().map(|f| (followee.0, f.0)).collect();
        self.for_each(&self.st.add_follower, values).await
    }

    async fn remove_follower(&self, followee: UserId, follower: UserId) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(&self.st.remove_follower, (followee.0, follower.0))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn add_to_feeds(&self, owners: &[UserId], entry: FeedPosition) -> Result<(), StoreError> {
        let values = owners
            .iter()
            .map(|o| (o.0, entry.created_at_ms, entry.post_id.0))
            .collect();
        self.for_each(&self.st.add_feed, values).await
    }

    async fn remove_from_feeds(
        &self,
        owners: &[UserId],
        entry: FeedPosition,
    ) -> Result<(), StoreError> {
        let values = owners
            .iter()
            .map(|o| (o.0, entry.created_at_ms, entry.post_id.0))
            .collect();
        self.for_each(&self.st.remove_feed, values).await
    }

    async fn add_to_feed(&self, owner: UserId, entries: &[FeedPosition]) -> Result<(), StoreError> {
        let values = entries
            .iter()
            .map(|e| (owner.0, e.created_at_ms, e.post_id.0))
            .collect();
        self.for_each(&self.st.add_feed, values).await
    }

    async fn remove_from_feed(
        &self,
        owner: UserId,
        entries: &[FeedPosition],
    ) -> Result<(), StoreError> {
        let values = entries
            .iter()
            .map(|e| (owner.0, e.created_at_ms, e.post_id.0))
            .collect();
        self.for_each(&self.st.remove_feed, values).await
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
        self.session
            .execute_unpaged(
                &self.st.add_timeline,
                (author.0, entry.created_at_ms, entry.post_id.0),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn remove_from_timeline(
        &self,
        author: UserId,
        entry: FeedPosition,
    ) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(
                &self.st.remove_timeline,
                (author.0, entry.created_at_ms, entry.post_id.0),
            )
            .await
            .map_err(err)?;
        Ok(())
    }
}
