//! Notifications in the durable read model: each recipient's inbox, and
//! the read markers of inboxes and home feeds. Split from [`crate::FeedReader`] and [`crate::FeedWriter`],
//! which extend these traits.
//!
//! A notification takes the id of its cause (see
//! [`contracts::ids::NotificationId`]), so storing one is idempotent and a
//! recipient's inbox is ordered by id, newest first. Inboxes are bounded:
//! the newest [`KEEP_NEWEST`] stay, and older ones too while younger than
//! [`KEEP_DAYS`] days.
//!
//! What leaves an inbox leaves it for good: a withdrawn, dismissed or
//! cleared notification stays out when its cause is delivered again (a
//! redelivery, a rebuild racing the projector, a cause that arrives after
//! the clear that covers it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contracts::ids::{NotificationId, PostId, UserId};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Notifications an inbox keeps, however old.
pub const KEEP_NEWEST: usize = 1_000;
/// Days an inbox keeps every notification, however many.
pub const KEEP_DAYS: i64 = 90;
/// Most notifications an unread count counts; more show as this many.
pub const UNREAD_CAP: usize = 1_000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    /// The actor followed the recipient.
    Follow,
    /// The actor liked the recipient's post.
    Like,
    /// The actor reposted the recipient's post.
    Repost,
    /// The actor's post answers the recipient's.
    Reply,
    /// The actor's post names the recipient as `@username`.
    Mention,
}

impl NotificationKind {
    pub const ALL: [Self; 5] = [
        Self::Follow,
        Self::Like,
        Self::Repost,
        Self::Reply,
        Self::Mention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Follow => "follow",
            Self::Like => "like",
            Self::Repost => "repost",
            Self::Reply => "reply",
            Self::Mention => "mention",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One notification of a recipient's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub kind: NotificationKind,
    /// Who did it.
    pub actor: UserId,
    /// The post it is about: the one liked or reposted, or the reply or
    /// mention itself; none for a follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<PostId>,
    pub created_at: DateTime<Utc>,
}

/// What a read marker marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeline {
    /// The home feed; the id is a post's.
    Home,
    /// The inbox; the id is a notification's.
    Notifications,
}

/// How far a user has read a timeline, as of the marker's `version`
/// (stores keep the highest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// A post id or a notification id, by [`Timeline`].
    pub last_read_id: i64,
    pub version: i64,
}

/// A notification as both durable stores return it: (id, kind, actor,
/// post, created at).
pub type NotificationRow = (i64, String, i64, Option<i64>, DateTime<Utc>);

impl TryFrom<NotificationRow> for NotificationRecord {
    type Error = StoreError;

    fn try_from((id, kind, actor, post, created_at): NotificationRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: NotificationId(id),
            kind: NotificationKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("notification kind `{kind}`")))?,
            actor: UserId(actor),
            post: post.map(PostId),
            created_at,
        })
    }
}

/// (recipient, id) rows of withdrawn notifications, as both stores read them.
pub fn withdrawn(rows: Vec<(i64, i64)>) -> Vec<(UserId, NotificationId)> {
    rows.into_iter()
        .map(|(recipient, id)| (UserId(recipient), NotificationId(id)))
        .collect()
}

/// What the read API may ask of inboxes.
#[async_trait]
pub trait NotificationReader: Send + Sync + 'static {
    /// `recipient`'s notifications with ids below `before`, newest first,
    /// of `kinds` (every kind when empty), at most `limit`.
    async fn notifications_page(
        &self,
        recipient: UserId,
        before: Option<NotificationId>,
        kinds: &[NotificationKind],
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError>;
    /// How many of `recipient`'s notifications have ids above `after`,
    /// counting up to `cap`.
    async fn unread_count(
        &self,
        recipient: UserId,
        after: NotificationId,
        cap: usize,
    ) -> Result<usize, StoreError>;
    /// `user`'s read marker of `timeline`, if ever set.
    async fn marker(&self, user: UserId, timeline: Timeline) -> Result<Option<Marker>, StoreError>;
}

/// What only the projector (and its rebuild) does to inboxes.
#[async_trait]
pub trait NotificationWriter: NotificationReader {
    /// Stores `notification` in `recipient`'s inbox; storing it again
    /// changes nothing. Returns whether it shows: not when it was
    /// withdrawn, dismissed or cleared before (in any order of arrival).
    async fn add_notification(
        &self,
        recipient: UserId,
        notification: &NotificationRecord,
    ) -> Result<bool, StoreError>;
    /// Withdraws (or dismisses) one notification for good; `at` is the
    /// withdrawal's time.
    async fn remove_notification(
        &self,
        recipient: UserId,
        id: NotificationId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Withdraws every notification about `post` (a deleted post's);
    /// returns whose and which they were.
    async fn remove_notifications_about(
        &self,
        post: PostId,
        at: DateTime<Utc>,
    ) -> Result<Vec<(UserId, NotificationId)>, StoreError>;
    /// Drops `recipient`'s notifications beyond the newest `keep` that are
    /// older than `since`; returns how many.
    async fn trim_notifications(
        &self,
        recipient: UserId,
        keep: usize,
        since: DateTime<Utc>,
    ) -> Result<usize, StoreError>;
    /// Takes every notification with an id up to `up_to` out of
    /// `recipient`'s inbox for good, those stored later too; `at` is the
    /// clear's time.
    async fn clear_notifications(
        &self,
        recipient: UserId,
        up_to: NotificationId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Stores `marker` of `timeline` unless one of the same or a higher
    /// version is stored.
    async fn put_marker(
        &self,
        user: UserId,
        timeline: Timeline,
        marker: Marker,
    ) -> Result<(), StoreError>;
}
