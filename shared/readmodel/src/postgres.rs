//! [`FeedReader`] and [`FeedWriter`] on a PostgreSQL read database (schema in `schema/read/`):
//! the stand-in for Cassandra on a single machine.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{
    FeedEntry, FeedPosition, FeedReader, FeedWriter, PostRecord, PostRow, ProfileRecord,
    ProfileRow, StoreError,
};
use contracts::ids::{PostId, UserId};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../schema/read");

#[derive(Clone)]
pub struct PgFeedStore {
    pool: PgPool,
}

/// The statements' shapes: every method is one statement of one of these
/// shapes, with its own SQL.
impl PgFeedStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// User ids from `sql`, which takes `key` (and, if `more` is given,
    /// an id to continue after and a limit).
    async fn user_ids(
        &self,
        sql: &'static str,
        key: UserId,
        more: Option<(i64, usize)>,
    ) -> Result<Vec<UserId>, StoreError> {
        let mut query = sqlx::query_as::<_, (i64,)>(sql).bind(key.0);
        if let Some((after, limit)) = more {
            query = query.bind(after).bind(limit as i64);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
    }

    /// A newest-first page of `key`'s entries after `after`.
    async fn page(
        &self,
        sql: &'static str,
        key: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let (ms, id) = page_bounds(after);
        let rows: Vec<(i64, i64)> = sqlx::query_as(sql)
            .bind(key.0)
            .bind(ms)
            .bind(id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(positions(rows))
    }

    /// `sql` over one id and many ids (`$1`, `$2::bigint[]`).
    async fn one_and_many(
        &self,
        sql: &'static str,
        one: UserId,
        many: &[UserId],
    ) -> Result<(), StoreError> {
        let many: Vec<i64> = many.iter().map(|u| u.0).collect();
        sqlx::query(sql)
            .bind(one.0)
            .bind(&many)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `sql` over two ids.
    async fn pair(&self, sql: &'static str, a: UserId, b: UserId) -> Result<(), StoreError> {
        sqlx::query(sql)
            .bind(a.0)
            .bind(b.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `sql` over many keys and one entry (`$1::bigint[]`, `$2`, `$3`).
    async fn keys_and_entry(
        &self,
        sql: &'static str,
        keys: &[UserId],
        entry: FeedPosition,
    ) -> Result<(), StoreError> {
        let keys: Vec<i64> = keys.iter().map(|u| u.0).collect();
        sqlx::query(sql)
            .bind(&keys)
            .bind(entry.created_at_ms)
            .bind(entry.post_id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `sql` over one key and many entries (`$1`, `$2::bigint[]`, `$3::bigint[]`).
    async fn key_and_entries(
        &self,
        sql: &'static str,
        key: UserId,
        entries: &[FeedPosition],
    ) -> Result<(), StoreError> {
        let (ms, ids) = columns(entries);
        sqlx::query(sql)
            .bind(key.0)
            .bind(&ms)
            .bind(&ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

macro_rules! profile_columns {
    () => {
        "id, username, display_name, bio, followers_count, following_count, posts_count, \
         celebrity, created_at, version"
    };
}

fn positions(rows: Vec<(i64, i64)>) -> Vec<FeedPosition> {
    rows.into_iter()
        .map(|(created_at_ms, id)| FeedPosition {
            created_at_ms,
            post_id: PostId(id),
        })
        .collect()
}

/// Entries as two parallel arrays, for `unnest`.
fn columns(entries: &[FeedPosition]) -> (Vec<i64>, Vec<i64>) {
    entries
        .iter()
        .map(|e| (e.created_at_ms, e.post_id.0))
        .unzip()
}

/// Bounds for a newest-first page after `after`: rows strictly below it.
fn page_bounds(after: Option<FeedPosition>) -> (i64, i64) {
    after.map_or((i64::MAX, i64::MAX), |p| (p.created_at_ms, p.post_id.0))
}

#[async_trait]
impl FeedReader for PgFeedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn posts(&self, ids: &[PostId]) -> Result<Vec<PostRecord>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let rows: Vec<PostRow> = sqlx::query_as(
            "SELECT id, author_id, text, created_at, edited_at, in_reply_to_id,
                 in_reply_to_author_id
             FROM posts WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(PostRecord::from).collect())
    }

    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<ProfileRecord>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let rows: Vec<ProfileRow> = sqlx::query_as(concat!(
            "SELECT ",
            profile_columns!(),
            " FROM profiles WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ProfileRecord::from).collect())
    }

    async fn profile_by_username(
        &self,
        username: &str,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        let row: Option<ProfileRow> = sqlx::query_as(concat!(
            "SELECT ",
            profile_columns!(),
            " FROM profiles WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(ProfileRecord::from))
    }

    async fn followers(
        &self,
        followee: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError> {
        let after = after.map_or(i64::MIN, |u| u.0);
        self.user_ids(
            "SELECT follower_id FROM followers WHERE followee_id = $1 AND follower_id > $2
             ORDER BY follower_id LIMIT $3",
            followee,
            Some((after, limit)),
        )
        .await
    }

    async fn feed_page(
        &self,
        owner: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        self.page(
            "SELECT created_at_ms, post_id FROM home_feed
             WHERE owner_id = $1 AND (created_at_ms, post_id) < ($2, $3)
             ORDER BY created_at_ms DESC, post_id DESC LIMIT $4",
            owner,
            after,
            limit,
        )
        .await
    }

    async fn celebrity_follows(&self, follower: UserId) -> Result<Vec<UserId>, StoreError> {
        self.user_ids(
            "SELECT celebrity_id FROM celebrity_follows WHERE follower_id = $1 ORDER BY celebrity_id",
            follower,
            None,
        )
        .await
    }

    async fn timeline_page(
        &self,
        author: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        self.page(
            "SELECT created_at_ms, post_id FROM timeline
             WHERE author_id = $1 AND (created_at_ms, post_id) < ($2, $3)
             ORDER BY created_at_ms DESC, post_id DESC LIMIT $4",
            author,
            after,
            limit,
        )
        .await
    }
}

// After the macro, which it uses.
mod social;

#[async_trait]
impl FeedWriter for PgFeedStore {
    async fn put_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO posts (id, author_id, text, created_at, edited_at, in_reply_to_id,
                 in_reply_to_author_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text, edited_at = EXCLUDED.edited_at
             WHERE COALESCE(EXCLUDED.edited_at, '-infinity') >= COALESCE(posts.edited_at, '-infinity')",
        )
        .bind(post.id.0)
        .bind(post.author_id.0)
        .bind(&post.text)
        .bind(post.created_at)
        .bind(post.edited_at)
        .bind(post.in_reply_to_id.map(|p| p.0))
        .bind(post.in_reply_to_author_id.map(|u| u.0))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_post(&self, id: PostId, _deleted_at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM posts WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn put_profile(&self, profile: &ProfileRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO profiles (id, username, display_name, bio, followers_count,
                 following_count, posts_count, created_at, version, celebrity)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (id) DO UPDATE SET
                 display_name = EXCLUDED.display_name, bio = EXCLUDED.bio,
                 followers_count = EXCLUDED.followers_count,
                 following_count = EXCLUDED.following_count,
                 posts_count = EXCLUDED.posts_count, version = EXCLUDED.version,
                 celebrity = EXCLUDED.celebrity
             WHERE profiles.version < EXCLUDED.version",
        )
        .bind(profile.id.0)
        .bind(&profile.username)
        .bind(&profile.display_name)
        .bind(&profile.bio)
        .bind(profile.followers_count)
        .bind(profile.following_count)
        .bind(profile.posts_count)
        .bind(profile.created_at)
        .bind(profile.version)
        .bind(profile.celebrity)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_followers(
        &self,
        followee: UserId,
        followers: &[UserId],
    ) -> Result<(), StoreError> {
        self.one_and_many(
            "INSERT INTO followers (followee_id, follower_id)
             SELECT $1, follower FROM unnest($2::bigint[]) AS follower
             ON CONFLICT DO NOTHING",
            followee,
            followers,
        )
        .await
    }

    async fn remove_follower(&self, followee: UserId, follower: UserId) -> Result<(), StoreError> {
        self.pair(
            "DELETE FROM followers WHERE followee_id = $1 AND follower_id = $2",
            followee,
            follower,
        )
        .await
    }

    // PostgreSQL applies writes in commit order, so `at` is not needed here.

    async fn add_to_feeds(
        &self,
        owners: &[UserId],
        entry: FeedEntry,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let entry = entry.position;
        self.keys_and_entry(
            "INSERT INTO home_feed (owner_id, created_at_ms, post_id)
             SELECT owner, $2, $3 FROM unnest($1::bigint[]) AS owner
             ON CONFLICT DO NOTHING",
            owners,
            entry,
        )
        .await
    }

    async fn remove_from_feeds(
        &self,
        owners: &[UserId],
        entry: FeedPosition,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.keys_and_entry(
            "DELETE FROM home_feed
             WHERE owner_id = ANY($1) AND created_at_ms = $2 AND post_id = $3",
            owners,
            entry,
        )
        .await
    }

    async fn add_to_feed(
        &self,
        owner: UserId,
        entries: &[FeedEntry],
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let entries: Vec<FeedPosition> = entries.iter().map(|e| e.position).collect();
        self.key_and_entries(
            "INSERT INTO home_feed (owner_id, created_at_ms, post_id)
             SELECT $1, ms, id FROM unnest($2::bigint[], $3::bigint[]) AS e(ms, id)
             ON CONFLICT DO NOTHING",
            owner,
            &entries,
        )
        .await
    }

    async fn remove_from_feed(
        &self,
        owner: UserId,
        entries: &[FeedPosition],
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.key_and_entries(
            "DELETE FROM home_feed f USING unnest($2::bigint[], $3::bigint[]) AS e(ms, id)
             WHERE f.owner_id = $1 AND f.created_at_ms = e.ms AND f.post_id = e.id",
            owner,
            entries,
        )
        .await
    }

    async fn hide_author(
        &self,
        owner: UserId,
        author: UserId,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Every post that can be in a feed has a timeline entry until it is
        // deleted, and a deletion removes its feed entries as well.
        sqlx::query(
            "DELETE FROM home_feed
             WHERE owner_id = $1 AND post_id IN (SELECT post_id FROM timeline WHERE author_id = $2)",
        )
        .bind(owner.0)
        .bind(author.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_celebrity_follows(
        &self,
        followers: &[UserId],
        celebrity: UserId,
    ) -> Result<(), StoreError> {
        self.one_and_many(
            "INSERT INTO celebrity_follows (follower_id, celebrity_id)
             SELECT follower, $1 FROM unnest($2::bigint[]) AS follower
             ON CONFLICT DO NOTHING",
            celebrity,
            followers,
        )
        .await
    }

    async fn remove_celebrity_follow(
        &self,
        follower: UserId,
        celebrity: UserId,
    ) -> Result<(), StoreError> {
        self.pair(
            "DELETE FROM celebrity_follows WHERE follower_id = $1 AND celebrity_id = $2",
            follower,
            celebrity,
        )
        .await
    }

    async fn add_to_timeline(&self, author: UserId, entry: FeedPosition) -> Result<(), StoreError> {
        self.key_and_entries(
            "INSERT INTO timeline (author_id, created_at_ms, post_id)
             SELECT $1, ms, id FROM unnest($2::bigint[], $3::bigint[]) AS e(ms, id)
             ON CONFLICT DO NOTHING",
            author,
            &[entry],
        )
        .await
    }

    async fn remove_from_timeline(
        &self,
        author: UserId,
        entry: FeedPosition,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.key_and_entries(
            "DELETE FROM timeline t USING unnest($2::bigint[], $3::bigint[]) AS e(ms, id)
             WHERE t.author_id = $1 AND t.created_at_ms = e.ms AND t.post_id = e.id",
            author,
            &[entry],
        )
        .await
    }
}
