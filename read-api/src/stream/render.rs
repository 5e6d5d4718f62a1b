//! A live message as its client receives it: `{event, data}` JSON with the
//! same shapes the HTTP routes return (items hydrated for the viewer,
//! notifications hydrated like their page's).

use contracts::ids::UserId;
use poem_openapi::types::ToJSON;
use readmodel::cache::{Channel, LiveEvent, LiveMessage};
use readmodel::{FeedPosition, StoreError};
use serde_json::{Value, json};

use crate::feed::{FeedService, Item};
use crate::routes::views::ItemView;

/// What `viewer` is sent for `message`, if anything: a post that is gone
/// by now, or a celebrity's reply the viewer's home feed would not show,
/// sends nothing.
pub async fn render(
    feeds: &FeedService,
    viewer: UserId,
    message: &LiveMessage,
) -> Result<Option<(&'static str, Value)>, StoreError> {
    let rendered = match &message.event {
        LiveEvent::FeedItem { entry } => {
            let Some(item) = hydrate(feeds, viewer, *entry).await? else {
                return Ok(None);
            };
            if let Channel::Author(author) = message.channel {
                let mut items = vec![item];
                feeds
                    .drop_foreign_replies(viewer, &[author], &mut items)
                    .await?;
                let Some(item) = items.pop() else {
                    return Ok(None);
                };
                ("feed.item", item_json(item))
            } else {
                ("feed.item", item_json(item))
            }
        }
        LiveEvent::PostUpdate { id } => match hydrate(feeds, viewer, *id).await? {
            Some(item) => ("post.update", item_json(item)),
            None => return Ok(None),
        },
        LiveEvent::FeedDelete { id } => ("feed.delete", json!({ "id": id.to_string() })),
        LiveEvent::Notification(record) => {
            let mut found = feeds
                .hydrate_notifications(viewer, vec![record.clone()])
                .await?;
            match found.pop() {
                Some(n) => (
                    "notification",
                    crate::routes::notifications::NotificationView::from(n).to_json_value(),
                ),
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
