//! Read-model records as Mastodon entities.

use contracts::cursor::FeedPosition;
use mastodon::entities::{Account, AccountParts, Status, StatusParts};
use mastodon::ids::StatusId;
use readmodel::ProfileRecord;

use crate::feed::Item;
use crate::inbox::Notification;

pub fn account_parts(p: &ProfileRecord) -> AccountParts<'_> {
    AccountParts {
        id: p.id,
        username: &p.username,
        display_name: &p.display_name,
        bio: &p.bio,
        created_at: p.created_at,
        followers_count: p.followers_count,
        following_count: p.following_count,
        posts_count: p.posts_count,
    }
}

pub fn account(p: &ProfileRecord, origin: &str) -> Account {
    Account::new(account_parts(p), origin)
}

/// An item as a status; one that reached the list as a repost is the
/// reblog that wraps it.
pub fn status(item: &Item, origin: &str) -> Status {
    let viewer = item.viewer.unwrap_or(crate::feed::ViewerState {
        liked: false,
        reposted: false,
    });
    let post = &item.post;
    let original = Status::new(
        StatusParts {
            id: post.id,
            text: &post.text,
            created_at: post.created_at,
            edited_at: post.edited_at,
            in_reply_to: post.in_reply_to_id.zip(post.in_reply_to_author_id),
            likes: item.counts.likes,
            replies: item.counts.replies,
            reposts: item.counts.reposts,
            favourited: viewer.liked,
            reblogged: viewer.reposted,
        },
        account(&item.author, origin),
        origin,
    );
    match (item.via_repost, &item.reposted_by) {
        (Some((id, at)), Some(reposter)) => {
            Status::reblog(id, at, account(reposter, origin), original)
        }
        _ => original,
    }
}

/// Where an item sits in a list: the repost's place when it came as one.
pub fn position(item: &Item) -> FeedPosition {
    match item.via_repost {
        Some((id, at)) => FeedPosition {
            created_at_ms: at.timestamp_millis(),
            post_id: id,
        },
        None => FeedPosition {
            created_at_ms: item.post.created_at.timestamp_millis(),
            post_id: item.post.id,
        },
    }
}

/// A list position as a bound for a `Link` header.
pub fn bound(position: FeedPosition) -> String {
    StatusId::new(position.post_id, position.created_at_ms).to_string()
}

pub fn notification(n: &Notification, origin: &str) -> mastodon::entities::Notification {
    mastodon::entities::Notification::new(
        n.record.id,
        n.record.kind.as_str(),
        n.record.created_at,
        account(&n.account, origin),
        n.item.as_ref().map(|item| status(item, origin)),
    )
}
