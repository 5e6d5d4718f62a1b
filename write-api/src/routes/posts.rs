use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use shared::auth::BearerAuth;

use super::Tag;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::posts;

pub struct PostsApi(pub Arc<AppState>);

/// A new post.
#[derive(Object)]
struct CreatePost {
    /// 1-280 characters after trimming; no control characters but newline.
    #[oai(validator(max_length = 4096))]
    text: String,
}

/// The created post.
#[derive(Object)]
struct PostCreated {
    id: String,
    created_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
enum CreatePostResponse {
    /// The post was created.
    #[oai(status = 201)]
    Created(Json<PostCreated>),
}

#[OpenApi(tag = "Tag::Posts")]
impl PostsApi {
    /// Publish a post.
    #[oai(path = "/v1/posts", method = "post", operation_id = "create_post")]
    async fn create(
        &self,
        auth: BearerAuth,
        body: Json<CreatePost>,
    ) -> ApiResult<CreatePostResponse> {
        let text =
            posts::validate_text(&body.text).map_err(|m| ApiError::invalid_field("text", m))?;
        let (id, created_at) = posts::create(&self.0.db, auth.0, &text).await?;
        Ok(CreatePostResponse::Created(Json(PostCreated {
            id: id.to_string(),
            created_at,
        })))
    }
}
