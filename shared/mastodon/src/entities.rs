//! Mastodon 4.3's entities, as its `REST::*Serializer`s shape them, with
//! the fields clients read. Where this system has no such feature (media,
//! polls, custom emoji, locked accounts), the field is present and empty,
//! as Mastodon sends it for an account or status without one.

use chrono::{DateTime, SecondsFormat, Utc};
use contracts::ids::{NotificationId, PostId, UserId};
use serde::{Deserialize, Serialize};

use crate::html;

/// The default picture every account shows (this system stores none).
pub const AVATAR_PATH: &str = "/avatars/original/missing.png";
pub const HEADER_PATH: &str = "/headers/original/missing.png";

/// Mastodon writes times with milliseconds and `Z`.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub acct: String,
    pub display_name: String,
    pub locked: bool,
    pub bot: bool,
    pub discoverable: bool,
    pub group: bool,
    pub created_at: String,
    pub note: String,
    pub url: String,
    pub uri: String,
    pub avatar: String,
    pub avatar_static: String,
    pub header: String,
    pub header_static: String,
    pub followers_count: i64,
    pub following_count: i64,
    pub statuses_count: i64,
    pub last_status_at: Option<String>,
    pub emojis: Vec<serde_json::Value>,
    pub fields: Vec<serde_json::Value>,
    /// Only on the caller's own account (`verify_credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// The caller's own account's editable plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub privacy: String,
    pub sensitive: bool,
    pub language: Option<String>,
    pub note: String,
    pub fields: Vec<serde_json::Value>,
    pub follow_requests_count: i64,
}

/// What an [`Account`] is made from, on either side.
#[derive(Debug, Clone, Copy)]
pub struct AccountParts<'a> {
    pub id: UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub bio: &'a str,
    pub created_at: DateTime<Utc>,
    pub followers_count: i64,
    pub following_count: i64,
    pub posts_count: i64,
}

impl Account {
    pub fn new(parts: AccountParts<'_>, origin: &str) -> Self {
        let url = format!("{origin}/@{}", parts.username);
        let display_name = if parts.display_name.is_empty() {
            parts.username
        } else {
            parts.display_name
        };
        Self {
            id: parts.id.to_string(),
            username: parts.username.to_owned(),
            acct: parts.username.to_owned(),
            display_name: display_name.to_owned(),
            locked: false,
            bot: false,
            discoverable: true,
            group: false,
            created_at: time(parts.created_at),
            note: html::note(parts.bio),
            uri: format!("{origin}/users/{}", parts.username),
            url,
            avatar: format!("{origin}{AVATAR_PATH}"),
            avatar_static: format!("{origin}{AVATAR_PATH}"),
            header: format!("{origin}{HEADER_PATH}"),
            header_static: format!("{origin}{HEADER_PATH}"),
            followers_count: parts.followers_count,
            following_count: parts.following_count,
            statuses_count: parts.posts_count,
            last_status_at: None,
            emojis: Vec::new(),
            fields: Vec::new(),
            source: None,
        }
    }

    /// The caller's own account, with `source`.
    pub fn credential(parts: AccountParts<'_>, origin: &str) -> Self {
        let mut account = Self::new(parts, origin);
        account.source = Some(Source {
            privacy: "public".into(),
            sensitive: false,
            language: None,
            note: parts.bio.to_owned(),
            fields: Vec::new(),
            follow_requests_count: 0,
        });
        account
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    pub id: String,
    pub username: String,
    pub url: String,
    pub acct: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub id: String,
    pub created_at: String,
    pub in_reply_to_id: Option<String>,
    pub in_reply_to_account_id: Option<String>,
    pub sensitive: bool,
    pub spoiler_text: String,
    pub visibility: String,
    pub language: Option<String>,
    pub uri: String,
    pub url: String,
    pub replies_count: i64,
    pub reblogs_count: i64,
    pub favourites_count: i64,
    pub edited_at: Option<String>,
    pub favourited: bool,
    pub reblogged: bool,
    pub muted: bool,
    pub bookmarked: bool,
    pub pinned: bool,
    pub content: String,
    /// The source text: sent only where Mastodon sends it (a deleted
    /// status, for "delete and redraft").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub filtered: Vec<serde_json::Value>,
    pub reblog: Option<Box<Status>>,
    pub application: Option<serde_json::Value>,
    pub account: Account,
    pub media_attachments: Vec<serde_json::Value>,
    pub mentions: Vec<Mention>,
    pub tags: Vec<serde_json::Value>,
    pub emojis: Vec<serde_json::Value>,
    pub card: Option<serde_json::Value>,
    pub poll: Option<serde_json::Value>,
}

/// What a [`Status`] is made from, on either side.
#[derive(Debug, Clone)]
pub struct StatusParts<'a> {
    pub id: PostId,
    pub text: &'a str,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub in_reply_to: Option<(PostId, UserId)>,
    pub likes: i64,
    pub replies: i64,
    pub reposts: i64,
    /// The reader's own like and repost, when signed in.
    pub favourited: bool,
    pub reblogged: bool,
}

