//! Events that cross Kafka, from the write side's outbox to the projector.
//!
//! Every record on the events topic is an [`Envelope`] serialised as JSON:
//! a unique event id (consumers deduplicate on it), the event type and its
//! schema version, when it happened, and the type-specific `data`. The JSON
//! schemas in `schema/events/` describe each type; this module is their Rust
//! form. Consumers ignore unknown fields, and an unknown event type decodes
//! to [`Decoded::Unknown`] so that an old projector skips events that a newer
//! writer added instead of stalling on them.
//!
//! Records are keyed by the id of the author whose fan-out they change (see
//! [`Event::partition_key`]) so that one author's posts and follower changes
//! arrive in order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{NotificationId, PostId, UserId};

/// The wire form of every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique per event; redeliveries carry the same id.
    pub id: Uuid,
    /// Event type, e.g. `post.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Schema version of `data` for this type.
    pub version: u16,
    pub occurred_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// A user's public profile as of one change to it. `version` grows with
/// every change to the account row (profile edits, counts), so a consumer
/// keeps the snapshot with the highest version and events from different
/// partitions can arrive in any order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSnapshot {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub followers_count: i64,
    pub following_count: i64,
    pub posts_count: i64,
    /// Fan-out on read for this author's posts (see `author.celebrity_changed`).
    #[serde(default)]
    pub celebrity: bool,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

/// A post's engagement counts as of one change to them. `version` grows
/// with every change (a like, an unlike, a reply, a reply's deletion), so a
/// consumer keeps the counts with the highest version: a like is membership
/// of a set on the write side, and these are that set's exact size, whatever
/// order or number of times the events arrive in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostCounts {
    pub likes: i64,
    pub replies: i64,
    pub reposts: i64,
    pub version: i64,
}

/// The post a reply answers, after the change that carries it (its reply
/// count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTarget {
    pub post_id: PostId,
    pub author_id: UserId,
    pub counts: PostCounts,
}

/// A new account. Key: the account's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserCreated {
    pub user: UserSnapshot,
}

/// A profile changed (display name, bio). Key: the account's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserUpdated {
    pub user: UserSnapshot,
}

/// A new post. Key: the author's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostCreated {
    pub post_id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// The author after the post (its post count).
    pub author: UserSnapshot,
    /// The post this one answers, with its reply count after this reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<ReplyTarget>,
    /// The existing accounts its text names as `@username`, in the order
    /// they first appear, at most [`MAX_MENTIONS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
}

/// Mentions a post may make that notify anyone.
pub const MAX_MENTIONS: usize = 10;

/// `follower_id` now follows `followee_id`. Key: the followee's id, because
/// it changes the followee's fan-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowCreated {
    pub follower_id: UserId,
    pub followee_id: UserId,
    pub created_at: DateTime<Utc>,
    /// Both accounts after the follow (their counts).
    pub follower: UserSnapshot,
    pub followee: UserSnapshot,
    /// The follow's id, which its notification takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_id: Option<NotificationId>,
}

/// A post's text changed. Key: the author's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostEdited {
    pub post_id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: DateTime<Utc>,
    /// The post this one answers, if it is a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to_id: Option<PostId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to_author_id: Option<UserId>,
}

/// A post was deleted; it leaves every feed and timeline. Key: the author's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostDeleted {
    pub post_id: PostId,
    pub author_id: UserId,
    pub created_at: DateTime<Utc>,
    pub deleted_at: DateTime<Utc>,
    /// The author after the deletion (its post count).
    pub author: UserSnapshot,
    /// The post this one answered, with its reply count after the deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<ReplyTarget>,
}

/// `follower_id` stopped following `followee_id`. Key: the followee's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowDeleted {
    pub follower_id: UserId,
    pub followee_id: UserId,
    pub deleted_at: DateTime<Utc>,
    pub follower: UserSnapshot,
    pub followee: UserSnapshot,
    /// When the follow that ended was made: it locates the edge in stores
    /// that list follows by time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followed_at: Option<DateTime<Utc>>,
    /// The ended follow's id: its notification is withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_id: Option<NotificationId>,
}

/// `user_id` liked (`like.created`) or stopped liking (`like.deleted`)
/// `post_id`. Key: the post's author, whose post it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LikeChanged {
    pub user_id: UserId,
    pub post_id: PostId,
    pub post_author_id: UserId,
    pub at: DateTime<Utc>,
    /// The post's counts after the change; their version also orders this
    /// user's like and unlike of the post.
    pub counts: PostCounts,
    /// The like's id (made, or ended), which its notification takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like_id: Option<NotificationId>,
}

