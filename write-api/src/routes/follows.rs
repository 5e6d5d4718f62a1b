use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::{ApiResponse, OpenApi};
use shared::auth::BearerAuth;
use shared::ids::UserId;

use super::Tag;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::follows::{self, FollowError};

pub struct FollowsApi(pub Arc<AppState>);

#[derive(ApiResponse)]
enum FollowResponse {
    /// The caller follows the account (also when it already did).
    #[oai(status = 204)]
    Following,
}

#[OpenApi(tag = "Tag::Follows")]
impl FollowsApi {
    /// Follow an account.
    #[oai(path = "/v1/users/:id/follow", method = "put", operation_id = "follow")]
    async fn follow(&self, auth: BearerAuth, id: Path<i64>) -> ApiResult<FollowResponse> {
        follows::follow(&self.0.db, auth.0, UserId(id.0))
            .await
            .map_err(|e| match e {
                FollowError::SelfFollow => ApiError::invalid_field("id", "cannot follow yourself"),
                FollowError::UnknownUser => ApiError::not_found("no account has this id"),
                FollowError::Db(e) => e.into(),
            })?;
        Ok(FollowResponse::Following)
    }
}
