use std::sync::Arc;

use chrono::{DateTime, Utc};
use contracts::consistency::ConsistencyToken;
use contracts::ids::PostId;
use platform::auth::BearerAuth;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};

use super::Tag;
use crate::idempotency::{self, Request};
use crate::likes;
use crate::posts::{self, PostError};
use crate::reposts::{self, RepostError};
use crate::state::AppState;
use platform::error::{ApiError, ApiResult};

pub struct PostsApi(pub Arc<AppState>);

/// A new post.
#[derive(Object, Serialize)]
#[oai(example)]
struct NewPost {
    /// 1-280 characters after trimming; no control characters but newline.
    #[oai(validator(max_length = 4096))]
    text: String,
    /// The post this one answers (a string id); 404 if it is missing or deleted.
    #[oai(validator(max_length = 20))]
    #[serde(skip_serializing_if = "Option::is_none")]
    in_reply_to_id: Option<String>,
}

impl poem_openapi::types::Example for NewPost {
    fn example() -> Self {
        Self {
            text: "Hello, followers!".into(),
            in_reply_to_id: None,
        }
    }
}

/// A post's new text.
#[derive(Object, Serialize)]
#[oai(example)]
struct PostText {
    /// 1-280 characters after trimming; no control characters but newline.
    #[oai(validator(max_length = 4096))]
    text: String,
}

impl poem_openapi::types::Example for PostText {
    fn example() -> Self {
        Self {
            text: "Hello, followers!".into(),
        }
    }
}

/// The created post.
#[derive(Object, Serialize, Deserialize)]
#[oai(example)]
struct PostCreated {
    id: String,
    created_at: DateTime<Utc>,
}

/// The edited post.
#[derive(Object, Serialize, Deserialize)]
#[oai(example)]
struct PostEdited {
    id: String,
    edited_at: DateTime<Utc>,
}

fn example_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_763_800_000, 0).unwrap_or_default()
}

impl poem_openapi::types::Example for PostCreated {
    fn example() -> Self {
        Self {
            id: "42".into(),
            created_at: example_time(),
        }
    }
}

impl poem_openapi::types::Example for PostEdited {
    fn example() -> Self {
        Self {
            id: "42".into(),
            edited_at: example_time(),
        }
    }
}

#[derive(ApiResponse)]
enum CreatePostResponse {
    /// The post was created.
    #[oai(status = 201)]
    Created(
        Json<PostCreated>,
        #[oai(header = "Consistency-Token")] String,
    ),
}

#[derive(ApiResponse)]
enum EditPostResponse {
    /// The post was edited.
    #[oai(status = 200)]
    Edited(
        Json<PostEdited>,
        #[oai(header = "Consistency-Token")] String,
    ),
}

#[derive(ApiResponse)]
enum DeletePostResponse {
    /// The post is deleted (also when it already was).
    #[oai(status = 204)]
    Deleted(#[oai(header = "Consistency-Token")] String),
}

#[derive(ApiResponse)]
enum EngagementResponse {
    /// Done (also when nothing had to change).
    #[oai(status = 204)]
    Done(#[oai(header = "Consistency-Token")] String),
}

pub(crate) fn post_error(e: PostError) -> ApiError {
    match e {
        PostError::NotFound => ApiError::not_found("no such post of yours"),
        PostError::ReplyTargetNotFound => {
            ApiError::not_found("in_reply_to_id: no such post to reply to")
        }
        PostError::Db(e) => e.into(),
    }
}

pub(crate) fn like_error(e: PostError) -> ApiError {
    match e {
        PostError::NotFound | PostError::ReplyTargetNotFound => ApiError::not_found("no such post"),
        PostError::Db(e) => e.into(),
    }
}

pub(crate) fn repost_error(e: RepostError) -> ApiError {
    match e {
        RepostError::NotFound => ApiError::not_found("no such post"),
        RepostError::OwnPost => ApiError::invalid_field("id", "you cannot repost your own post"),
        RepostError::Db(e) => e.into(),
    }
}

/// A post id sent in a body: a positive integer, as a string.
fn parse_post_id(raw: &str) -> Option<PostId> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).map(PostId)
}

