//! What each event does to the read model.
//!
//! Every effect is an idempotent write keyed by ids (upserts, set inserts),
//! so applying an event twice leaves the read model as applying it once.
//! The durable store is written before Redis: if the process dies between
//! the two, the redelivered event writes both again.

use std::sync::Arc;
use std::time::Instant;

use shared::events::{Event, FollowCreated, PostCreated, UserSnapshot};
use shared::ids::UserId;
use shared::readmodel::cache::HotCache;
use shared::readmodel::{FeedPosition, FeedStore, PostRecord, StoreError};

#[derive(Clone)]
pub struct Effects {
    store: Arc<dyn FeedStore>,
    cache: HotCache,
    fanout_page: usize,
}

impl Effects {
    pub fn new(store: Arc<dyn FeedStore>, cache: HotCache, fanout_page: usize) -> Self {
        Self {
            store,
            cache,
            fanout_page,
        }
    }

    /// Answers when both tiers of the read model are reachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await?;
        self.cache.ping().await
    }

    pub async fn apply(&self, event: &Event) -> Result<(), StoreError> {
        match event {
            Event::UserCreated(_) | Event::UserUpdated(_) => {}
            Event::PostCreated(e) => self.post_created(e).await?,
            Event::FollowCreated(e) => self.follow_created(e).await?,
        }
        self.put_profiles(event.user_snapshots()).await
    }

    /// Keeps the newest snapshot of each user; older ones change nothing.
    async fn put_profiles(&self, snapshots: Vec<&UserSnapshot>) -> Result<(), StoreError> {
        for snapshot in &snapshots {
            self.store.put_profile(snapshot).await?;
        }
        let owned: Vec<UserSnapshot> = snapshots.into_iter().cloned().collect();
        self.cache.put_profiles(&owned).await
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
        let position = post.position();
        self.store.add_to_timeline(e.author_id, position).await?;
        self.fan_out(e.author_id, position).await
    }

    /// Delivers a post to its author's own feed and to every follower's,
    /// one page of followers at a time.
    async fn fan_out(&self, author: UserId, position: FeedPosition) -> Result<(), StoreError> {
        let started = Instant::now();
        self.store.add_to_feeds(&[author], position).await?;
        self.cache.fan_out(&[author], position).await?;
        let mut delivered = 0usize;
        let mut after = None;
        loop {
            let page = self
                .store
                .followers(author, after, self.fanout_page)
                .await?;
            if page.is_empty() {
                break;
            }
            self.store.add_to_feeds(&page, position).await?;
            self.cache.fan_out(&page, position).await?;
            delivered += page.len();
            after = page.last().copied();
            if page.len() < self.fanout_page {
                break;
            }
        }
        metrics::histogram!("projector_fanout_size").record(delivered as f64);
        metrics::histogram!("projector_fanout_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    async fn follow_created(&self, e: &FollowCreated) -> Result<(), StoreError> {
        self.store.add_follower(e.followee_id, e.follower_id).await
    }
}