/// `user_id` reposted `post_id` (`repost.created`), or the repost ended
/// (`repost.deleted`: undone, or the post was deleted). A repost has its
/// own id from the posts' id space and its own time, which place it in the
/// reposter's timeline and in feeds. Key: the reposter, whose followers'
/// feeds it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepostChanged {
    pub repost_id: PostId,
    pub user_id: UserId,
    /// When the repost was made.
    pub created_at: DateTime<Utc>,
    /// When this change happened: `created_at` for `repost.created`.
    pub at: DateTime<Utc>,
    /// Whether the reposter's posts and reposts reach followers by fan-out
    /// on read.
    pub reposter_celebrity: bool,
    pub post_id: PostId,
    pub post_author_id: UserId,
    pub post_created_at: DateTime<Utc>,
    /// The post's counts after the change; their version also orders this
    /// user's repost and undo of the post.
    pub counts: PostCounts,
}

/// An author crossed the celebrity threshold, either way. It changes only
/// how the author's *later* posts are delivered. Key: the author's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CelebrityChanged {
    pub author: UserSnapshot,
}

/// A session (a login's refresh-token family) was revoked: by logout, or
/// because a spent refresh token was presented again. Every host refuses
/// the session's access tokens from then on; none of them is valid after
/// `tokens_valid_until`, so consumers may forget the revocation then.
/// Key: the account's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRevoked {
    pub session_id: Uuid,
    pub user_id: UserId,
    pub revoked_at: DateTime<Utc>,
    pub tokens_valid_until: DateTime<Utc>,
}

/// `user_id` read their notifications up to `last_read_id`. `version`
/// grows with every change of the marker, so a consumer keeps the newest.
/// Key: the account's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationMarkerUpdated {
    pub user_id: UserId,
    pub last_read_id: NotificationId,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// `user_id` read their home timeline up to the post `last_read_id`.
/// `version` grows with every change of the marker, so a consumer keeps
/// the newest. Key: the account's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HomeMarkerUpdated {
    pub user_id: UserId,
    pub last_read_id: PostId,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// `user_id` dismissed one of their notifications: it leaves their inbox
/// for good, even if its cause is delivered again. Key: the account's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationDismissed {
    pub user_id: UserId,
    pub notification_id: NotificationId,
    pub dismissed_at: DateTime<Utc>,
}

/// `user_id` cleared their inbox: every notification with an id up to
/// `up_to` (the newest id drawn when the clear was made) leaves it for
/// good, including ones whose cause arrives after this event.
/// Key: the account's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationsCleared {
    pub user_id: UserId,
    pub up_to: NotificationId,
    pub cleared_at: DateTime<Utc>,
}

/// The typed events this build knows.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    UserCreated(UserCreated),
    UserUpdated(UserUpdated),
    PostCreated(PostCreated),
    PostEdited(PostEdited),
    PostDeleted(PostDeleted),
    FollowCreated(FollowCreated),
    FollowDeleted(FollowDeleted),
    CelebrityChanged(CelebrityChanged),
    SessionRevoked(SessionRevoked),
    LikeCreated(LikeChanged),
    LikeDeleted(LikeChanged),
    RepostCreated(RepostChanged),
    RepostDeleted(RepostChanged),
    NotificationMarkerUpdated(NotificationMarkerUpdated),
    HomeMarkerUpdated(HomeMarkerUpdated),
    NotificationDismissed(NotificationDismissed),
    NotificationsCleared(NotificationsCleared),
}

/// What a consumer gets from a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// An event this build knows, with its envelope's id and commit time.
    Known {
        id: Uuid,
        occurred_at: DateTime<Utc>,
        event: Box<Event>,
    },
    /// A type (or a newer major version) this build does not know: skip it.
    Unknown(Envelope),
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("record is not a valid event envelope: {0}")]
    Envelope(serde_json::Error),
    #[error("`{event_type}` v{version} has invalid data: {source}")]
    Data {
        event_type: String,
        version: u16,
        source: serde_json::Error,
    },
}

