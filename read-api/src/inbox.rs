//! Notifications: a user's inbox, newest first, from the hot inbox in
//! Redis while it is warm and continued from the durable store where Redis
//! runs out; a cold inbox is read from the durable store and warmed. Each
//! page is hydrated in one batch: the actors' profiles and the posts the
//! notifications are about. A notification whose post or actor is gone is
//! left out, as Mastodon does, so a deleted post's notifications disappear
//! at once even before the projector withdraws them.

use std::collections::HashMap;

use contracts::ids::{NotificationId, PostId, UserId};
use readmodel::cache::{HotInbox, INBOX_CAP};
use readmodel::notifications::UNREAD_CAP;
use readmodel::{
    FeedPosition, NotificationKind, NotificationRecord, ProfileRecord, StoreError, Timeline,
};

use crate::feed::{FeedService, Item, cache_failed};

/// A hydrated notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub record: NotificationRecord,
    pub account: ProfileRecord,
    /// The post it is about; none for a follow.
    pub item: Option<Item>,
}

/// A page of notifications and the last one it covered, where the next
/// page starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    pub next: Option<NotificationRecord>,
}

/// The read marker and how many notifications are above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerState {
    pub last_read_id: NotificationId,
    /// At most [`UNREAD_CAP`].
    pub unread_count: usize,
}

impl FeedService {
    /// `recipient`'s notifications below `before`, newest first, of `kinds`
    /// (all when empty).
    pub async fn notifications_page(
        &self,
        recipient: UserId,
        before: Option<NotificationId>,
        kinds: &[NotificationKind],
        limit: usize,
    ) -> Result<NotificationPage, StoreError> {
        let mut records = self
            .inbox_entries(recipient, before, kinds, limit + 1)
            .await?;
        let next = if records.len() > limit {
            records.truncate(limit);
            records.last().cloned()
        } else {
            None
        };
        let notifications = self.hydrate_notifications(recipient, records).await?;
        Ok(NotificationPage {
            notifications,
            next,
        })
    }

    async fn inbox_entries(
        &self,
        recipient: UserId,
        before: Option<NotificationId>,
        kinds: &[NotificationKind],
        wanted: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let store = self.store();
        // Filtering needs the whole hot window; otherwise just enough of it.
        let scan = if kinds.is_empty() { wanted } else { INBOX_CAP };
        let hot = match self.cache().inbox(recipient, before, scan).await {
            Ok(hot) => hot,
            Err(e) => {
                cache_failed("inbox", &e);
                count_source("durable_fallback");
                return store
                    .notifications_page(recipient, before, kinds, wanted)
                    .await;
            }
        };
        let (scanned, complete) = match hot {
            HotInbox::Warm {
                notifications,
                complete,
            } => (notifications, complete),
            HotInbox::Cold { .. } if before.is_some() => {
                count_source("durable_cold");
                return store
                    .notifications_page(recipient, before, kinds, wanted)
                    .await;
            }
            HotInbox::Cold { version } => {
                count_source("durable_cold");
                let mut newest = store
                    .notifications_page(recipient, None, &[], INBOX_CAP + 1)
                    .await?;
                let complete = newest.len() <= INBOX_CAP;
                newest.truncate(INBOX_CAP);
                if let Err(e) = self
                    .cache()
                    .warm_inbox(recipient, &version, &newest, complete)
                    .await
                {
                    cache_failed("warm_inbox", &e);
                }
                (newest, complete)
            }
        };
        let mut found: Vec<NotificationRecord> = scanned
            .iter()
            .filter(|n| kinds.is_empty() || kinds.contains(&n.kind))
            .take(wanted)
            .cloned()
            .collect();
        // Short of `wanted`, the hot window below `before` is used up: the
        // rest, if any, is older than all of it and lives in the durable store.
        if found.len() == wanted || complete {
            count_source("cache");
            return Ok(found);
        }
        count_source("cache_then_durable");
        let from = scanned.last().map(|n| n.id).or(before);
        let rest = store
            .notifications_page(recipient, from, kinds, wanted - found.len())
            .await?;
        found.extend(rest);
        Ok(found)
    }

    /// Attaches actors and posts; leaves out notifications whose actor or
    /// post no longer exists.
    pub(crate) async fn hydrate_notifications(
        &self,
        viewer: UserId,
        records: Vec<NotificationRecord>,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut posts: Vec<PostId> = records.iter().filter_map(|n| n.post).collect();
        posts.sort_unstable();
        posts.dedup();
        let entries: Vec<FeedPosition> = posts
            .iter()
            .map(|&post_id| FeedPosition {
                created_at_ms: 0,
                post_id,
            })
            .collect();
        let mut actors: Vec<UserId> = records.iter().map(|n| n.actor).collect();
        actors.sort_unstable();
        actors.dedup();
        let (items, accounts) = tokio::join!(
            self.hydrate(&entries, Some(viewer)),
            self.profiles_by_id(&actors)
        );
        let items: HashMap<PostId, Item> = items?
            .into_iter()
            .map(|item| (item.post.id, item))
            .collect();
        let accounts = accounts?;
        Ok(records
            .into_iter()
            .filter_map(|record| {
                let account = accounts.get(&record.actor)?.clone();
                let item = match record.post {
                    Some(post) => Some(items.get(&post)?.clone()),
                    None => None,
                };
                Some(Notification {
                    record,
                    account,
                    item,
                })
            })
            .collect())
    }

    /// `user`'s read marker (0 when never set) and the notifications above it.
    pub async fn notifications_marker(&self, user: UserId) -> Result<MarkerState, StoreError> {
        let marker = self.store().marker(user, Timeline::Notifications).await?;
        let last_read_id = NotificationId(marker.map_or(0, |m| m.last_read_id));
        let unread_count = self
            .store()
            .unread_count(user, last_read_id, UNREAD_CAP)
            .await?;
        Ok(MarkerState {
            last_read_id,
            unread_count,
        })
    }
}

fn count_source(source: &'static str) {
    metrics::counter!("read_notifications_source_total", "source" => source).increment(1);
}
