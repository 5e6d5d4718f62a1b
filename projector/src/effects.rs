//! What each event does to the read model.
//!
//! Every effect is an idempotent write keyed by ids (upserts, set inserts
//! and deletes, version-guarded profile snapshots), so applying an event
//! twice leaves the read model as applying it once. The durable store is
//! written before Redis: if the process dies between the two, the
//! redelivered event writes both again.
//!
//! Feeds, timelines, threads and counts are here; whom an event notifies
//! is in [`notifications`], and what connected clients are told in [`live`].

mod live;
mod notifications;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};

use contracts::events::{
    Event, FollowCreated, FollowDeleted, LikeChanged, PostCounts, PostCreated, PostDeleted,
    PostEdited, RepostChanged, UserSnapshot,
};
use contracts::ids::{NotificationId, PostId, UserId};
use readmodel::cache::{HotCache, HotList, LiveEvent};
use readmodel::{
    Engagement, EngagementState, FeedEntry, FeedPosition, FeedWriter, Marker, NotificationKind,
    NotificationRecord, PostRecord, ProfileRecord, RepostOf, StoreError, Timeline,
};

/// Profile snapshots of a batch written to the durable store at once.
const PROFILE_WRITES_IN_FLIGHT: usize = 8;

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

    /// Applies `event`: its own effects, then the user snapshots it carries.
    pub async fn apply(&self, event: &Event) -> Result<(), StoreError> {
        self.apply_without_profiles(event).await?;
        self.put_profiles(&profiles_of(event.user_snapshots()))
            .await
    }

    /// Applies `event` but for the user snapshots it carries, which the
    /// consumer writes once for a whole batch ([`Effects::put_profiles`]):
    /// a batch of one author's posts carries the same snapshot many times.
    pub async fn apply_without_profiles(&self, event: &Event) -> Result<(), StoreError> {
        match event {
            Event::UserCreated(e) => {
                self.store.index_profile(&(&e.user).into()).await?;
                self.cache.count_accounts(&[e.user.id]).await?
            }
            Event::UserUpdated(e) => self.store.index_profile(&(&e.user).into()).await?,
            Event::CelebrityChanged(e) if e.author.celebrity => {
                self.celebrity_started(e.author.id).await?
            }
            Event::CelebrityChanged(_) => {}
            Event::PostCreated(e) => {
                self.post_created(e).await?;
                self.notify_post(e).await?;
                self.cache.count_posts(&[e.post_id]).await?
            }
            Event::PostEdited(e) => self.post_edited(e).await?,
            Event::PostDeleted(e) => {
                self.post_deleted(e).await?;
                self.withdraw_about(e.post_id, e.deleted_at).await?;
                self.cache.count_deleted_posts(&[e.post_id]).await?
            }
            Event::FollowCreated(e) => {
                self.follow_created(e).await?;
                if let Some(id) = e.follow_id {
                    let n = NotificationRecord {
                        id,
                        kind: NotificationKind::Follow,
                        actor: e.follower_id,
                        post: None,
                        created_at: e.created_at,
                    };
                    self.notify(e.followee_id, n).await?
                }
            }
            Event::FollowDeleted(e) => {
                self.follow_deleted(e).await?;
                if let Some(id) = e.follow_id {
                    self.withdraw(e.followee_id, id, e.deleted_at).await?
                }
            }
            Event::SessionRevoked(e) => {
                // Past the expiry a token is refused anyway; until then
                // every read replica refuses it through this set.
                let until = e.tokens_valid_until.timestamp() + 1;
                let now = chrono::Utc::now().timestamp();
                self.cache.revoke_session(e.session_id, until, now).await?
            }
            Event::LikeCreated(e) => self.like_changed(e, true).await?,
            Event::LikeDeleted(e) => self.like_changed(e, false).await?,
            Event::RepostCreated(e) => self.repost_created(e).await?,
            Event::RepostDeleted(e) => self.repost_deleted(e).await?,
            Event::NotificationMarkerUpdated(e) => {
                let marker = Marker {
                    last_read_id: e.last_read_id.0,
                    version: e.version,
                };
                self.store
                    .put_marker(e.user_id, Timeline::Notifications, marker)
                    .await?
            }
            Event::HomeMarkerUpdated(e) => {
                let marker = Marker {
                    last_read_id: e.last_read_id.0,
                    version: e.version,
                };
                self.store
                    .put_marker(e.user_id, Timeline::Home, marker)
                    .await?
            }
            Event::NotificationDismissed(e) => {
                self.withdraw(e.user_id, e.notification_id, e.dismissed_at)
                    .await?
            }
            Event::NotificationsCleared(e) => self.clear_inbox(e).await?,
        }
        Ok(())
    }

    /// Stores `profiles` in both tiers; of each user, the newest version
    /// stored wins, so older ones change nothing.
    pub async fn put_profiles(&self, profiles: &[ProfileRecord]) -> Result<(), StoreError> {
        stream::iter(profiles)
            .map(|profile| self.store.put_profile(profile))
            .buffer_unordered(PROFILE_WRITES_IN_FLIGHT)
            .try_collect::<()>()
            .await?;
        self.cache.put_profiles(profiles).await
    }

    /// Stores a post's counts, newest version winning, in both tiers.
    async fn put_counts(&self, post: PostId, counts: PostCounts) -> Result<(), StoreError> {
        self.store.put_counts(post, counts).await?;
        self.cache.put_counts(&[(post, counts)]).await
    }

    /// Records `user`'s like (or repost) state of `post` as of the counts
    /// the change produced, and those counts, in both tiers.
    async fn engagement_changed(
        &self,
        kind: Engagement,
        user: UserId,
        post: PostId,
        active: bool,
        counts: PostCounts,
    ) -> Result<(), StoreError> {
        let state = EngagementState {
            active,
            version: counts.version,
        };
        self.store.set_engaged(kind, user, post, state).await?;
        self.cache
            .put_engagements(kind, user, &[(post, state)])
            .await?;
        self.put_counts(post, counts).await
    }

    async fn like_changed(&self, e: &LikeChanged, liked: bool) -> Result<(), StoreError> {
        self.engagement_changed(Engagement::Like, e.user_id, e.post_id, liked, e.counts)
            .await?;
        let Some(id) = e.like_id else { return Ok(()) };
        if liked {
            self.store
                .add_favourite(e.user_id, id.0, e.post_id, e.at)
                .await?;
            let n = NotificationRecord {
                id,
                kind: NotificationKind::Like,
                actor: e.user_id,
                post: Some(e.post_id),
                created_at: e.at,
            };
            self.notify(e.post_author_id, n).await
        } else {
            self.store
                .remove_favourite(e.user_id, id.0, e.post_id, e.at)
                .await?;
            self.withdraw(e.post_author_id, id, e.at).await
        }
    }

    /// Stores the repost (a post naming the reposted one), lists it in the
    /// reposter's timeline and, unless the reposter is a celebrity whose
    /// followers merge that timeline when they read, delivers it to the
    /// reposter and followers whose feeds do not hold the post yet.
    async fn repost_created(&self, e: &RepostChanged) -> Result<(), StoreError> {
        self.engagement_changed(Engagement::Repost, e.user_id, e.post_id, true, e.counts)
            .await?;
        let n = NotificationRecord {
            id: NotificationId(e.repost_id.0),
            kind: NotificationKind::Repost,
            actor: e.user_id,
            post: Some(e.post_id),
            created_at: e.created_at,
        };
        self.notify(e.post_author_id, n).await?;
        let repost = repost_record(e);
        self.store.put_post(&repost).await?;
        self.cache.put_posts(std::slice::from_ref(&repost)).await?;
        let entry = repost.feed_entry();
        let position = entry.position;
        self.store.add_to_timeline(e.user_id, position).await?;
        self.cache
            .add_to_list(HotList::Timeline(e.user_id), &[position])
            .await?;
        let original = FeedPosition {
            created_at_ms: e.post_created_at.timestamp_millis(),
            post_id: e.post_id,
        };
        let live = LiveEvent::FeedItem { entry: e.repost_id };
        let deliver = async |owners: &[UserId]| {
            let owners = self
                .store
                .offer_to_feeds(owners, entry, original, e.created_at)
                .await?;
            self.cache.fan_out(&owners, position).await?;
            self.live(&owners, &live).await;
            Ok(())
        };
        if e.reposter_celebrity {
            metrics::counter!("projector_reposts_total", "delivery" => "on_read").increment(1);
            deliver(&[e.user_id]).await?;
            self.live_author(e.user_id, &live).await;
            return Ok(());
        }
        metrics::counter!("projector_reposts_total", "delivery" => "on_write").increment(1);
        self.for_author_and_followers(e.user_id, deliver).await?;
        Ok(())
    }

    /// Forgets the repost first, so pages stop showing it at once, then
    /// takes it out of every feed it reached and of the timeline; where it
    /// held its post's place, another repost of the post (or the post
    /// itself) that was passed over takes it.
    async fn repost_deleted(&self, e: &RepostChanged) -> Result<(), StoreError> {
        self.engagement_changed(Engagement::Repost, e.user_id, e.post_id, false, e.counts)
            .await?;
        self.withdraw(e.post_author_id, NotificationId(e.repost_id.0), e.at)
            .await?;
        self.store.delete_post(e.repost_id, e.at).await?;
        self.cache.delete_post(e.repost_id).await?;
        let position = FeedPosition {
            created_at_ms: e.created_at.timestamp_millis(),
            post_id: e.repost_id,
        };
        self.for_author_and_followers(e.user_id, async |owners| {
            let replacements = self
                .store
                .withdraw_offer(owners, position, e.post_id, e.at)
                .await?;
            self.cache.remove_from_feeds(owners, position).await?;
            for (owner, entry) in replacements {
                self.cache
                    .add_to_list(HotList::Home(owner), &[entry])
                    .await?;
            }
            Ok(())
        })
        .await?;
        self.store
            .remove_from_timeline(e.user_id, position, e.at)
            .await?;
        self.cache
            .remove_from_list(HotList::Timeline(e.user_id), &[position])
            .await
    }

    /// Who of `owners` gets a post in their home feed: everyone, except
    /// that a reply to another account's post reaches only those who also
    /// follow that account (Mastodon's rule) and that account itself; its
    /// author always gets it.
    async fn audience(
        &self,
        owners: &[UserId],
        post: &PostRecord,
    ) -> Result<Vec<UserId>, StoreError> {
        let Some(replied_to) = post.answers_another() else {
            return Ok(owners.to_vec());
        };
        let (mut keep, others): (Vec<UserId>, Vec<UserId>) = owners
            .iter()
            .partition(|&&o| o == post.author_id || o == replied_to);
        if !others.is_empty() {
            keep.extend(self.store.followers_among(replied_to, &others).await?);
        }
        Ok(keep)
    }

    async fn post_created(&self, e: &PostCreated) -> Result<(), StoreError> {
        let post = PostRecord {
            id: e.post_id,
            author_id: e.author_id,
            text: e.text.clone(),
            created_at: e.created_at,
            edited_at: None,
            in_reply_to_id: e.in_reply_to.map(|t| t.post_id),
            in_reply_to_author_id: e.in_reply_to.map(|t| t.author_id),
            repost_of: None,
        };
        let entry = post.feed_entry();
        let position = entry.position;
        // Independent rows, so written at once.
        tokio::try_join!(
            self.store.put_post(&post),
            self.store.add_to_timeline(e.author_id, position)
        )?;
        tokio::try_join!(
            self.cache.put_posts(std::slice::from_ref(&post)),
            self.cache.add_to_list(
                HotList::Timeline(e.author_id),
                std::slice::from_ref(&position)
            )
        )?;
        if let Some(target) = &e.in_reply_to {
            self.store.add_reply(target.post_id, position).await?;
            self.put_counts(target.post_id, target.counts).await?;
        }
        if e.author.celebrity {
            // Fan-out on read: followers' feeds merge the timeline when read.
            metrics::counter!("projector_posts_total", "delivery" => "on_read").increment(1);
            let reached = self
                .store
                .fan_out_post(&[e.author_id], entry, e.created_at)
                .await?;
            self.cache.fan_out(&reached, position).await?;
            let live = LiveEvent::FeedItem { entry: e.post_id };
            self.live(&reached, &live).await;
            self.live_author(e.author_id, &live).await;
            return Ok(());
        }
        metrics::counter!("projector_posts_total", "delivery" => "on_write").increment(1);
        let started = Instant::now();
        let delivered = self
            .for_author_and_followers(e.author_id, async |owners| {
                let owners = self.audience(owners, &post).await?;
                let reached = self
                    .store
                    .fan_out_post(&owners, entry, e.created_at)
                    .await?;
                self.cache.fan_out(&reached, position).await?;
                let live = LiveEvent::FeedItem { entry: e.post_id };
                self.live(&reached, &live).await;
                Ok(())
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
            in_reply_to_id: e.in_reply_to_id,
            in_reply_to_author_id: e.in_reply_to_author_id,
            repost_of: None,
        };
        self.store.put_post(&post).await?;
        self.cache.put_posts(std::slice::from_ref(&post)).await?;
        let celebrity = self
            .store
            .profiles(&[e.author_id])
            .await?
            .first()
            .is_some_and(|p| p.celebrity);
        self.tell_followers(
            e.author_id,
            celebrity,
            &LiveEvent::PostUpdate { id: e.post_id },
        )
        .await
    }

    /// Tells the author and their connected followers: a celebrity's once
    /// on their channel, an ordinary author's each on their own.
    async fn tell_followers(
        &self,
        author: UserId,
        celebrity: bool,
        event: &LiveEvent,
    ) -> Result<(), StoreError> {
        self.live(&[author], event).await;
        if celebrity {
            self.live_author(author, event).await;
            return Ok(());
        }
        self.for_each_follower_page(author, async |followers| {
            self.live(followers, event).await;
            Ok(())
        })
        .await?;
        Ok(())
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
        if let Some(target) = &e.in_reply_to {
            self.put_counts(target.post_id, target.counts).await?;
        }
        let live = LiveEvent::FeedDelete { id: e.post_id };
        let celebrity = e.author.celebrity;
        if celebrity {
            self.live(&[e.author_id], &live).await;
            self.live_author(e.author_id, &live).await;
        }
        self.for_author_and_followers(e.author_id, async |owners| {
            self.store
                .remove_from_feeds(owners, position, e.deleted_at)
                .await?;
            self.cache.remove_from_feeds(owners, position).await?;
            if !celebrity {
                self.live(owners, &live).await;
            }
            Ok(())
        })
        .await?;
        self.store
            .remove_from_timeline(e.author_id, position, e.deleted_at)
            .await?;
        self.cache
            .remove_from_list(HotList::Timeline(e.author_id), &[position])
            .await
    }

    /// Records the edge, then either marks a celebrity followee for merging
    /// at read time or merges an ordinary followee's newest posts into the
    /// follower's feed.
    async fn follow_created(&self, e: &FollowCreated) -> Result<(), StoreError> {
        self.store
            .add_followers(e.followee_id, &[e.follower_id])
            .await?;
        self.store
            .add_follow_edge(e.follower_id, e.followee_id, e.created_at)
            .await?;
        if e.followee.celebrity {
            self.store
                .add_celebrity_follows(&[e.follower_id], e.followee_id)
                .await?;
            return self.cache.celebrity_follows_changed(&[e.follower_id]).await;
        }
        let recent = self
            .store
            .timeline_page(e.followee_id, None, FOLLOW_BACKFILL)
            .await?;
        let ids: Vec<PostId> = recent.iter().map(|p| p.post_id).collect();
        let posts = self.store.posts(&ids).await?;
        let posts = self.without_foreign_replies(e.follower_id, posts).await?;
        let entries: Vec<(FeedEntry, Option<FeedPosition>)> = posts
            .iter()
            .map(|p| (p.feed_entry(), p.repost_of.map(|r| r.position())))
            .collect();
        // Stamped with the follow's time: later than an earlier unfollow,
        // so these entries show even where that unfollow hid them.
        let delivered =
            merge_into_feed(&*self.store, e.follower_id, &entries, e.created_at).await?;
        self.cache
            .add_to_list(HotList::Home(e.follower_id), &delivered)
            .await
    }

    /// Removes the edge and every post and repost of the followee from the
    /// follower's feed: in the durable store by hiding the author (one
    /// write, whatever the number of posts), in the hot feed entry by entry.
    async fn follow_deleted(&self, e: &FollowDeleted) -> Result<(), StoreError> {
        self.store
            .remove_follower(e.followee_id, e.follower_id)
            .await?;
        self.store
            .remove_follow_edge(e.follower_id, e.followee_id, e.followed_at, e.deleted_at)
            .await?;
        self.store
            .remove_celebrity_follow(e.follower_id, e.followee_id)
            .await?;
        self.cache
            .celebrity_follows_changed(&[e.follower_id])
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
            // Where one of the followee's posts or reposts held a post's
            // place, another offer of that post (a repost of an account
            // still followed, one's own) takes it, as when a repost is
            // undone. The places are looked at after the author is hidden,
            // so an offer made meanwhile either sees the place free or is
            // seen here.
            let ids: Vec<PostId> = page.iter().map(|p| p.post_id).collect();
            let originals: Vec<FeedPosition> = self
                .store
                .posts(&ids)
                .await?
                .iter()
                .map(|p| p.repost_of.map_or(p.position(), |r| r.position()))
                .collect();
            let placed = self
                .store
                .restore_places(e.follower_id, &originals, e.deleted_at)
                .await?;
            let home = HotList::Home(e.follower_id);
            self.cache.remove_from_list(home, &page).await?;
            self.cache.add_to_list(home, &placed).await?;
            if page.len() < self.fanout_page {
                return Ok(());
            }
            after = page.last().copied();
        }
    }

    /// `posts` without the replies `reader` would not get by fan-out:
    /// those answering an account the reader does not follow.
    async fn without_foreign_replies(
        &self,
        reader: UserId,
        posts: Vec<PostRecord>,
    ) -> Result<Vec<PostRecord>, StoreError> {
        let mut replied_to: Vec<UserId> = posts
            .iter()
            .filter_map(PostRecord::answers_another)
            .filter(|&a| a != reader)
            .collect();
        if replied_to.is_empty() {
            return Ok(posts);
        }
        replied_to.sort_unstable();
        replied_to.dedup();
        let unfollowed = self.store.not_followed_among(reader, &replied_to).await?;
        Ok(posts
            .into_iter()
            .filter(|p| p.answers_another().is_none_or(|a| !unfollowed.contains(&a)))
            .collect())
    }

    /// An author became a celebrity: from now on their posts reach no feed
    /// by fan-out, so every follower's feed merges their timeline at read
    /// time. Becoming ordinary again changes nothing here: new posts fan out
    /// again, while the posts written meanwhile are still merged for as long
    /// as each follow lasts, and nothing delivered disappears.
    async fn celebrity_started(&self, author: UserId) -> Result<(), StoreError> {
        self.for_each_follower_page(author, async |page| {
            self.store.add_celebrity_follows(page, author).await?;
            self.cache.celebrity_follows_changed(page).await
        })
        .await?;
        Ok(())
    }

    /// Calls `each` with the author and the first page of the author's
    /// followers, then with the other pages one at a time, so memory stays
    /// bounded whatever the follower count and an ordinary author's event
    /// costs one call. Returns how many followers there were.
    async fn for_author_and_followers(
        &self,
        author: UserId,
        mut each: impl AsyncFnMut(&[UserId]) -> Result<(), StoreError>,
    ) -> Result<usize, StoreError> {
        let mut author_done = false;
        let count = self
            .for_each_follower_page(author, async |page| {
                if author_done {
                    return each(page).await;
                }
                author_done = true;
                let owners: Vec<UserId> = std::iter::once(author)
                    .chain(page.iter().copied().filter(|&f| f != author))
                    .collect();
                each(&owners).await
            })
            .await?;
        if !author_done {
            each(&[author]).await?;
        }
        Ok(count)
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

/// The newest of `snapshots` of each user, as profiles.
pub fn profiles_of<'a>(
    snapshots: impl IntoIterator<Item = &'a UserSnapshot>,
) -> Vec<ProfileRecord> {
    let mut newest: HashMap<UserId, ProfileRecord> = HashMap::new();
    for profile in snapshots.into_iter().map(ProfileRecord::from) {
        match newest.get(&profile.id) {
            Some(kept) if kept.version >= profile.version => {}
            _ => {
                newest.insert(profile.id, profile);
            }
        }
    }
    newest.into_values().collect()
}