impl Event {
    pub const USER_CREATED: &'static str = "user.created";
    pub const USER_UPDATED: &'static str = "user.updated";
    pub const POST_CREATED: &'static str = "post.created";
    pub const POST_EDITED: &'static str = "post.edited";
    pub const POST_DELETED: &'static str = "post.deleted";
    pub const FOLLOW_CREATED: &'static str = "follow.created";
    pub const FOLLOW_DELETED: &'static str = "follow.deleted";
    pub const CELEBRITY_CHANGED: &'static str = "author.celebrity_changed";
    pub const SESSION_REVOKED: &'static str = "session.revoked";
    pub const LIKE_CREATED: &'static str = "like.created";
    pub const LIKE_DELETED: &'static str = "like.deleted";
    pub const REPOST_CREATED: &'static str = "repost.created";
    pub const REPOST_DELETED: &'static str = "repost.deleted";
    pub const NOTIFICATION_MARKER_UPDATED: &'static str = "notification_marker.updated";
    pub const HOME_MARKER_UPDATED: &'static str = "home_marker.updated";
    pub const NOTIFICATION_DISMISSED: &'static str = "notification.dismissed";
    pub const NOTIFICATIONS_CLEARED: &'static str = "notifications.cleared";

    pub fn event_type(&self) -> &'static str {
        match self {
            Event::UserCreated(_) => Self::USER_CREATED,
            Event::UserUpdated(_) => Self::USER_UPDATED,
            Event::PostCreated(_) => Self::POST_CREATED,
            Event::PostEdited(_) => Self::POST_EDITED,
            Event::PostDeleted(_) => Self::POST_DELETED,
            Event::FollowCreated(_) => Self::FOLLOW_CREATED,
            Event::FollowDeleted(_) => Self::FOLLOW_DELETED,
            Event::CelebrityChanged(_) => Self::CELEBRITY_CHANGED,
            Event::SessionRevoked(_) => Self::SESSION_REVOKED,
            Event::LikeCreated(_) => Self::LIKE_CREATED,
            Event::LikeDeleted(_) => Self::LIKE_DELETED,
            Event::RepostCreated(_) => Self::REPOST_CREATED,
            Event::RepostDeleted(_) => Self::REPOST_DELETED,
            Event::NotificationMarkerUpdated(_) => Self::NOTIFICATION_MARKER_UPDATED,
            Event::HomeMarkerUpdated(_) => Self::HOME_MARKER_UPDATED,
            Event::NotificationDismissed(_) => Self::NOTIFICATION_DISMISSED,
            Event::NotificationsCleared(_) => Self::NOTIFICATIONS_CLEARED,
        }
    }

    /// Schema version of this build's form of the event.
    pub fn version(&self) -> u16 {
        1
    }

    /// The Kafka record key: the author whose fan-out the event changes.
    pub fn partition_key(&self) -> UserId {
        match self {
            Event::UserCreated(UserCreated { user }) | Event::UserUpdated(UserUpdated { user }) => {
                user.id
            }
            Event::PostCreated(e) => e.author_id,
            Event::PostEdited(e) => e.author_id,
            Event::PostDeleted(e) => e.author_id,
            Event::FollowCreated(e) => e.followee_id,
            Event::FollowDeleted(e) => e.followee_id,
            Event::CelebrityChanged(e) => e.author.id,
            Event::SessionRevoked(e) => e.user_id,
            Event::LikeCreated(e) | Event::LikeDeleted(e) => e.post_author_id,
            Event::RepostCreated(e) | Event::RepostDeleted(e) => e.user_id,
            Event::NotificationMarkerUpdated(e) => e.user_id,
            Event::HomeMarkerUpdated(e) => e.user_id,
            Event::NotificationDismissed(e) => e.user_id,
            Event::NotificationsCleared(e) => e.user_id,
        }
    }

    /// The aggregate the event belongs to, as (type, id), for the outbox.
    pub fn aggregate(&self) -> (&'static str, i64) {
        match self {
            Event::UserCreated(UserCreated { user }) | Event::UserUpdated(UserUpdated { user }) => {
                ("user", user.id.0)
            }
            Event::PostCreated(e) => ("post", e.post_id.0),
            Event::PostEdited(e) => ("post", e.post_id.0),
            Event::PostDeleted(e) => ("post", e.post_id.0),
            Event::FollowCreated(e) => ("user", e.followee_id.0),
            Event::FollowDeleted(e) => ("user", e.followee_id.0),
            Event::CelebrityChanged(e) => ("user", e.author.id.0),
            Event::SessionRevoked(e) => ("user", e.user_id.0),
            Event::LikeCreated(e) | Event::LikeDeleted(e) => ("post", e.post_id.0),
            Event::RepostCreated(e) | Event::RepostDeleted(e) => ("post", e.repost_id.0),
            Event::NotificationMarkerUpdated(e) => ("user", e.user_id.0),
            Event::HomeMarkerUpdated(e) => ("user", e.user_id.0),
            Event::NotificationDismissed(e) => ("user", e.user_id.0),
            Event::NotificationsCleared(e) => ("user", e.user_id.0),
        }
    }

    /// The user snapshots the event carries, for the profile read model.
    pub fn user_snapshots(&self) -> Vec<&UserSnapshot> {
        match self {
            Event::UserCreated(UserCreated { user }) | Event::UserUpdated(UserUpdated { user }) => {
                vec![user]
            }
            Event::PostCreated(e) => vec![&e.author],
            Event::PostEdited(_) => vec![],
            Event::PostDeleted(e) => vec![&e.author],
            Event::FollowCreated(e) => vec![&e.follower, &e.followee],
            Event::FollowDeleted(e) => vec![&e.follower, &e.followee],
            Event::CelebrityChanged(e) => vec![&e.author],
            Event::SessionRevoked(_)
            | Event::LikeCreated(_)
            | Event::LikeDeleted(_)
            | Event::RepostCreated(_)
            | Event::RepostDeleted(_)
            | Event::NotificationMarkerUpdated(_)
            | Event::HomeMarkerUpdated(_)
            | Event::NotificationDismissed(_)
            | Event::NotificationsCleared(_) => vec![],
        }
    }

    pub fn data(&self) -> serde_json::Value {
        let value = match self {
            Event::UserCreated(e) => serde_json::to_value(e),
            Event::UserUpdated(e) => serde_json::to_value(e),
            Event::PostCreated(e) => serde_json::to_value(e),
            Event::PostEdited(e) => serde_json::to_value(e),
            Event::PostDeleted(e) => serde_json::to_value(e),
            Event::FollowCreated(e) => serde_json::to_value(e),
            Event::FollowDeleted(e) => serde_json::to_value(e),
            Event::CelebrityChanged(e) => serde_json::to_value(e),
            Event::SessionRevoked(e) => serde_json::to_value(e),
            Event::LikeCreated(e) | Event::LikeDeleted(e) => serde_json::to_value(e),
            Event::RepostCreated(e) | Event::RepostDeleted(e) => serde_json::to_value(e),
            Event::NotificationMarkerUpdated(e) => serde_json::to_value(e),
            Event::HomeMarkerUpdated(e) => serde_json::to_value(e),
            Event::NotificationDismissed(e) => serde_json::to_value(e),
            Event::NotificationsCleared(e) => serde_json::to_value(e),
        };
        value.expect("event payloads are plain data and always serialise")
    }
}

