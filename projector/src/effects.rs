//! What each event does to the read model.
//!
//! Every effect is an idempotent write keyed by ids (upserts, set inserts
//! and deletes, version-guarded profile snapshots), so applying an event
//! twice leaves the read model as applying it once. The durable store is
//! written before Redis: if the process dies between the two, the
//! redelivered event writes both again.

use std::sync::Arc;
use std::time::Instant;

use contracts::events::{
    Event, FollowCreated, FollowDeleted, PostCreated, PostDeleted, PostEdited, UserSnapshot,
};
use contracts::ids::UserId;
use readmodel::cache::HotCache;
use readmodel::{FeedEntry, FeedPosition, FeedWriter, PostRecord, ProfileRecord, StoreError};

/// Posts of a newly followed author merged into the follower's feed.
pub const FOLLOW_BACKFILL: usize = 200;

#[derive(Clone)]
pub struct Effects {
    store: Arc<dyn FeedWriter>,
    cache: HotCache,
    fanout_page: usize,
}

impl Effects {
    pub fn new(store: Arc<dyn FeedWriter>, cache: HotCache, fanout_page: usize) -> Self {
        Self {
            store,
            cache,
            fanout_page,
        }
    }

    pub fn cache(&self) -> &HotCache {
        &self.cache
    }

    pub fn store(&self) -> Arc<dyn FeedWriter> {
        Arc::clone(&self.store)
    }

