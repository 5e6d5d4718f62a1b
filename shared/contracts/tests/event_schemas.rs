//! The events this build emits validate against the JSON schemas in
//! `schema/events/`, so the documented contract and the code cannot drift.

use chrono::Utc;
use contracts::events::{
    Envelope, Event, FollowCreated, FollowDeleted, HomeMarkerUpdated, LikeChanged,
    NotificationDismissed, NotificationMarkerUpdated, NotificationsCleared, PostCounts,
    PostCreated, PostDeleted, PostEdited, ReplyTarget, RepostChanged, SessionRevoked, UserCreated,
    UserSnapshot, UserUpdated,
};
use contracts::ids::{NotificationId, PostId, UserId};
use serde_json::Value;

fn schema(name: &str) -> Value {
    let path = format!("{}/../../schema/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Serves `https://microblog.dev/schema/events/<file>` from `schema/events/`.
struct LocalSchemas;

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.path().as_str().rsplit('/').next().unwrap_or_default();
        Ok(schema(name))
    }
}

fn assert_valid(schema_name: &str, instance: &Value) {
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_retriever(LocalSchemas)
        .build(&schema(schema_name))
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{schema_name}: {errors:?}\n{instance}");
}

#[test]
fn every_event_matches_its_schema() {
    let now = Utc::now();
    let user = |id: i64| UserSnapshot {
        id: UserId(id),
        username: format!("user_{id}"),
        display_name: "Alice".into(),
        bio: "Hello\nthere".into(),
        followers_count: 1,
        following_count: 2,
        posts_count: 3,
        celebrity: false,
        created_at: now,
        version: 4,
    };
    let counts = PostCounts {
        likes: 1,
        replies: 2,
        reposts: 0,
        version: 3,
    };
    let target = ReplyTarget {
        post_id: PostId(2),
        author_id: UserId(1),
        counts,
    };
    let like = LikeChanged {
        user_id: UserId(3),
        post_id: PostId(2),
        post_author_id: UserId(1),
        at: now,
        counts,
        like_id: Some(NotificationId(11)),
    };
    let repost = RepostChanged {
        repost_id: PostId(9),
        user_id: UserId(3),
        created_at: now,
        at: now,
        reposter_celebrity: false,
        post_id: PostId(2),
        post_author_id: UserId(1),
        post_created_at: now,
        counts,
    };
    let events = [
        Event::UserCreated(UserCreated { user: user(1) }),
        Event::UserUpdated(UserUpdated { user: user(1) }),
        Event::PostCreated(PostCreated {
            post_id: PostId(2),
            author_id: UserId(1),
            text: "hello".into(),
            created_at: now,
            author: user(1),
            in_reply_to: None,
            mentions: vec![UserId(2), UserId(3)],
        }),
        Event::PostCreated(PostCreated {
            post_id: PostId(3),
            author_id: UserId(2),
            text: "a reply".into(),
            created_at: now,
            author: user(2),
            in_reply_to: Some(target),
            mentions: vec![],
        }),
        Event::PostEdited(PostEdited {
            post_id: PostId(3),
            author_id: UserId(2),
            text: "an edited reply".into(),
            created_at: now,
            edited_at: now,
            in_reply_to_id: Some(PostId(2)),
            in_reply_to_author_id: Some(UserId(1)),
        }),
        Event::PostDeleted(PostDeleted {
            post_id: PostId(3),
            author_id: UserId(2),
            created_at: now,
            deleted_at: now,
            author: user(2),
            in_reply_to: Some(target),
        }),
        Event::LikeCreated(like.clone()),
        Event::LikeDeleted(like),
        Event::RepostCreated(repost.clone()),
        Event::RepostDeleted(repost),
        Event::FollowDeleted(FollowDeleted {
            follower_id: UserId(3),
            followee_id: UserId(1),
            deleted_at: now,
            follower: user(3),
            followee: user(1),
            followed_at: Some(now),
            follow_id: Some(NotificationId(12)),
        }),
        Event::FollowCreated(FollowCreated {
            follower_id: UserId(3),
            followee_id: UserId(1),
            created_at: now,
            follower: user(3),
            followee: user(1),
            follow_id: Some(NotificationId(12)),
        }),
        Event::NotificationMarkerUpdated(NotificationMarkerUpdated {
            user_id: UserId(1),
            last_read_id: NotificationId(12),
            version: 1,
            updated_at: now,
        }),
        Event::HomeMarkerUpdated(HomeMarkerUpdated {
            user_id: UserId(1),
            last_read_id: PostId(2),
            version: 3,
            updated_at: now,
        }),
        Event::NotificationDismissed(NotificationDismissed {
            user_id: UserId(1),
            notification_id: NotificationId(12),
            dismissed_at: now,
        }),
        Event::NotificationsCleared(NotificationsCleared {
            user_id: UserId(1),
            up_to: NotificationId(12),
            cleared_at: now,
        }),
        Event::SessionRevoked(SessionRevoked {
            session_id: uuid::Uuid::new_v4(),
            user_id: UserId(1),
            revoked_at: now,
            tokens_valid_until: now,
        }),
    ];
    for event in &events {
        let envelope = Envelope::new(uuid::Uuid::now_v7(), now, event);
        let wire: Value = serde_json::from_slice(&envelope.to_bytes()).unwrap();
        assert_valid("envelope.schema.json", &wire);
        let name = format!("{}.v{}.schema.json", event.event_type(), event.version());
        assert_valid(&name, &wire["data"]);
    }
}
