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
//! The hot feed and the hot timeline in Redis are then dropped, set and
//! warm marker at once: the next read serves the repaired durable list and
//! warms the cache from it.
//!
//! What a rebuilt feed holds: the user's own posts and reposts and those of
//! the ordinary accounts they follow, newest first up to the configured
//! depth, each post once (a repost only where neither its post nor an
//! earlier repost of it is); celebrities they follow are merged at read
//! time, as for new follows.
//!
//! Besides feeds, each user's posts get their counts and thread links, and
//! their reposts, likes, repost states, follow lists and notifications are
//! repaired by the same two rules, and their likes by time
//! ("favourites"); the read markers are restored too.
//!
//! # Layout
//! - this file: the repair rules per user, over both tiers.
//! - [`source`]: every query against the write database.
//! - [`progress`]: progress bar, lines and gauges.

mod progress;
pub mod source;

pub use progress::Progress;
use source::Source;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use contracts::ids::{PostId, UserId};
use futures::{StreamExt, TryStreamExt, stream};
use readmodel::cache::{HotCache, HotList};
use readmodel::notifications::{KEEP_DAYS, KEEP_NEWEST};
use readmodel::social::FollowList;
use readmodel::{
    Engagement, EngagementState, FeedPosition, FeedWriter, PostCounts, StoreError, Timeline,
};
use sqlx::PgPool;

use crate::effects::merge_into_feed;

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
    source: Source,
    store: Arc<dyn FeedWriter>,
    cache: HotCache,
    feed_depth: usize,
    tally: Arc<Tally>,
}