    /// Answers when both tiers of the read model are reachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await?;
        self.cache.ping().await
    }

    pub async fn apply(&self, event: &Event) -> Result<(), StoreError> {
        match event {
            Event::UserCreated(_) | Event::UserUpdated(_) => {}
            Event::CelebrityChanged(e) if e.author.celebrity => {
                self.celebrity_started(e.author.id).await?
            }
            Event::CelebrityChanged(_) => {}
            Event::PostCreated(e) => self.post_created(e).await?,
            Event::PostEdited(e) => self.post_edited(e).await?,
            Event::PostDeleted(e) => self.post_deleted(e).await?,
            Event::FollowCreated(e) => self.follow_created(e).await?,
            Event::FollowDeleted(e) => self.follow_deleted(e).await?,
            Event::SessionRevoked(e) => {
                // Past the expiry a token is refused anyway; until then
                // every read replica refuses it through this set.
                let until = e.tokens_valid_until.timestamp() + 1;
                let now = chrono::Utc::now().timestamp();
                self.cache.revoke_session(e.session_id, until, now).await?
            }
        }
        self.put_profiles(event.user_snapshots()).await
    }

    /// Keeps the newest snapshot of each user; older ones change nothing.
    async fn put_profiles(&self, snapshots: Vec<&UserSnapshot>) -> Result<(), StoreError> {
        let profiles: Vec<ProfileRecord> = snapshots.into_iter().map(ProfileRecord::from).collect();
        for profile in &profiles {
            self.store.put_profile(profile).await?;
        }
        self.cache.put_profiles(&profiles).await
    }

    async fn post_created(&self, e: &PostCreated) -> Result<(), StoreError> {
        let post = PostRecord {
            id: e.post_id,
            author_id: e.author_id,
            text: e.text.clone(),
            created_at: e.created_at,
            edited_at: None,
        };
        self.store.put_post(&post).await?;
        self.cache.put_posts(std::slice::from_ref(&post)).await?;
        let entry = post.feed_entry();
        let position = entry.position;
        self.store.add_to_timeline(e.author_id, position).await?;
        if e.author.celebrity {
            // Fan-out on read: followers' feeds merge the timeline when read.
            metrics::counter!("projector_posts_total", "delivery" => "on_read").increment(1);
            self.store
                .add_to_feeds(&[e.author_id], entry, e.created_at)
                .await?;
            return self.cache.fan_out(&[e.author_id], position).await;
        }
        metrics::counter!("projector_posts_total", "delivery" => "on_write").increment(1);
        let started = Instant::now();
        let delivered = self
            .for_author_and_followers(e.author_id, async |owners| {
                self.store.add_to_feeds(owners, entry, e.created_at).await?;
                self.cache.fan_out(owners, position).await
            })
            .await?;
        metrics::histogram!("projector_fanout_size").record(delivered as f64);
        metrics::histogram!("projector_fanout_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    async fn post_edited(&self, e: &PostEdited) -> Result<(), StoreError> {
        let post = PostRecord {
            id: e.post_id,
            author_id: e.author_id,
            text: e.text.clone(),
            created_at: e.created_at,
            edited_at: Some(e.edited_at),
        };
        self.store.put_post(&post).await?;
        self.cache.put_posts(std::slice::from_ref(&post)).await
    }

    /// Forgets the post first, so every page stops showing it at once, then
    /// removes its entries from every feed it reached and from the timeline.
    async fn post_deleted(&self, e: &PostDeleted) -> Result<(), StoreError> {
        let position = FeedPosition {
            created_at_ms: e.created_at.timestamp_millis(),
            post_id: e.post_id,
        };
        self.store.delete_post(e.post_id, e.deleted_at).await?;
        self.cache.delete_post(e.post_id).await?;
        self.for_author_and_followers(e.author_id, async |owners| {
            self.store
                .remove_from_feeds(owners, position, e.deleted_at)
                .await?;
            self.cache.remove_from_feeds(owners, position).await
        })
        .await?;
        self.store
            .remove_from_timeline(e.author_id, position, e.deleted_at)
            .await
    }

    /// Records the edge, then either marks a celebrity followee for merging
    /// at read time or merges an ordinary followee's newest posts into the
    /// follower's feed.
    async fn follow_created(&self, e: &FollowCreated) -> Result<(), StoreError> {
        self.store
            .add_followers(e.followee_id, &[e.follower_id])
            .await?;
        if e.followee.celebrity {
            return self
                .store
                .add_celebrity_follows(&[e.follower_id], e.followee_id)
                .await;
        }
        let recent = self
            .store
            .timeline_page(e.followee_id, None, FOLLOW_BACKFILL)
            .await?;
        let entries: Vec<FeedEntry> = recent
            .iter()
            .map(|&position| FeedEntry {
                position,
                author_id: e.followee_id,
            })
            .collect();
        // Stamped with the follow's time: later than an earlier unfollow,
        // so these entries show even where that unfollow hid them.
        self.store
            .add_to_feed(e.follower_id, &entries, e.created_at)
            .await?;
        self.cache.add_to_feed(e.follower_id, &recent).await
    }

    /// Removes the edge and every post of the followee from the follower's
    /// feed: in the durable store by hiding the author (one write, whatever
    /// the number of posts), in the hot feed entry by entry.
    async fn follow_deleted(&self, e: &FollowDeleted) -> Result<(), StoreError> {
        self.store
            .remove_follower(e.followee_id, e.follower_id)
            .await?;
        self.store
            .remove_celebrity_follow(e.follower_id, e.followee_id)
            .await?;
        self.store
            .hide_author(e.follower_id, e.followee_id, e.deleted_at)
            .await?;
        let mut after = None;
        loop {
            let page = self
                .store
                .timeline_page(e.followee_id, after, self.fanout_page)
                .await?;
            self.cache.remove_from_feed(e.follower_id, &page).await?;
            if page.len() < self.fanout_page {
                return Ok(());
            }
            after = page.last().copied();
        }
    }

    /// An author became a celebrity: from now on their posts reach no feed
    /// by fan-out, so every follower's feed merges their timeline at read
    /// time. Becoming ordinary again changes nothing here: new posts fan out
    /// again, while the posts written meanwhile are still merged for as long
    /// as each follow lasts, and nothing delivered disappears.
    async fn celebrity_started(&self, author: UserId) -> Result<(), StoreError> {
        self.for_each_follower_page(author, async |page| {
            self.store.add_celebrity_follows(page, author).await
        })
        .await?;
        Ok(())
    }

    /// Calls `each` with the author, then with the author's followers one
    /// page at a time, so memory stays bounded whatever the follower count.
    /// Returns how many followers there were.
    async fn for_author_and_followers(
        &self,
        author: UserId,
        mut each: impl AsyncFnMut(&[UserId]) -> Result<(), StoreError>,
    ) -> Result<usize, StoreError> {
        each(&[author]).await?;
        self.for_each_follower_page(author, each).await
    }

    /// Calls `each` with the author's followers one non-empty page at a
    /// time; returns how many there were.
    async fn for_each_follower_page(
        &self,
        author: UserId,
        mut each: impl AsyncFnMut(&[UserId]) -> Result<(), StoreError>,
    ) -> Result<usize, StoreError> {
        let mut count = 0;
        let mut after = None;
        loop {
            let page = self
                .store
                .followers(author, after, self.fanout_page)
                .await?;
            if !page.is_empty() {
                each(&page).await?;
            }
            count += page.len();
            if page.len() < self.fanout_page {
                return Ok(count);
            }
            after = page.last().copied();
        }
    }
}