impl PostsApi {
    async fn set_like(
        &self,
        auth: BearerAuth,
        id: i64,
        key: Option<&str>,
        liked: bool,
    ) -> ApiResult<EngagementResponse> {
        let post = PostId(id);
        let author = likes::post_author(&self.0.db, post)
            .await
            .map_err(like_error)?;
        self.0
            .writes
            .likes
            .admit(&self.0.db, &auth.0.to_string())
            .await?;
        let method = if liked { "PUT" } else { "DELETE" };
        let path = format!("/v1/posts/{id}/like");
        let request = Request::new(auth.0, key, method, &path, &());
        // The post's author is the key: the like changes that author's post.
        let ((), token) = idempotency::run(&self.0.db, author, request, async |tx| {
            let event = likes::set(tx, auth.0, post, liked)
                .await
                .map_err(like_error)?;
            Ok((
                (),
                event.map_or_else(ConsistencyToken::nothing, ConsistencyToken::of),
            ))
        })
        .await?;
        Ok(EngagementResponse::Done(token.encode()))
    }

    async fn set_repost(
        &self,
        auth: BearerAuth,
        id: i64,
        key: Option<&str>,
        reposted: bool,
    ) -> ApiResult<EngagementResponse> {
        self.0
            .writes
            .reposts
            .admit(&self.0.db, &auth.0.to_string())
            .await?;
        let method = if reposted { "PUT" } else { "DELETE" };
        let path = format!("/v1/posts/{id}/repost");
        let request = Request::new(auth.0, key, method, &path, &());
        // The reposter is the key: the repost changes the reposter's fan-out.
        let ((), token) = idempotency::run(&self.0.db, auth.0, request, async |tx| {
            let event = reposts::set(tx, auth.0, PostId(id), reposted)
                .await
                .map_err(repost_error)?;
            Ok((
                (),
                event.map_or_else(ConsistencyToken::nothing, ConsistencyToken::of),
            ))
        })
        .await?;
        Ok(EngagementResponse::Done(token.encode()))
    }
}

#[OpenApi(tag = "Tag::Posts")]
impl PostsApi {
    /// Publish a post.
    #[oai(path = "/v1/posts", method = "post", operation_id = "create_post")]
    async fn create(
        &self,
        auth: BearerAuth,
        /// Repeats with the same key within 24 h replay the first response.
        #[oai(name = "Idempotency-Key", validator(max_length = 64))]
        idempotency_key: Header<Option<String>>,
        body: Json<NewPost>,
    ) -> ApiResult<CreatePostResponse> {
        let text =
            posts::validate_text(&body.text).map_err(|m| ApiError::invalid_field("text", m))?;
        let in_reply_to = match body.in_reply_to_id.as_deref() {
            Some(raw) => Some(parse_post_id(raw).ok_or_else(|| {
                ApiError::invalid_field("in_reply_to_id", "must be a post id (a positive integer)")
            })?),
            None => None,
        };
        self.0
            .writes
            .posts
            .admit(&self.0.db, &auth.0.to_string())
            .await?;
        let request = Request::new(
            auth.0,
            idempotency_key.as_deref(),
            "POST",
            "/v1/posts",
            &body.0,
        );
        let (created, token) = idempotency::run(&self.0.db, auth.0, request, async |tx| {
            let (id, created_at, event) = posts::create(tx, auth.0, &text, in_reply_to)
                .await
                .map_err(post_error)?;
            let created = PostCreated {
                id: id.to_string(),
                created_at,
            };
            Ok((created, ConsistencyToken::of(event)))
        })
        .await?;
        Ok(CreatePostResponse::Created(Json(created), token.encode()))
    }