/// The read model's record of a repost: a post of the reposter's, at the
/// repost's time, naming the reposted post.
pub fn repost_record(e: &RepostChanged) -> PostRecord {
    PostRecord {
        id: e.repost_id,
        author_id: e.user_id,
        text: String::new(),
        created_at: e.created_at,
        edited_at: None,
        in_reply_to_id: None,
        in_reply_to_author_id: None,
        repost_of: Some(RepostOf {
            post_id: e.post_id,
            created_at_ms: e.post_created_at.timestamp_millis(),
        }),
    }
}

/// Merges `entries` (each with the post it reposts, if a repost) into
/// `owner`'s home feed, a post once: posts as [`FeedWriter::fan_out_posts`]
/// places them, reposts as offers ([`FeedWriter::offer_to_feeds`]).
/// Returns what joined the feed.
pub async fn merge_into_feed(
    store: &dyn FeedWriter,
    owner: UserId,
    entries: &[(FeedEntry, Option<FeedPosition>)],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<FeedPosition>, StoreError> {
    let (posts, reposts): (Vec<_>, Vec<_>) =
        entries.iter().partition(|(_, original)| original.is_none());
    let posts: Vec<FeedEntry> = posts.into_iter().map(|&(entry, _)| entry).collect();
    let mut delivered = store.fan_out_posts(owner, &posts, at).await?;
    // Oldest first: of two reposts of one post, the earlier takes the place.
    let mut reposts: Vec<(FeedEntry, FeedPosition)> = reposts
        .into_iter()
        .filter_map(|&(entry, original)| Some((entry, original?)))
        .collect();
    reposts.sort_unstable_by_key(|(entry, _)| entry.position);
    let owner_only = [owner];
    for (entry, original) in reposts {
        if !store
            .offer_to_feeds(&owner_only, entry, original, at)
            .await?
            .is_empty()
        {
            delivered.push(entry.position);
        }
    }
    Ok(delivered)
}