impl Rebuilder {
    /// `feed_depth` bounds how many entries a rebuilt home feed receives.
    pub fn new(
        source: PgPool,
        store: Arc<dyn FeedWriter>,
        cache: HotCache,
        feed_depth: usize,
    ) -> Self {
        Self {
            source: Source::new(source),
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
        Ok(self.source.user_count().await?)
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
            let ids = self.source.user_ids(after, BATCH).await?;
            let Some(&last) = ids.last() else {
                return Ok(());
            };
            self.users(ids, concurrency, &progress).await?;
            after = last.0;
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
        let rows = self.source.revoked_sessions().await?;
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
        self.thread_links(id).await?;
        self.engagements(Engagement::Like, id).await?;
        self.engagements(Engagement::Repost, id).await?;
        self.favourites(id).await?;
        self.followers(id).await?;
        self.follow_edges(id).await?;
        self.home_feed(id).await?;
        self.inbox(id).await?;
        Tally::add(&self.tally.users, 1);
        metrics::counter!("projector_rebuild_users_total").increment(1);
        metrics::histogram!("projector_rebuild_user_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    async fn profile(&self, id: UserId) -> Result<(), RebuildError> {
        let profile = self.source.profile(id).await?;
        let profile = profile.ok_or(RebuildError::UnknownUser(id))?;
        self.store.put_profile(&profile).await?;
        self.store.index_profile(&profile).await?;
        self.cache.count_accounts(&[profile.id]).await?;
        self.cache.put_profiles(&[profile]).await?;
        Ok(())
    }

    /// The author's live posts and reposts and their timeline; deleted
    /// posts and ended reposts leave both.
    async fn timeline(&self, author: UserId) -> Result<(), RebuildError> {
        let mut written = Vec::new();
        let mut after = (DateTime::<Utc>::MAX_UTC, i64::MAX);
        loop {
            let posts = self.source.live_posts(author, after, BATCH).await?;
            let Some((last, _)) = posts.last() else { break };
            after = (last.created_at, last.id.0);
            let full = posts.len() == BATCH;
            stream::iter(&posts)
                .map(|(post, counts)| async move {
                    self.store.put_post(post).await?;
                    self.store.put_counts(post.id, *counts).await?;
                    self.store.add_to_timeline(author, post.position()).await
                })
                .buffer_unordered(WRITES_IN_FLIGHT)
                .try_collect::<()>()
                .await?;
            let counts: Vec<(PostId, PostCounts)> =
                posts.iter().map(|(post, c)| (post.id, *c)).collect();
            self.cache.put_counts(&counts).await?;
            let ids: Vec<PostId> = posts.iter().map(|(post, _)| post.id).collect();
            self.cache.count_posts(&ids).await?;
            Tally::add(&self.tally.posts, posts.len());
            written.extend(posts.iter().map(|(post, _)| post.position()));
            if !full {
                break;
            }
        }
        let mut after = i64::MIN;
        loop {
            let reposts = self.source.reposts_by(author, after, BATCH).await?;
            stream::iter(&reposts)
                .map(|repost| async move {
                    self.store.put_post(repost).await?;
                    self.store.add_to_timeline(author, repost.position()).await
                })
                .buffer_unordered(WRITES_IN_FLIGHT)
                .try_collect::<()>()
                .await?;
            written.extend(reposts.iter().map(|repost| repost.position()));
            match reposts.last() {
                Some(last) if reposts.len() == BATCH => after = last.id.0,
                _ => break,
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
            let deletions = self.source.deletions(chunk).await?;
            let dead: Vec<(FeedPosition, DateTime<Utc>)> = chunk
                .iter()
                .filter_map(|p| match deletions.get(&p.post_id.0) {
                    Some(None) => None,
                    Some(Some(deleted_at)) => Some((*p, *deleted_at)),
                    // Not in the source at all: it never belonged.
                    None => Some((*p, Utc::now())),
                })
                .collect();
            for (entry, deleted_at) in &dead {
                let entry = *entry;
                self.store.delete_post(entry.post_id, *deleted_at).await?;
                self.store
                    .remove_from_timeline(author, entry, *deleted_at)
                    .await?;
            }
            let posts: Vec<PostId> = chunk.iter().map(|p| p.post_id).collect();
            self.cache.forget_posts(&posts).await?;
            Tally::add(&self.tally.removed, dead.len());
        }
        self.cache.forget_list(HotList::Timeline(author)).await?;
        Ok(())
    }

    /// Links every reply of `author`, deleted ones too, under the post it
    /// answers. Links are never removed (see `SocialReader::replies_page`).
    async fn thread_links(&self, author: UserId) -> Result<(), RebuildError> {
        let mut after = i64::MIN;
        loop {
            let replies = self.source.replies_by(author, after, BATCH).await?;
            stream::iter(&replies)
                .map(|&(reply, parent)| self.store.add_reply(parent, reply))
                .buffer_unordered(WRITES_IN_FLIGHT)
                .try_collect::<()>()
                .await?;
            match replies.last() {
                Some((last, _)) if replies.len() == BATCH => after = last.post_id.0,
                _ => return Ok(()),
            }
        }
    }

    /// What `user` likes (or reposts): the source's are written, then
    /// every one the read model holds that the source no longer has is
    /// withdrawn, each at the post's current counts version.
    async fn engagements(&self, kind: Engagement, user: UserId) -> Result<(), RebuildError> {
        let mut after = i64::MIN;
        loop {
            let engaged = self.source.engaged_by(kind, user, after, BATCH).await?;
            stream::iter(&engaged)
                .map(|&(post, version)| {
                    let state = EngagementState {
                        active: true,
                        version,
                    };
                    self.store.set_engaged(kind, user, post, state)
                })
                .buffer_unordered(WRITES_IN_FLIGHT)
                .try_collect::<()>()
                .await?;
            let posts: Vec<PostId> = engaged.iter().map(|&(post, _)| post).collect();
            self.cache.forget_engagements(kind, user, &posts).await?;
            match engaged.last() {
                Some((last, _)) if engaged.len() == BATCH => after = last.0,
                _ => break,
            }
        }
        let mut after = None;
        loop {
            let page = self.store.engaged_posts(kind, user, after, BATCH).await?;
            let states = self.source.engagement_states(kind, user, &page).await?;
            for post in &page {
                // A post the source never had cannot be shown, so its
                // state is left alone.
                if let Some(&(false, version)) = states.get(post) {
                    let state = EngagementState {
                        active: false,
                        version,
                    };
                    self.store.set_engaged(kind, user, *post, state).await?;
                    Tally::add(&self.tally.removed, 1);
                }
            }
            self.cache.forget_engagements(kind, user, &page).await?;
            if page.len() < BATCH {
                return Ok(());
            }
            after = page.last().copied();
        }
    }

    /// The followers and following lists through `followee`'s follows.
    async fn follow_edges(&self, followee: UserId) -> Result<(), RebuildError> {
        let mut after = None;
        loop {
            let page = self
                .store
                .follow_list(FollowList::Followers(followee), after, BATCH)
                .await?;
            let users: Vec<UserId> = page.iter().map(|e| e.user).collect();
            let still = self.source.followers_among(followee, &users).await?;
            let now = self.source.now().await?;
            for edge in page.iter().filter(|e| !still.contains(&e.user.0)) {
                self.store
                    .remove_follow_edge(edge.user, followee, None, now)
                    .await?;
                Tally::add(&self.tally.removed, 1);
            }
            if page.len() < BATCH {
                return Ok(());
            }
            after = page.last().copied();
        }
    }

    /// Who follows `followee`, as fan-out reads it.
    async fn followers(&self, followee: UserId) -> Result<(), RebuildError> {
        // In pages, so memory stays bounded whatever the follower count.
        let mut after = i64::MIN;
        loop {
            let page = self.source.followers(followee, after, BATCH).await?;
            let followers: Vec<UserId> = page.iter().map(|&(f, _)| f).collect();
            self.store.add_followers(followee, &followers).await?;
            stream::iter(&page)
                .map(|&(follower, at)| self.store.add_follow_edge(follower, followee, at))
                .buffer_unordered(WRITES_IN_FLIGHT)
                .try_collect::<()>()
                .await?;
            Tally::add(&self.tally.follows, followers.len());
            match followers.last() {
                Some(last) if followers.len() == BATCH => after = last.0,
                _ => break,
            }
        }
        let mut after = None;
        loop {
            let page = self.store.followers(followee, after, BATCH).await?;
            let still = self.source.followers_among(followee, &page).await?;
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
        // Stamped later than any unfollow before it, so entries of a
        // followed author hidden by an earlier unfollow show again.
        let now = self.source.now().await?;
        let wanted = self.source.home_feed(owner, self.feed_depth).await?;
        let placed = merge_into_feed(&*self.store, owner, &wanted, now).await?;
        Tally::add(&self.tally.feed_entries, placed.len());

        let celebrities = self.source.followed_celebrities(owner).await?;
        // Most follows go to the most followed accounts, so a user may
        // follow dozens of celebrities: record them all at once.
        let owner_only = [owner];
        futures::future::try_join_all(
            celebrities
                .iter()
                .map(|&celebrity| self.store.add_celebrity_follows(&owner_only, celebrity)),
        )
        .await?;
        let merged = self.store.celebrity_follows(owner).await?;
        let followed = self.source.followed_among(owner, &merged).await?;
        for &gone in merged.iter().filter(|id| !followed.contains(&id.0)) {
            self.store.remove_celebrity_follow(owner, gone).await?;
        }
        self.cache.celebrity_follows_changed(&owner_only).await?;

        let now = self.source.now().await?;
        let mut after = None;
        loop {
            let page = self.store.feed_page(owner, after, BATCH).await?;
            let valid = self.source.feed_entries_among(owner, &page).await?;
            let stale: Vec<FeedPosition> = page
                .iter()
                .filter(|p| !valid.contains(&p.post_id.0))
                .copied()
                .collect();
            self.store.remove_from_feed(owner, &stale, now).await?;
            Tally::add(&self.tally.removed, stale.len());
            if page.len() < BATCH {
                break;
            }
            after = page.last().copied();
        }
        self.cache.forget_list(HotList::Home(owner)).await?;
        Ok(())
    }

    /// `user`'s likes by time ("favourites"): each like is listed, then
    /// each listed one the source no longer has is unlisted.
    async fn favourites(&self, user: UserId) -> Result<(), RebuildError> {
        let mut before = i64::MAX;
        loop {
            let likes = self.source.likes(user, before, BATCH).await?;
            stream::iter(&likes)
                .map(|&(like, post, at)| self.store.add_favourite(user, like, post, at))
                .buffer_unordered(WRITES_IN_FLIGHT)
                .try_collect::<()>()
                .await?;
            match likes.last() {
                Some(&(last, _, _)) if likes.len() == BATCH => before = last,
                _ => break,
            }
        }
        let now = self.source.now().await?;
        let mut before = None;
        loop {
            let page = self.store.favourites_page(user, before, BATCH).await?;
            let ids: Vec<i64> = page.iter().map(|&(like, _)| like).collect();
            let kept = self.source.likes_among(user, &ids).await?;
            for &(like, post) in page.iter().filter(|(like, _)| !kept.contains(like)) {
                self.store.remove_favourite(user, like, post, now).await?;
                Tally::add(&self.tally.removed, 1);
            }
            if page.len() < BATCH {
                return Ok(());
            }
            before = page.last().map(|&(like, _)| like);
        }
    }

    /// `user`'s inbox: the notifications the source makes (the newest
    /// [`KEEP_NEWEST`] and every one younger than [`KEEP_DAYS`] days) are
    /// written, then each stored one the source no longer makes is
    /// withdrawn; then the newest clear (so a cause still on its way stays
    /// out) and the read markers, and the hot inbox is dropped.
    async fn inbox(&self, user: UserId) -> Result<(), RebuildError> {
        let since = Utc::now() - Duration::days(KEEP_DAYS);
        let mut before = i64::MAX;
        let mut seen = 0;
        loop {
            let page = self.source.notifications(user, before, BATCH).await?;
            let Some(last) = page.last() else { break };
            before = last.id.0;
            let done =
                page.len() < BATCH || (seen + page.len() >= KEEP_NEWEST && last.created_at < since);
            let wanted: Vec<_> = page
                .iter()
                .enumerate()
                .filter(|(i, n)| seen + i < KEEP_NEWEST || n.created_at >= since)
                .map(|(_, n)| n)
                .collect();
            seen += page.len();
            stream::iter(wanted)
                .map(|n| self.store.add_notification(user, n))
                .buffer_unordered(WRITES_IN_FLIGHT)
                .try_collect::<Vec<bool>>()
                .await?;
            if done {
                break;
            }
        }
        let now = self.source.now().await?;
        let mut before = None;
        loop {
            let page = self
                .store
                .notifications_page(user, before, &[], BATCH)
                .await?;
            let ids: Vec<_> = page.iter().map(|n| n.id).collect();
            let made = self.source.notifications_among(user, &ids).await?;
            for n in page.iter().filter(|n| !made.contains(&n.id.0)) {
                self.store.remove_notification(user, n.id, now).await?;
                Tally::add(&self.tally.removed, 1);
            }
            if page.len() < BATCH {
                break;
            }
            before = page.last().map(|n| n.id);
        }
        if let Some((up_to, at)) = self.source.inbox_cleared(user).await? {
            self.store.clear_notifications(user, up_to, at).await?;
        }
        for timeline in [Timeline::Home, Timeline::Notifications] {
            if let Some(marker) = self.source.marker(user, timeline).await? {
                self.store.put_marker(user, timeline, marker).await?;
            }
        }
        self.cache.forget_inbox(user).await?;
        Ok(())
    }
}
