//! A live message as its client receives it, in the dialect of the route
//! it connected to: on `/v1/stream` `{event, data}` JSON with the same
//! shapes the HTTP routes return; on Mastodon's streaming routes its
//! events (`update`, `delete`, `status.update`, `notification`) with
//! Mastodon's entities as their payload. Either way items are hydrated
//! for the viewer and notifications like their page's.

use std::collections::HashSet;

use contracts::ids::UserId;
use poem_openapi::types::ToJSON;
use readmodel::cache::{Channel, LiveEvent, LiveMessage};
use readmodel::{FeedPosition, StoreError};
use serde_json::{Value, json};

use crate::feed::{FeedService, Item};
use crate::inbox::Notification;
use crate::routes::views::ItemView;

/// What a viewer is sent for one message, hydrated.
pub enum Rendered {
    FeedItem(Item),
    PostUpdate(Item),
    FeedDelete(contracts::ids::PostId),
    Notification(Notification),
}

/// Which shape of the stream a client connected to.
#[derive(Debug, Clone)]
pub enum Dialect {
    /// `/v1/stream`.
    Native,
    /// Mastodon's streaming API; links rooted at `origin`.
    Mastodon { origin: String },
}

impl Rendered {
    /// The event's name and its data as the dialect sends it: native data
    /// is a JSON value; Mastodon's payload is a string (the entity's JSON,
    /// or a deleted status's id).
    pub fn event(self, dialect: &Dialect) -> (&'static str, Value) {
        match dialect {
            Dialect::Native => match self {
                Rendered::FeedItem(item) => ("feed.item", item_json(item)),
                Rendered::PostUpdate(item) => ("post.update", item_json(item)),
                Rendered::FeedDelete(id) => ("feed.delete", json!({ "id": id.to_string() })),
                Rendered::Notification(n) => (
                    "notification",
                    crate::routes::notifications::NotificationView::from(n).to_json_value(),
                ),
            },
            Dialect::Mastodon { origin } => {
                use crate::routes::mastodon::render as entity;
                let text =
                    |value: serde_json::Result<String>| Value::String(value.unwrap_or_default());
                match self {
                    Rendered::FeedItem(item) => (
                        "update",
                        text(serde_json::to_string(&entity::status(&item, origin))),
                    ),
                    Rendered::PostUpdate(item) => (
                        "status.update",
                        text(serde_json::to_string(&entity::status(&item, origin))),
                    ),
                    Rendered::FeedDelete(id) => ("delete", Value::String(id.to_string())),
                    Rendered::Notification(n) => (
                        "notification",
                        text(serde_json::to_string(&entity::notification(&n, origin))),
                    ),
                }
            }
        }
    }
}

/// What `viewer` is sent for `message`, if anything: a post that is gone
/// by now, or a celebrity's post or repost the viewer's home feed would not
/// show, sends nothing.
pub async fn render(
    feeds: &FeedService,
    viewer: UserId,
    message: &LiveMessage,
) -> Result<Option<Rendered>, StoreError> {
    let rendered = match &message.event {
        LiveEvent::FeedItem { entry } => {
            let Some(item) = hydrate(feeds, viewer, *entry).await? else {
                return Ok(None);
            };
            if let Channel::Author(author) = message.channel {
                let mut items = vec![item];
                feeds
                    .apply_merge_rules(viewer, &[author], &HashSet::new(), &mut items)
                    .await?;
                let Some(item) = items.pop() else {
                    return Ok(None);
                };
                Rendered::FeedItem(item)
            } else {
                Rendered::FeedItem(item)
            }
        }
        LiveEvent::PostUpdate { id } => match hydrate(feeds, viewer, *id).await? {
            Some(item) => Rendered::PostUpdate(item),
            None => return Ok(None),
        },
        LiveEvent::FeedDelete { id } => Rendered::FeedDelete(*id),
        LiveEvent::Notification(record) => {
            let mut found = feeds
                .hydrate_notifications(viewer, vec![record.clone()])
                .await?;
            match found.pop() {
                Some(n) => Rendered::Notification(n),
                None => return Ok(None),
            }
        }
    };
    Ok(Some(rendered))
}

async fn hydrate(
    feeds: &FeedService,
    viewer: UserId,
    entry: contracts::ids::PostId,
) -> Result<Option<Item>, StoreError> {
    let position = FeedPosition {
        created_at_ms: 0,
        post_id: entry,
    };
    Ok(feeds.hydrate(&[position], Some(viewer)).await?.pop())
}

fn item_json(item: Item) -> Value {
    ItemView::from(item).to_json_value()
}

/// A poem-openapi body as plain JSON.
trait ToJsonValue {
    fn to_json_value(&self) -> Value;
}

impl<T: ToJSON> ToJsonValue for T {
    fn to_json_value(&self) -> Value {
        self.to_json().unwrap_or(Value::Null)
    }
}
