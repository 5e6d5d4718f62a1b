use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use shared::auth::BearerAuth;
use shared::cursor::{Cursor, Scope};

use super::Tag;
use crate::error::{ApiError, ApiResult};
use crate::feed::{FeedService, Item};

pub struct FeedApi(pub Arc<FeedService>);

/// A post.
#[derive(Object)]
struct PostView {
    id: String,
    text: String,
    created_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
}

/// A post's author.
#[derive(Object)]
struct AuthorView {
    id: String,
    username: String,
    display_name: String,
}

/// A feed item.
#[derive(Object)]
struct ItemView {
    post: PostView,
    author: AuthorView,
}

/// A page of items, newest first.
#[derive(Object)]
#[oai(example)]
struct PageView {
    items: Vec<ItemView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

impl poem_openapi::types::Example for PageView {
    fn example() -> Self {
        let created_at = DateTime::from_timestamp(1_763_800_000, 0).unwrap_or_default();
        Self {
            items: vec![ItemView {
                post: PostView {
                    id: "42".into(),
                    text: "Hello, followers!".into(),
                    created_at,
                    edited_at: None,
                },
                author: AuthorView {
                    id: "1".into(),
                    username: "alice".into(),
                    display_name: "Alice".into(),
                },
            }],
            next_cursor: Some("AQEAAAAAAAAAAQAAAZqtQ2wAAAAAAAAAACr5sC9T".into()),
        }
    }
}

impl From<Item> for ItemView {
    fn from(item: Item) -> Self {
        Self {
            post: PostView {
                id: item.post.id.to_string(),
                text: item.post.text,
                created_at: item.post.created_at,
                edited_at: item.post.edited_at,
            },
            author: AuthorView {
                id: item.author.id.to_string(),
                username: item.author.username,
                display_name: item.author.display_name,
            },
        }
    }
}

#[OpenApi(tag = "Tag::Feeds")]
impl FeedApi {
    /// The caller's home feed, newest first.
    #[oai(path = "/v1/feed", method = "get", operation_id = "home_feed")]
    async fn home(
        &self,
        auth: BearerAuth,
        /// Items per page, 1-100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 128))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<PageView>> {
        let scope = Scope::HomeFeed(auth.0);
        let after = cursor
            .0
            .as_deref()
            .map(|c| Cursor::decode(c, scope))
            .transpose()
            .map_err(|e| ApiError::bad_field("cursor", e.to_string()))?
            .map(|c| c.after);
        let limit = limit.0.unwrap_or(20) as usize;
        let page = self.0.home_page(auth.0, after, limit).await?;
        Ok(Json(PageView {
            items: page.items.into_iter().map(ItemView::from).collect(),
            next_cursor: page.next.map(|after| Cursor { scope, after }.encode()),
        }))
    }
}
