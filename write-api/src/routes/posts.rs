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
use crate::posts::{self, PostError};
use crate::state::AppState;
use platform::error::{ApiError, ApiResult};

pub struct PostsApi(pub Arc<AppState>);

/// A post's text.
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

fn post_error(e: PostError) -> ApiError {
    match e {
        PostError::NotFound => ApiError::not_found("no such post of yours"),
        PostError::Db(e) => e.into(),
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
        body: Json<PostText>,
    ) -> ApiResult<CreatePostResponse> {
        let text =
            posts::validate_text(&body.text).map_err(|m| ApiError::invalid_field("text", m))?;
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
            let (id, created_at, event) = posts::create(tx, auth.0, &text).await?;
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
}
