use std::sync::Arc;

use contracts::cursor::Scope;
use contracts::ids::PostId;
use platform::auth::{BearerAuth, OptionalBearer};
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};

use super::Tag;
use super::typed_json::TypedJson;
use super::views::{ItemView, PageView, after, bad_cursor, page_view};
use crate::feed::FeedService;
use platform::error::{ApiError, ApiResult};

pub struct FeedApi(pub Arc<FeedService>);

#[derive(poem_openapi::ApiResponse)]
enum PostResponse {
    /// The post and its author.
    #[oai(status = 200)]
    Found(TypedJson<ItemView>),
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
    ) -> ApiResult<TypedJson<PageView>> {
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
        viewer: OptionalBearer,
        #[oai(validator(max_length = 64))] username: Path<String>,
        /// Items per page, 1-100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 128))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<TypedJson<PageView>> {
        let author = self
            .0
            .profile_by_username(&username.0)
            .await?
            .ok_or_else(|| ApiError::not_found("no account has this username"))?;
        let scope = Scope::Timeline(author.id);
        let after = after(cursor.0.as_deref(), scope).map_err(bad_cursor)?;
        let limit = limit.0.unwrap_or(20) as usize;
        Ok(page_view(
            self.0
                .timeline_page(author.id, after, limit, viewer.user())
                .await?,
            scope,
        ))
    }

    /// One post with its author (public).
    #[oai(path = "/v1/posts/:id", method = "get", operation_id = "post")]
    async fn post(&self, viewer: OptionalBearer, id: Path<i64>) -> ApiResult<PostResponse> {
        let item = self.0.post(PostId(id.0), viewer.user()).await?;
        item.map(|i| PostResponse::Found(TypedJson(ItemView::from(i))))
            .ok_or_else(|| ApiError::not_found("no such post"))
    }
}
