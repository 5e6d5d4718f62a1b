//! Rebuilding the read model from PostgreSQL, the source of truth.
//!
//! A rebuild runs while the system serves, beside a projector that keeps
//! applying events, so it repairs each user's read model in place under two
//! rules instead of building a copy and swapping it in (a swap would drop
//! whatever the projector wrote to the old copy meanwhile):
//!
//! 1. **Add before removing.** Everything the source says belongs is written
//!    first; a reader meanwhile sees the old valid entries plus new ones,
//!    never an empty or half-emptied feed.
//! 2. **Remove only what the source, read after the additions, rejects.**
//!    An entry leaves only if its post is deleted or its author is no longer
//!    followed *now*. So an entry the projector added meanwhile (a post
//!    committed after the rebuild's snapshot) is kept, and an entry the
//!    rebuild wrote from its snapshot but the projector had already removed
//!    (a delete or an unfollow committed meanwhile) is removed again.
//!
//! The hot feed in Redis is then dropped, set and warm marker at once: the
//! next read serves the repaired durable feed and warms the cache from it.
//!
//! What a rebuilt feed holds: the user's own posts and those of the
//! ordinary authors they follow, newest first up to the configured depth;
//! celebrities they follow are merged at read time, as for new follows.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use shared::events::UserSnapshot;
use shared::ids::{PostId, UserId};
use shared::readmodel::cache::HotCache;
use shared::readmodel::{FeedPosition, FeedStore, PostRecord, StoreError};
use shared::snapshot_columns;
use sqlx::PgPool;