impl Envelope {
    pub fn new(id: Uuid, occurred_at: DateTime<Utc>, event: &Event) -> Self {
        Self {
            id,
            event_type: event.event_type().to_owned(),
            version: event.version(),
            occurred_at,
            data: event.data(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serialises")
    }

    /// Decodes a record. Unknown types and versions are not errors.
    pub fn decode(bytes: &[u8]) -> Result<Decoded, EventError> {
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(EventError::Envelope)?;
        if envelope.version != 1 {
            return Ok(Decoded::Unknown(envelope));
        }
        let data = envelope.data.clone();
        let parsed = match envelope.event_type.as_str() {
            Event::USER_CREATED => serde_json::from_value(data).map(Event::UserCreated),
            Event::USER_UPDATED => serde_json::from_value(data).map(Event::UserUpdated),
            Event::POST_CREATED => serde_json::from_value(data).map(Event::PostCreated),
            Event::POST_EDITED => serde_json::from_value(data).map(Event::PostEdited),
            Event::POST_DELETED => serde_json::from_value(data).map(Event::PostDeleted),
            Event::FOLLOW_CREATED => serde_json::from_value(data).map(Event::FollowCreated),
            Event::FOLLOW_DELETED => serde_json::from_value(data).map(Event::FollowDeleted),
            Event::CELEBRITY_CHANGED => serde_json::from_value(data).map(Event::CelebrityChanged),
            Event::SESSION_REVOKED => serde_json::from_value(data).map(Event::SessionRevoked),
            Event::LIKE_CREATED => serde_json::from_value(data).map(Event::LikeCreated),
            Event::LIKE_DELETED => serde_json::from_value(data).map(Event::LikeDeleted),
            Event::REPOST_CREATED => serde_json::from_value(data).map(Event::RepostCreated),
            Event::REPOST_DELETED => serde_json::from_value(data).map(Event::RepostDeleted),
            Event::NOTIFICATION_MARKER_UPDATED => {
                serde_json::from_value(data).map(Event::NotificationMarkerUpdated)
            }
            Event::HOME_MARKER_UPDATED => {
                serde_json::from_value(data).map(Event::HomeMarkerUpdated)
            }
            Event::NOTIFICATION_DISMISSED => {
                serde_json::from_value(data).map(Event::NotificationDismissed)
            }
            Event::NOTIFICATIONS_CLEARED => {
                serde_json::from_value(data).map(Event::NotificationsCleared)
            }
            _ => return Ok(Decoded::Unknown(envelope)),
        };
        match parsed {
            Ok(event) => Ok(Decoded::Known {
                id: envelope.id,
                occurred_at: envelope.occurred_at,
                event: Box::new(event),
            }),
            Err(source) => Err(EventError::Data {
                event_type: envelope.event_type,
                version: envelope.version,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(id: i64) -> UserSnapshot {
        UserSnapshot {
            id: UserId(id),
            username: format!("user{id}"),
            display_name: String::new(),
            bio: String::new(),
            followers_count: 0,
            following_count: 0,
            posts_count: 1,
            celebrity: false,
            created_at: "2026-11-22T09:00:00Z".parse().unwrap(),
            version: 2,
        }
    }

    fn post() -> Event {
        Event::PostCreated(PostCreated {
            post_id: PostId(7),
            author_id: UserId(3),
            text: "hello".into(),
            created_at: "2026-11-22T10:00:00.123Z".parse().unwrap(),
            author: snapshot(3),
            in_reply_to: None,
            mentions: vec![],
        })
    }

    #[test]
    fn round_trips_through_the_wire_form() {
        let envelope = Envelope::new(Uuid::now_v7(), Utc::now(), &post());
        let decoded = Envelope::decode(&envelope.to_bytes()).unwrap();
        assert_eq!(
            decoded,
            Decoded::Known {
                id: envelope.id,
                occurred_at: envelope.occurred_at,
                event: Box::new(post())
            }
        );
    }

    #[test]
    fn tolerates_unknown_fields_types_and_versions() {
        let with_extra = serde_json::json!({
            "id": Uuid::nil(), "type": "post.created", "version": 1,
            "occurred_at": "2026-11-22T10:00:00Z", "trace": "x",
            "data": {"post_id": "7", "author_id": "3", "text": "hello",
                     "created_at": "2026-11-22T10:00:00.123Z", "lang": "en",
                     "author": serde_json::to_value(snapshot(3)).unwrap()}
        });
        let decoded = Envelope::decode(with_extra.to_string().as_bytes()).unwrap();
        assert!(
            matches!(decoded, Decoded::Known { event, .. } if matches!(*event, Event::PostCreated(_)))
        );

        for (ty, version) in [("post.pinned", 1), ("post.created", 2)] {
            let other = serde_json::json!({
                "id": Uuid::nil(), "type": ty, "version": version,
                "occurred_at": "2026-11-22T10:00:00Z", "data": {}
            });
            let decoded = Envelope::decode(other.to_string().as_bytes()).unwrap();
            assert!(matches!(decoded, Decoded::Unknown(_)), "{ty} v{version}");
        }
    }

    #[test]
    fn rejects_garbage_and_bad_data() {
        assert!(matches!(
            Envelope::decode(b"{not json"),
            Err(EventError::Envelope(_))
        ));
        let bad = serde_json::json!({
            "id": Uuid::nil(), "type": "post.created", "version": 1,
            "occurred_at": "2026-11-22T10:00:00Z", "data": {"post_id": "x"}
        });
        assert!(matches!(
            Envelope::decode(bad.to_string().as_bytes()),
            Err(EventError::Data { .. })
        ));
    }

    #[test]
    fn follows_are_keyed_by_the_followee() {
        let follow = Event::FollowCreated(FollowCreated {
            follower_id: UserId(1),
            followee_id: UserId(2),
            created_at: Utc::now(),
            follower: snapshot(1),
            followee: snapshot(2),
            follow_id: None,
        });
        assert_eq!(follow.partition_key(), UserId(2));
    }
}