impl Status {
    pub fn new(parts: StatusParts<'_>, account: Account, origin: &str) -> Self {
        let url = format!("{}/{}", account.url, parts.id);
        Self {
            id: parts.id.to_string(),
            created_at: time(parts.created_at),
            in_reply_to_id: parts.in_reply_to.map(|(post, _)| post.to_string()),
            in_reply_to_account_id: parts.in_reply_to.map(|(_, author)| author.to_string()),
            sensitive: false,
            spoiler_text: String::new(),
            visibility: "public".into(),
            language: None,
            uri: format!("{}/statuses/{}", account.uri, parts.id),
            url,
            replies_count: parts.replies,
            reblogs_count: parts.reposts,
            favourites_count: parts.likes,
            edited_at: parts.edited_at.map(time),
            favourited: parts.favourited,
            reblogged: parts.reblogged,
            muted: false,
            bookmarked: false,
            pinned: false,
            content: html::content(parts.text, origin),
            text: None,
            filtered: Vec::new(),
            reblog: None,
            application: None,
            account,
            media_attachments: Vec::new(),
            mentions: Vec::new(),
            tags: Vec::new(),
            emojis: Vec::new(),
            card: None,
            poll: None,
        }
    }

    /// The status a repost makes: its own id, time and account, wrapping
    /// the reposted status.
    pub fn reblog(
        id: PostId,
        created_at: DateTime<Utc>,
        reposter: Account,
        original: Status,
    ) -> Self {
        let mut wrapper = original.clone();
        wrapper.id = id.to_string();
        wrapper.created_at = time(created_at);
        wrapper.uri = format!("{}/statuses/{id}/activity", reposter.uri);
        wrapper.url = wrapper.uri.clone();
        wrapper.in_reply_to_id = None;
        wrapper.in_reply_to_account_id = None;
        wrapper.content = String::new();
        wrapper.edited_at = None;
        wrapper.account = reposter;
        wrapper.reblog = Some(Box::new(original));
        wrapper
    }
}

/// Mastodon's notification types for this system's kinds: a reply is a
/// `mention` there, a like a `favourite`, a repost a `reblog`.
pub fn notification_type(kind: &str) -> &'static str {
    match kind {
        "follow" => "follow",
        "like" => "favourite",
        "repost" => "reblog",
        _ => "mention",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub group_key: String,
    pub account: Account,
    pub status: Option<Status>,
}

impl Notification {
    pub fn new(
        id: NotificationId,
        kind: &str,
        created_at: DateTime<Utc>,
        account: Account,
        status: Option<Status>,
    ) -> Self {
        Self {
            id: id.to_string(),
            kind: notification_type(kind).to_owned(),
            created_at: time(created_at),
            group_key: format!("ungrouped-{id}"),
            account,
            status,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    pub id: String,
    pub following: bool,
    pub showing_reblogs: bool,
    pub notifying: bool,
    pub languages: Option<Vec<String>>,
    pub followed_by: bool,
    pub blocking: bool,
    pub blocked_by: bool,
    pub muting: bool,
    pub muting_notifications: bool,
    pub requested: bool,
    pub requested_by: bool,
    pub domain_blocking: bool,
    pub endorsed: bool,
    pub note: String,
}

impl Relationship {
    pub fn new(id: UserId, following: bool, followed_by: bool) -> Self {
        Self {
            id: id.to_string(),
            following,
            showing_reblogs: following,
            notifying: false,
            languages: None,
            followed_by,
            blocking: false,
            blocked_by: false,
            muting: false,
            muting_notifications: false,
            requested: false,
            requested_by: false,
            domain_blocking: false,
            endorsed: false,
            note: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub ancestors: Vec<Status>,
    pub descendants: Vec<Status>,
}

/// A registered client application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub website: Option<String>,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub redirect_uris: Vec<String>,
    /// Only when the application is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    pub vapid_key: String,
}

/// An OAuth access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub access_token: String,
    pub token_type: String,
    pub scope: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub last_read_id: String,
    pub version: i64,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Account {
        Account::new(
            AccountParts {
                id: UserId(1),
                username: "alice",
                display_name: "",
                bio: "hi <3",
                created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                followers_count: 1,
                following_count: 2,
                posts_count: 3,
            },
            "https://s",
        )
    }

    #[test]
    fn accounts_have_every_field_clients_read() {
        let json = serde_json::to_value(alice()).unwrap();
        assert_eq!(json["display_name"], "alice");
        assert_eq!(json["acct"], "alice");
        assert_eq!(json["note"], "<p>hi &lt;3</p>");
        assert_eq!(json["avatar"], "https://s/avatars/original/missing.png");
        assert_eq!(json["created_at"], "2023-11-14T22:13:20.000Z");
        assert!(json.get("source").is_none());
    }

    #[test]
    fn a_reblog_wraps_the_original() {
        let original = Status::new(
            StatusParts {
                id: PostId(5),
                text: "hello",
                created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                edited_at: None,
                in_reply_to: None,
                likes: 0,
                replies: 0,
                reposts: 1,
                favourited: false,
                reblogged: true,
            },
            alice(),
            "https://s",
        );
        let wrapper = Status::reblog(
            PostId(9),
            DateTime::from_timestamp(1_700_000_100, 0).unwrap(),
            alice(),
            original.clone(),
        );
        assert_eq!(wrapper.id, "9");
        assert_eq!(wrapper.reblog.as_deref(), Some(&original));
        assert_eq!(original.content, "<p>hello</p>");
        assert_eq!(original.url, "https://s/@alice/5");
    }
}
