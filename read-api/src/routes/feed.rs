use std::sync::Arc;

use chrono::{DateTime, Utc};
use contracts::cursor::{Cursor, CursorError, FeedPosition, Scope};
use contracts::ids::PostId;
use platform::auth::BearerAuth;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::Tag;
use crate::feed::{FeedService, Item};
use platform::error::{ApiError, ApiResult};

pub struct FeedApi(pub Arc<FeedService>);

/// A post.
#[derive(Object)]
struct PostView {
    id: String,
    text: String,
    created_at: DateTime<Utc>,
    /// When the text was last changed; null if never.
    #[oai(nullable)]
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
#[oai(example)]
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

impl poem_openapi::types::Example for ItemView {
    fn example() -> Self {
        let created_at = DateTime::from_timestamp(1_763_800_000, 0).unwrap_or_default();
        ItemView {
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
        }
    }
}

impl poem_openapi::types::Example for PageView {
    fn example() -> Self {
        Self {
            items: vec![poem_openapi::types::Example::example()],
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

/// Decodes an optional cursor for `scope`.
fn after(cursor: Option<&str>, scope: Scope) -> Result<Option<FeedPosition>, CursorError> {
    cursor
        .map(|c| Cursor::decode(c, scope))
        .transpose()
        .map(|c| c.map(|c| c.after))
}

fn bad_cursor(e: CursorError) -> ApiError {
    ApiError::bad_field("cursor", e.to_string())
}

fn page_view(page: crate::feed::Page, scope: Scope) -> Json<PageView> {
    Json(PageView {
        items: page.items.into_iter().map(ItemView::from).collect(),
        next_cursor: page.next.map(|after| Cursor { scope, after }.encode()),
    })
}

#[derive(poem_openapi::ApiResponse)]
enum PostResponse {
    /// The post and its author.
    #[oai(status = 200)]
    Found(Json<ItemView>),
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
        let after = after(cursor.0.as_deref(), scope).map_err(bad_cursor)?;
        let limit = limit.0.unwrap_or(20) as usize;
        Ok(page_view(
            self.0.home_page(auth.0, after, limit).await?,
            scope,
        ))
    }

    /// An author's posts, newest first (public).
    #[oai(
        path = "/v1/users/:username/posts",
        method = "get",
        operation_id = "author_timeline"
    )]
    async fn timeline(
        &self,
        #[oai(validator(max_length = 64))] username: Path<String>,
        /// Items per page, 1-100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 128))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<PageView>> {
        let author = self
            .0
            .profile_by_username(&username.0)
            .await?
            .ok_or_else(|| ApiError::not_found("no account has this username"))?;
        let scope = Scope::Timeline(author.id);
        let after = after(cursor.0.as_deref(), scope).map_err(bad_cursor)?;
        let limit = limit.0.unwrap_or(20) as usize;
        Ok(page_view(
            self.0.timeline_page(author.id, after, limit).await?,
            scope,
        ))
    }

    /// One post with its author (public).
    #[oai(path = "/v1/posts/:id", method = "get", operation_id = "post")]
    async fn post(&self, id: Path<i64>) -> ApiResult<PostResponse> {
        let item = self.0.post(PostId(id.0)).await?;
        item.map(|i| PostResponse::Found(Json(ItemView::from(i))))
            .ok_or_else(|| ApiError::not_found("no such post"))
    }
}
