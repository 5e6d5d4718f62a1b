use std::sync::Arc;

use contracts::cursor::Scope;
use contracts::ids::PostId;
use platform::auth::OptionalBearer;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};

use super::Tag;
use super::typed_json::TypedJson;
use super::views::{ContextView, ItemView, PageView, after, bad_cursor, page_view};
use crate::feed::FeedService;
use platform::error::{ApiError, ApiResult};

pub struct ThreadsApi(pub Arc<FeedService>);

#[OpenApi(tag = "Tag::Feeds")]
impl ThreadsApi {
    /// A post's thread: the posts it answers (oldest first, at most 40) and
    /// the replies below it (depth-first, oldest first, at most 200).
    #[oai(
        path = "/v1/posts/:id/context",
        method = "get",
        operation_id = "post_context"
    )]
    async fn context(
        &self,
        viewer: OptionalBearer,
        id: Path<i64>,
    ) -> ApiResult<TypedJson<ContextView>> {
        let context = self
            .0
            .context(PostId(id.0), viewer.user())
            .await?
            .ok_or_else(|| ApiError::not_found("no such post"))?;
        Ok(TypedJson(ContextView {
            ancestors: context.ancestors.into_iter().map(ItemView::from).collect(),
            descendants: context
                .descendants
                .into_iter()
                .map(ItemView::from)
                .collect(),
        }))
    }

    /// A post's direct replies, oldest first.
    #[oai(
        path = "/v1/posts/:id/replies",
        method = "get",
        operation_id = "post_replies"
    )]
    async fn replies(
        &self,
        viewer: OptionalBearer,
        id: Path<i64>,
        /// Items per page, 1-100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 128))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<TypedJson<PageView>> {
        let post = PostId(id.0);
        let scope = Scope::Replies(post);
        let after = after(cursor.0.as_deref(), scope).map_err(bad_cursor)?;
        if self.0.post(post, None).await?.is_none() {
            return Err(ApiError::not_found("no such post"));
        }
        let limit = limit.0.unwrap_or(20) as usize;
        Ok(page_view(
            self.0
                .replies_page(post, after, limit, viewer.user())
                .await?,
            scope,
        ))
    }
}
