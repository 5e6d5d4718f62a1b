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
        sqlx::query(sql)
            .bind(one.0)
            .bind(user_ids(many))
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
        sqlx::query(sql)
            .bind(user_ids(keys))
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

/// Takes the lock of `post`'s place in feeds until `tx` ends. Ids fold
/// into 32 bits; two posts that fold alike only share a lock.
async fn lock_place(tx: &mut sqlx::PgConnection, post: PostId) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(platform::pg::LockClass::FeedPlace as i32)
        .bind(place_lock_object(post))
        .execute(tx)
        .await?;
    Ok(())
}

fn place_lock_object(post: PostId) -> i32 {
    let id = post.0 as u64;
    (id ^ (id >> 32)) as u32 as i32
}

fn user_ids(users: &[UserId]) -> Vec<i64> {
    users.iter().map(|u| u.0).collect()
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
        let rows: Vec<PostRow> = sqlx::query_as(concat!(
            "SELECT ",
            crate::post_columns!(),
            " FROM posts WHERE id = ANY($1)"
        ))
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
mod notifications;
mod social;

#[async_trait]
impl FeedWriter for PgFeedStore {
    async fn put_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO posts (id, author_id, text, created_at, edited_at, in_reply_to_id,
                 in_reply_to_author_id, repost_of_id, repost_of_created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
        .bind(post.repost_of.map(|r| r.post_id.0))
        .bind(post.repost_of.map(|r| r.created_at_ms))
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

    // Every decision about a post's place in feeds (fanning it out,
    // offering a repost of it, withdrawing one, restoring places) runs
    // under the post's advisory lock (`lock_place`), in a statement that
    // starts after the lock is held, so it sees what the decision before it
    // committed: one lock per decision, however many readers it covers.
    // An offer is recorded before its decision, so a withdrawal deciding
    // first already sees it waiting.

    async fn fan_out_post(
        &self,
        owners: &[UserId],
        entry: FeedEntry,
        _at: DateTime<Utc>,
    ) -> Result<Vec<UserId>, StoreError> {
        // schema/read/0008_fan_out_function.sql: the lock and the decision
        // in one round trip.
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT fan_out_post($1, $2, $3, $4, $5)")
            .bind(user_ids(owners))
            .bind(entry.position.created_at_ms)
            .bind(entry.position.post_id.0)
            .bind(entry.author_id.0)
            .bind(place_lock_object(entry.position.post_id))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
    }

    async fn fan_out_posts(
        &self,
        owner: UserId,
        entries: &[FeedEntry],
        _at: DateTime<Utc>,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        // Every other decision holds one place's lock at a time, so taking
        // all of these in one order cannot deadlock.
        let mut objects: Vec<i32> = entries
            .iter()
            .map(|e| place_lock_object(e.position.post_id))
            .collect();
        objects.sort_unstable();
        objects.dedup();
        sqlx::query("SELECT pg_advisory_xact_lock($1, o) FROM unnest($2::int[]) AS o")
            .bind(platform::pg::LockClass::FeedPlace as i32)
            .bind(&objects)
            .execute(&mut *tx)
            .await?;
        let (ms, ids): (Vec<i64>, Vec<i64>) = entries
            .iter()
            .map(|e| (e.position.created_at_ms, e.position.post_id.0))
            .unzip();
        let authors: Vec<i64> = entries.iter().map(|e| e.author_id.0).collect();
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "WITH e AS (
                 SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS e(ms, id, author)
             ), held AS (
                 SELECT DISTINCT e.ms, e.id, e.author FROM e
                 JOIN feed_offers c ON c.owner_id = $1 AND c.original_id = e.id
                     AND c.entry_id <> e.id
                 JOIN home_feed f ON f.owner_id = c.owner_id
                     AND f.created_at_ms = c.entry_created_at_ms AND f.post_id = c.entry_id
             ), offered AS (
                 INSERT INTO feed_offers (owner_id, original_id, entry_id, entry_created_at_ms,
                     entry_author_id)
                 SELECT $1, id, id, ms, author FROM held
                 ON CONFLICT DO NOTHING
             ), reached AS (
                 SELECT ms, id FROM e WHERE id NOT IN (SELECT id FROM held)
             ), added AS (
                 INSERT INTO home_feed (owner_id, created_at_ms, post_id)
                 SELECT $1, ms, id FROM reached
                 ON CONFLICT DO NOTHING
             )
             SELECT ms, id FROM reached",
        )
        .bind(owner.0)
        .bind(&ms)
        .bind(&ids)
        .bind(&authors)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(positions(rows))
    }

    async fn offer_to_feeds(
        &self,
        owners: &[UserId],
        entry: FeedEntry,
        original: FeedPosition,
        _at: DateTime<Utc>,
    ) -> Result<Vec<UserId>, StoreError> {
        let owners = user_ids(owners);
        sqlx::query(
            "INSERT INTO feed_offers (owner_id, original_id, entry_id, entry_created_at_ms,
                 entry_author_id)
             SELECT owner, $2, $4, $3, $5 FROM unnest($1::bigint[]) AS owner
             ON CONFLICT DO NOTHING",
        )
        .bind(&owners)
        .bind(original.post_id.0)
        .bind(entry.position.created_at_ms)
        .bind(entry.position.post_id.0)
        .bind(entry.author_id.0)
        .execute(&self.pool)
        .await?;
        let mut tx = self.pool.begin().await?;
        lock_place(&mut tx, original.post_id).await?;
        let rows: Vec<(i64,)> = sqlx::query_as(
            "WITH free AS (
                 SELECT o.owner FROM unnest($1::bigint[]) AS o(owner)
                 WHERE NOT EXISTS (SELECT 1 FROM home_feed f WHERE f.owner_id = o.owner
                         AND f.created_at_ms = $2 AND f.post_id = $3 AND $3 <> $5)
                     AND NOT EXISTS (SELECT 1 FROM feed_offers c JOIN home_feed f
                         ON f.owner_id = c.owner_id AND f.created_at_ms = c.entry_created_at_ms
                             AND f.post_id = c.entry_id
                         WHERE c.owner_id = o.owner AND c.original_id = $3 AND c.entry_id <> $5)
             ), placed AS (
                 INSERT INTO home_feed (owner_id, created_at_ms, post_id)
                 SELECT owner, $4, $5 FROM free
                 ON CONFLICT DO NOTHING
             )
             SELECT owner FROM free",
        )
        .bind(&owners)
        .bind(original.created_at_ms)
        .bind(original.post_id.0)
        .bind(entry.position.created_at_ms)
        .bind(entry.position.post_id.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
    }

    async fn withdraw_offer(
        &self,
        owners: &[UserId],
        entry: FeedPosition,
        original: PostId,
        _at: DateTime<Utc>,
    ) -> Result<Vec<(UserId, FeedPosition)>, StoreError> {
        let owners = user_ids(owners);
        let mut tx = self.pool.begin().await?;
        lock_place(&mut tx, original).await?;
        let held: Vec<(i64,)> = sqlx::query_as(
            "WITH withdrawn AS (
                 DELETE FROM feed_offers
                 WHERE owner_id = ANY($1) AND original_id = $2 AND entry_id = $4
             )
             DELETE FROM home_feed
             WHERE owner_id = ANY($1) AND created_at_ms = $3 AND post_id = $4
             RETURNING owner_id",
        )
        .bind(&owners)
        .bind(original.0)
        .bind(entry.created_at_ms)
        .bind(entry.post_id.0)
        .fetch_all(&mut *tx)
        .await?;
        if held.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let held: Vec<i64> = held.into_iter().map(|(id,)| id).collect();
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "WITH next AS (
                 SELECT DISTINCT ON (c.owner_id) c.owner_id, c.entry_created_at_ms, c.entry_id
                 FROM feed_offers c
                 WHERE c.owner_id = ANY($1) AND c.original_id = $2 AND c.entry_id <> $3
                     AND EXISTS (SELECT 1 FROM posts p WHERE p.id = c.entry_id)
                     AND (c.entry_author_id = c.owner_id OR EXISTS (SELECT 1 FROM followers f
                         WHERE f.followee_id = c.entry_author_id AND f.follower_id = c.owner_id))
                 ORDER BY c.owner_id, c.entry_created_at_ms, c.entry_id
             ), placed AS (
                 INSERT INTO home_feed (owner_id, created_at_ms, post_id)
                 SELECT owner_id, entry_created_at_ms, entry_id FROM next
                 ON CONFLICT DO NOTHING
             )
             SELECT owner_id, entry_created_at_ms, entry_id FROM next",
        )
        .bind(&held)
        .bind(original.0)
        .bind(entry.post_id.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(owner, ms, id)| {
                let position = FeedPosition {
                    created_at_ms: ms,
                    post_id: PostId(id),
                };
                (UserId(owner), position)
            })
            .collect())
    }

    async fn restore_places(
        &self,
        owner: UserId,
        originals: &[FeedPosition],
        _at: DateTime<Utc>,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let ids: Vec<PostId> = originals.iter().map(|p| p.post_id).collect();
        let offered = self.reposted_in_feed(owner, &ids).await?;
        let mut placed = Vec::new();
        for original in originals
            .iter()
            .filter(|p| offered.iter().any(|&(id, _)| id == p.post_id))
        {
            let mut tx = self.pool.begin().await?;
            lock_place(&mut tx, original.post_id).await?;
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "WITH free AS (
                     SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM home_feed f WHERE f.owner_id = $1
                             AND f.created_at_ms = $2 AND f.post_id = $3)
                         AND NOT EXISTS (SELECT 1 FROM feed_offers c JOIN home_feed f
                             ON f.owner_id = c.owner_id
                                 AND f.created_at_ms = c.entry_created_at_ms
                                 AND f.post_id = c.entry_id
                             WHERE c.owner_id = $1 AND c.original_id = $3)
                 ), next AS (
                     SELECT c.entry_created_at_ms, c.entry_id FROM free, feed_offers c
                     WHERE c.owner_id = $1 AND c.original_id = $3
                         AND EXISTS (SELECT 1 FROM posts p WHERE p.id = c.entry_id)
                         AND (c.entry_author_id = $1 OR EXISTS (SELECT 1 FROM followers f
                             WHERE f.followee_id = c.entry_author_id AND f.follower_id = $1))
                     ORDER BY c.entry_created_at_ms, c.entry_id LIMIT 1
                 ), added AS (
                     INSERT INTO home_feed (owner_id, created_at_ms, post_id)
                     SELECT $1, entry_created_at_ms, entry_id FROM next
                     ON CONFLICT DO NOTHING
                 )
                 SELECT entry_created_at_ms, entry_id FROM next",
            )
            .bind(owner.0)
            .bind(original.created_at_ms)
            .bind(original.post_id.0)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            placed.extend(positions(rows));
        }
        Ok(placed)
    }

    async fn reposted_in_feed(
        &self,
        owner: UserId,
        posts: &[PostId],
    ) -> Result<Vec<(PostId, bool)>, StoreError> {
        let posts: Vec<i64> = posts.iter().map(|p| p.0).collect();
        let rows: Vec<(i64, bool)> = sqlx::query_as(
            "SELECT c.original_id, bool_or(f.post_id IS NOT NULL) FROM feed_offers c
             LEFT JOIN home_feed f ON f.owner_id = c.owner_id
                 AND f.created_at_ms = c.entry_created_at_ms AND f.post_id = c.entry_id
             WHERE c.owner_id = $1 AND c.original_id = ANY($2) AND c.entry_id <> c.original_id
             GROUP BY c.original_id",
        )
        .bind(owner.0)
        .bind(&posts)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, held)| (PostId(id), held))
            .collect())
    }

    async fn hide_author(
        &self,
        owner: UserId,
        author: UserId,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Every post (and repost) that can be in a feed has a timeline entry
        // until it is deleted, and a deletion removes its feed entries too.
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