/// Rows read from the source, and entries walked in the read model, per step.
const BATCH: usize = 1_000;
/// Posts written at once while rebuilding a timeline.
const WRITES_IN_FLIGHT: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("the source database: {0}")]
    Source(#[from] sqlx::Error),
    #[error("the read model: {0}")]
    Store(#[from] StoreError),
    #[error("no user {0} in the source database")]
    UnknownUser(UserId),
}

/// What a rebuild did, summed over users.
#[derive(Debug, Default)]
pub struct Tally {
    pub users: AtomicU64,
    pub posts: AtomicU64,
    pub follows: AtomicU64,
    pub feed_entries: AtomicU64,
    pub removed: AtomicU64,
}

impl Tally {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
pub struct Rebuilder {
    source: PgPool,
    store: Arc<dyn FeedStore>,
    cache: HotCache,
    feed_depth: usize,
    tally: Arc<Tally>,
}

type PostRow = (i64, i64, String, DateTime<Utc>, Option<DateTime<Utc>>);

fn post_record((id, author_id, text, created_at, edited_at): PostRow) -> PostRecord {
    PostRecord {
        id: PostId(id),
        author_id: UserId(author_id),
        text,
        created_at,
        edited_at,
    }
}

fn ids(positions: &[FeedPosition]) -> Vec<i64> {
    positions.iter().map(|p| p.post_id.0).collect()
}

impl Rebuilder {
    /// `feed_depth` bounds how many entries a rebuilt home feed receives.
    pub fn new(
        source: PgPool,
        store: Arc<dyn FeedStore>,
        cache: HotCache,
        feed_depth: usize,
    ) -> Self {
        Self {
            source,
            store,
            cache,
            feed_depth,
            tally: Arc::default(),
        }
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// How many users a full rebuild visits.
    pub async fn user_count(&self) -> Result<u64, RebuildError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM users")
            .fetch_one(&self.source)
            .await?;
        Ok(n as u64)
    }

    /// Rebuilds every user, `concurrency` at a time, calling `progress`
    /// after each one.
    pub async fn all(
        &self,
        concurrency: usize,
        progress: impl Fn() + Sync,
    ) -> Result<(), RebuildError> {
        let mut after = i64::MIN;
        loop {
            let page: Vec<(i64,)> =
                sqlx::query_as("SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(BATCH as i64)
                    .fetch_all(&self.source)
                    .await?;
            let Some(&(last,)) = page.last() else {
                return Ok(());
            };
            let ids = page.into_iter().map(|(id,)| UserId(id)).collect();
            self.users(ids, concurrency, &progress).await?;
            after = last;
        }
    }

    /// Rebuilds `ids`, `concurrency` at a time, calling `progress` after each.
    pub async fn users(
        &self,
        ids: Vec<UserId>,
        concurrency: usize,
        progress: &(impl Fn() + Sync),
    ) -> Result<(), RebuildError> {
        stream::iter(ids)
            .map(|id| async move {
                self.user(id).await?;
                progress();
                Ok::<_, RebuildError>(())
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await
    }

    /// Restores the revoked sessions whose access tokens may still be valid
    /// (a Redis that lost them would let those tokens through on the read
    /// host until they expire); returns how many.
    pub async fn revoked_sessions(&self) -> Result<usize, RebuildError> {
        let rows: Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "SELECT session_id, tokens_valid_until FROM revoked_sessions
             WHERE tokens_valid_until > now()",
        )
        .fetch_all(&self.source)
        .await?;
        let now = chrono::Utc::now().timestamp();
        for (session, valid_until) in &rows {
            self.cache
                .revoke_session(*session, valid_until.timestamp() + 1, now)
                .await?;
        }
        Ok(rows.len())
    }

    /// Rebuilds one user's profile, timeline, follower list and home feed.
    pub async fn user(&self, id: UserId) -> Result<(), RebuildError> {
        let started = Instant::now();
        self.profile(id).await?;
        self.timeline(id).await?;
        self.followers(id).await?;
        self.home_feed(id).await?;
        Tally::add(&self.tally.users, 1);
        metrics::counter!("projector_rebuild_users_total").increment(1);
        metrics::histogram!("projector_rebuild_user_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    async fn profile(&self, id: UserId) -> Result<(), RebuildError> {
        let snapshot: Option<UserSnapshot> = sqlx::query_as(concat!(
            "SELECT ",
            snapshot_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.source)
        .await?;
        let snapshot = snapshot.ok_or(RebuildError::UnknownUser(id))?;
        self.store.put_profile(&snapshot).await?;
        self.cache.put_profiles(&[snapshot]).await?;
        Ok(())
    }

    /// The author's live posts and timeline; deleted posts leave both.
    async fn timeline(&self, author: UserId) -> Result<(), RebuildError> {
        let mut written = Vec::new();
        let mut after = (DateTime::<Utc>::MAX_UTC, i64::MAX);
        loop {
            let rows: Vec<PostRow> = sqlx::query_as(
                "SELECT id, author_id, text, created_at, edited_at FROM posts
                 WHERE author_id = $1 AND deleted_at IS NULL AND (created_at, id) < ($2, $3)
                 ORDER BY created_at DESC, id DESC LIMIT $4",
            )
            .bind(author.0)
            .bind(after.0)
            .bind(after.1)
            .bind(BATCH as i64)
            .fetch_all(&self.source)
            .await?;
            let Some(last) = rows.last() else { break };
            after = (last.3, last.0);
            let full = rows.len() == BATCH;
            let posts: Vec<PostRecord> = rows.into_iter().map(post_record).collect();
            stream::iter(&posts)
                .map(|post| async move {
                    self.store.put_post(post).await?;
                    self.store.add_to_timeline(author, post.position()).await
                })
                .buffer_unordered(WRITES_IN_FLIGHT)
                .try_collect::<()>()
                .await?;
            Tally::add(&self.tally.posts, posts.len());
            written.extend(posts.iter().map(PostRecord::position));
            if !full {
                break;
            }
        }
        let mut stored = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.timeline_page(author, after, BATCH).await?;
            after = page.last().copied();
            let done = page.len() < BATCH;
            stored.extend(page);
            if done {
                break;
            }
        }
        written.extend(stored);
        for chunk in written.chunks(BATCH) {
            let live: HashSet<i64> = sqlx::query_as::<_, (i64,)>(
                "SELECT id FROM posts WHERE id = ANY($1) AND deleted_at IS NULL",
            )
            .bind(ids(chunk))
            .fetch_all(&self.source)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
            let dead: Vec<FeedPosition> = chunk
                .iter()
                .filter(|p| !live.contains(&p.post_id.0))
                .copied()
                .collect();
            for entry in &dead {
                self.store.delete_post(entry.post_id).await?;
                self.store.remove_from_timeline(author, *entry).await?;
            }
            let posts: Vec<PostId> = chunk.iter().map(|p| p.post_id).collect();
            self.cache.forget_posts(&posts).await?;
            Tally::add(&self.tally.removed, dead.len());
        }
        Ok(())
    }

    /// Who follows `followee`, as fan-out reads it.
    async fn followers(&self, followee: UserId) -> Result<(), RebuildError> {
        // In pages, so memory stays bounded whatever the follower count.
        let mut after = i64::MIN;
        loop {
            let page: Vec<(i64,)> = sqlx::query_as(
                "SELECT follower_id FROM follows WHERE followee_id = $1 AND follower_id > $2
                 ORDER BY follower_id LIMIT $3",
            )
            .bind(followee.0)
            .bind(after)
            .bind(BATCH as i64)
            .fetch_all(&self.source)
            .await?;
            let followers: Vec<UserId> = page.iter().map(|&(id,)| UserId(id)).collect();
            self.store.add_followers(followee, &followers).await?;
            Tally::add(&self.tally.follows, followers.len());
            match followers.last() {
                Some(last) if followers.len() == BATCH => after = last.0,
                _ => break,
            }
        }
        let mut after = None;
        loop {
            let page = self.store.followers(followee, after, BATCH).await?;
            let stored: Vec<i64> = page.iter().map(|u| u.0).collect();
            let still: HashSet<i64> = sqlx::query_as::<_, (i64,)>(
                // One primary-key lookup per candidate; `follower_id = ANY($2)`
                // makes PostgreSQL walk every follower of a popular account
                // (1.5 s per page at 74,000 followers).
                "SELECT f.follower_id FROM unnest($2::bigint[]) AS c(id)
                 JOIN follows f ON f.follower_id = c.id AND f.followee_id = $1",
            )
            .bind(followee.0)
            .bind(&stored)
            .fetch_all(&self.source)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
            for follower in page.iter().filter(|f| !still.contains(&f.0)) {
                self.store.remove_follower(followee, *follower).await?;
                Tally::add(&self.tally.removed, 1);
            }
            if page.len() < BATCH {
                return Ok(());
            }
            after = page.last().copied();
        }
    }

    /// The home feed and the celebrities it merges at read time.
    async fn home_feed(&self, owner: UserId) -> Result<(), RebuildError> {
        let rows: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
            // Two index-driven halves: with `author_id = $1 OR author_id IN
            // (…)` PostgreSQL scans every post for every user.
            "SELECT created_at, id FROM (
                 SELECT p.created_at, p.id FROM posts p
                 WHERE p.author_id = $1 AND p.deleted_at IS NULL
                 UNION ALL
                 SELECT p.created_at, p.id FROM follows f
                 JOIN users u ON u.id = f.followee_id AND NOT u.celebrity
                 JOIN posts p ON p.author_id = f.followee_id AND p.deleted_at IS NULL
                 WHERE f.follower_id = $1) AS feed
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(owner.0)
        .bind(self.feed_depth as i64)
        .fetch_all(&self.source)
        .await?;
        let wanted: Vec<FeedPosition> = rows
            .into_iter()
            .map(|(created_at, id)| FeedPosition {
                created_at_ms: created_at.timestamp_millis(),
                post_id: PostId(id),
            })
            .collect();
        for chunk in wanted.chunks(BATCH) {
            self.store.add_to_feed(owner, chunk).await?;
        }
        Tally::add(&self.tally.feed_entries, wanted.len());

        let celebrities: Vec<(i64,)> = sqlx::query_as(
            "SELECT f.followee_id FROM follows f JOIN users u ON u.id = f.followee_id
             WHERE f.follower_id = $1 AND u.celebrity",
        )
        .bind(owner.0)
        .fetch_all(&self.source)
        .await?;
        // Most follows go to the most followed accounts, so a user may
        // follow dozens of celebrities: record them all at once.
        let owner_only = [owner];
        futures::future::try_join_all(celebrities.iter().map(|&(celebrity,)| {
            self.store
                .add_celebrity_follows(&owner_only, UserId(celebrity))
        }))
        .await?;
        let merged: Vec<i64> = self
            .store
            .celebrity_follows(owner)
            .await?
            .iter()
            .map(|u| u.0)
            .collect();
        let followed: HashSet<i64> = sqlx::query_as::<_, (i64,)>(
            "SELECT followee_id FROM follows WHERE follower_id = $1 AND followee_id = ANY($2)",
        )
        .bind(owner.0)
        .bind(&merged)
        .fetch_all(&self.source)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
        for &gone in merged.iter().filter(|id| !followed.contains(id)) {
            self.store
                .remove_celebrity_follow(owner, UserId(gone))
                .await?;
        }

        let mut after = None;
        loop {
            let page = self.store.feed_page(owner, after, BATCH).await?;
            let valid: HashSet<i64> = sqlx::query_as::<_, (i64,)>(
                "SELECT p.id FROM posts p
                 WHERE p.id = ANY($2) AND p.deleted_at IS NULL AND (p.author_id = $1 OR EXISTS (
                     SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = p.author_id))",
            )
            .bind(owner.0)
            .bind(ids(&page))
            .fetch_all(&self.source)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
            let stale: Vec<FeedPosition> = page
                .iter()
                .filter(|p| !valid.contains(&p.post_id.0))
                .copied()
                .collect();
            self.store.remove_from_feed(owner, &stale).await?;
            Tally::add(&self.tally.removed, stale.len());
            if page.len() < BATCH {
                break;
            }
            after = page.last().copied();
        }
        self.cache.forget_feed(owner).await?;
        Ok(())
    }
}

/// Reports progress on a terminal as a bar, elsewhere as a plain line
/// every few seconds.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: AtomicU64,
    started: Instant,
    last_line: std::sync::Mutex<Instant>,
}

impl Progress {
    pub fn new(total: u64) -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} users ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        metrics::gauge!("projector_rebuild_users_planned").set(total as f64);
        Self {
            bar,
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            last_line: std::sync::Mutex::new(Instant::now()),
        }
    }

    pub fn step(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("projector_rebuild_users_done").set(done as f64);
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= Duration::from_secs(2) || done == self.total {
            *last = Instant::now();
            eprintln!(
                "rebuild: {done}/{} users ({:.0}%), {:.1} s",
                self.total,
                if self.total == 0 {
                    100.0
                } else {
                    done as f64 * 100.0 / self.total as f64
                },
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
