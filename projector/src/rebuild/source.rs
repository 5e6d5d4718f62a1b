//! The rebuild's source of truth: every query the rebuild makes against
//! the write database, each mapping the write side's rows to read-model
//! records. They read committed data only and lock nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use contracts::ids::{PostId, UserId};
use readmodel::{FeedEntry, FeedPosition, PostRecord, PostRow, ProfileRecord, ProfileRow};
use sqlx::PgPool;

/// The write database, read by the rebuild.
#[derive(Clone)]
pub struct Source(PgPool);

fn id_set(rows: Vec<(i64,)>) -> HashSet<i64> {
    rows.into_iter().map(|(id,)| id).collect()
}

impl Source {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }

    pub async fn user_count(&self) -> Result<u64, sqlx::Error> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM users")
            .fetch_one(&self.0)
            .await?;
        Ok(n as u64)
    }

    /// Up to `limit` user ids after `after`, in id order.
    pub async fn user_ids(&self, after: i64, limit: usize) -> Result<Vec<UserId>, sqlx::Error> {
        let page: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after)
                .bind(limit as i64)
                .fetch_all(&self.0)
                .await?;
        Ok(page.into_iter().map(|(id,)| UserId(id)).collect())
    }

    /// The account's public profile.
    pub async fn profile(&self, id: UserId) -> Result<Option<ProfileRecord>, sqlx::Error> {
        let row: Option<ProfileRow> = sqlx::query_as(
            "SELECT id, username, display_name, bio, followers_count, following_count,
                    posts_count, celebrity, created_at, version
             FROM users WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.0)
        .await?;
        Ok(row.map(ProfileRecord::from))
    }

    /// Up to `limit` of `author`'s live posts before `before` (created at,
    /// id), newest first.
    pub async fn live_posts(
        &self,
        author: UserId,
        before: (DateTime<Utc>, i64),
        limit: usize,
    ) -> Result<Vec<PostRecord>, sqlx::Error> {
        let rows: Vec<PostRow> = sqlx::query_as(
            "SELECT id, author_id, text, created_at, edited_at FROM posts
             WHERE author_id = $1 AND deleted_at IS NULL AND (created_at, id) < ($2, $3)
             ORDER BY created_at DESC, id DESC LIMIT $4",
        )
        .bind(author.0)
        .bind(before.0)
        .bind(before.1)
        .bind(limit as i64)
        .fetch_all(&self.0)
        .await?;
        Ok(rows.into_iter().map(PostRecord::from).collect())
    }

    /// When each of `posts` that exists was deleted (`None`: it is live).
    pub async fn deletions(
        &self,
        posts: &[FeedPosition],
    ) -> Result<HashMap<i64, Option<DateTime<Utc>>>, sqlx::Error> {
        let rows: Vec<(i64, Option<DateTime<Utc>>)> =
            sqlx::query_as("SELECT id, deleted_at FROM posts WHERE id = ANY($1)")
                .bind(ids(posts))
                .fetch_all(&self.0)
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// Up to `limit` followers of `followee` after `after`, in id order.
    pub async fn followers(
        &self,
        followee: UserId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<UserId>, sqlx::Error> {
        let page: Vec<(i64,)> = sqlx::query_as(
            "SELECT follower_id FROM follows WHERE followee_id = $1 AND follower_id > $2
             ORDER BY follower_id LIMIT $3",
        )
        .bind(followee.0)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.0)
        .await?;
        Ok(page.into_iter().map(|(id,)| UserId(id)).collect())
    }

    /// Which of `candidates` follow `followee`.
    pub async fn followers_among(
        &self,
        followee: UserId,
        candidates: &[UserId],
    ) -> Result<HashSet<i64>, sqlx::Error> {
        let candidates: Vec<i64> = candidates.iter().map(|u| u.0).collect();
        let rows = sqlx::query_as(
            // One primary-key lookup per candidate; `follower_id = ANY($2)`
            // makes PostgreSQL walk every follower of a popular account
            // (1.5 s per page at 74,000 followers).
            "SELECT f.follower_id FROM unnest($2::bigint[]) AS c(id)
             JOIN follows f ON f.follower_id = c.id AND f.followee_id = $1",
        )
        .bind(followee.0)
        .bind(&candidates)
        .fetch_all(&self.0)
        .await?;
        Ok(id_set(rows))
    }

    /// The newest `depth` entries of `owner`'s home feed: their own posts
    /// and those of the ordinary authors they follow.
    pub async fn home_feed(
        &self,
        owner: UserId,
        depth: usize,
    ) -> Result<Vec<FeedEntry>, sqlx::Error> {
        let rows: Vec<(DateTime<Utc>, i64, i64)> = sqlx::query_as(
            // Two index-driven halves: with `author_id = $1 OR author_id IN
            // (…)` PostgreSQL scans every post for every user.
            "SELECT created_at, id, author_id FROM (
                 SELECT p.created_at, p.id, p.author_id FROM posts p
                 WHERE p.author_id = $1 AND p.deleted_at IS NULL
                 UNION ALL
                 SELECT p.created_at, p.id, p.author_id FROM follows f
                 JOIN users u ON u.id = f.followee_id AND NOT u.celebrity
                 JOIN posts p ON p.author_id = f.followee_id AND p.deleted_at IS NULL
                 WHERE f.follower_id = $1) AS feed
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(owner.0)
        .bind(depth as i64)
        .fetch_all(&self.0)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(created_at, id, author)| FeedEntry {
                position: FeedPosition {
                    created_at_ms: created_at.timestamp_millis(),
                    post_id: PostId(id),
                },
                author_id: UserId(author),
            })
            .collect())
    }

    /// The write database's clock: what the rebuild's read-model writes are
    /// stamped with, like the projector's.
    pub async fn now(&self) -> Result<DateTime<Utc>, sqlx::Error> {
        let (now,) = sqlx::query_as("SELECT clock_timestamp()")
            .fetch_one(&self.0)
            .await?;
        Ok(now)
    }

    /// The celebrities `owner` follows.
    pub async fn followed_celebrities(&self, owner: UserId) -> Result<Vec<UserId>, sqlx::Error> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT f.followee_id FROM follows f JOIN users u ON u.id = f.followee_id
             WHERE f.follower_id = $1 AND u.celebrity",
        )
        .bind(owner.0)
        .fetch_all(&self.0)
        .await?;
        Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
    }

    /// Which of `authors` `owner` follows.
    pub async fn followed_among(
        &self,
        owner: UserId,
        authors: &[UserId],
    ) -> Result<HashSet<i64>, sqlx::Error> {
        let authors: Vec<i64> = authors.iter().map(|u| u.0).collect();
        let rows = sqlx::query_as(
            "SELECT followee_id FROM follows WHERE follower_id = $1 AND followee_id = ANY($2)",
        )
        .bind(owner.0)
        .bind(&authors)
        .fetch_all(&self.0)
        .await?;
        Ok(id_set(rows))
    }

    /// Which of `entries` belong in `owner`'s home feed now: live posts of
    /// the owner or of an author the owner follows.
    pub async fn feed_entries_among(
        &self,
        owner: UserId,
        entries: &[FeedPosition],
    ) -> Result<HashSet<i64>, sqlx::Error> {
        let rows = sqlx::query_as(
            "SELECT p.id FROM posts p
             WHERE p.id = ANY($2) AND p.deleted_at IS NULL AND (p.author_id = $1 OR EXISTS (
                 SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = p.author_id))",
        )
        .bind(owner.0)
        .bind(ids(entries))
        .fetch_all(&self.0)
        .await?;
        Ok(id_set(rows))
    }

    /// Revoked sessions whose access tokens may still be valid, with the
    /// time after which none is.
    pub async fn revoked_sessions(&self) -> Result<Vec<(uuid::Uuid, DateTime<Utc>)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT session_id, tokens_valid_until FROM revoked_sessions
             WHERE tokens_valid_until > now()",
        )
        .fetch_all(&self.0)
        .await
    }
}

fn ids(positions: &[FeedPosition]) -> Vec<i64> {
    positions.iter().map(|p| p.post_id.0).collect()
}