    /// Edit one of your posts.
    #[oai(path = "/v1/posts/:id", method = "patch", operation_id = "edit_post")]
    async fn edit(
        &self,
        auth: BearerAuth,
        id: Path<i64>,
        #[oai(name = "Idempotency-Key", validator(max_length = 64))] idempotency_key: Header<
            Option<String>,
        >,
        body: Json<PostText>,
    ) -> ApiResult<EditPostResponse> {
        let text =
            posts::validate_text(&body.text).map_err(|m| ApiError::invalid_field("text", m))?;
        let path = format!("/v1/posts/{}", id.0);
        let request = Request::new(auth.0, idempotency_key.as_deref(), "PATCH", &path, &body.0);
        let (edited, token) = idempotency::run(&self.0.db, auth.0, request, async |tx| {
            let (edited_at, event) = posts::edit(tx, auth.0, PostId(id.0), &text)
                .await
                .map_err(post_error)?;
            let edited = PostEdited {
                id: id.0.to_string(),
                edited_at,
            };
            Ok((edited, ConsistencyToken::of(event)))
        })
        .await?;
        Ok(EditPostResponse::Edited(Json(edited), token.encode()))
    }

    /// Delete one of your posts.
    #[oai(
        path = "/v1/posts/:id",
        method = "delete",
        operation_id = "delete_post"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        id: Path<i64>,
        #[oai(name = "Idempotency-Key", validator(max_length = 64))] idempotency_key: Header<
            Option<String>,
        >,
    ) -> ApiResult<DeletePostResponse> {
        let path = format!("/v1/posts/{}", id.0);
        let request = Request::new(auth.0, idempotency_key.as_deref(), "DELETE", &path, &());
        let ((), token) = idempotency::run(&self.0.db, auth.0, request, async |tx| {
            let event = posts::delete(tx, auth.0, PostId(id.0))
                .await
                .map_err(post_error)?;
            Ok((
                (),
                event.map_or_else(ConsistencyToken::nothing, ConsistencyToken::of),
            ))
        })
        .await?;
        Ok(DeletePostResponse::Deleted(token.encode()))
    }

    /// Like a post (204 also when already liked).
    #[oai(path = "/v1/posts/:id/like", method = "put", operation_id = "like")]
    async fn like(
        &self,
        auth: BearerAuth,
        id: Path<i64>,
        #[oai(name = "Idempotency-Key", validator(max_length = 64))] idempotency_key: Header<
            Option<String>,
        >,
    ) -> ApiResult<EngagementResponse> {
        self.set_like(auth, id.0, idempotency_key.as_deref(), true)
            .await
    }

    /// Stop liking a post (204 also when not liked).
    #[oai(
        path = "/v1/posts/:id/like",
        method = "delete",
        operation_id = "unlike"
    )]
    async fn unlike(
        &self,
        auth: BearerAuth,
        id: Path<i64>,
        #[oai(name = "Idempotency-Key", validator(max_length = 64))] idempotency_key: Header<
            Option<String>,
        >,
    ) -> ApiResult<EngagementResponse> {
        self.set_like(auth, id.0, idempotency_key.as_deref(), false)
            .await
    }

    /// Repost someone else's post to your followers (204 also when already
    /// reposted; 422 for your own post).
    #[oai(path = "/v1/posts/:id/repost", method = "put", operation_id = "repost")]
    async fn repost(
        &self,
        auth: BearerAuth,
        id: Path<i64>,
        #[oai(name = "Idempotency-Key", validator(max_length = 64))] idempotency_key: Header<
            Option<String>,
        >,
    ) -> ApiResult<EngagementResponse> {
        self.set_repost(auth, id.0, idempotency_key.as_deref(), true)
            .await
    }

    /// Undo a repost (204 also when not reposted, or when the post is gone).
    #[oai(
        path = "/v1/posts/:id/repost",
        method = "delete",
        operation_id = "unrepost"
    )]
    async fn unrepost(
        &self,
        auth: BearerAuth,
        id: Path<i64>,
        #[oai(name = "Idempotency-Key", validator(max_length = 64))] idempotency_key: Header<
            Option<String>,
        >,
    ) -> ApiResult<EngagementResponse> {
        self.set_repost(auth, id.0, idempotency_key.as_deref(), false)
            .await
    }
}
