use std::sync::Arc;

use contracts::consistency::ConsistencyToken;
use contracts::ids::UserId;
use platform::auth::BearerAuth;
use poem_openapi::param::{Header, Path};
use poem_openapi::{ApiResponse, OpenApi};

use super::Tag;
use crate::follows::{self, FollowError};
use crate::idempotency::{self, Request};
use crate::state::AppState;
use platform::error::{ApiError, ApiResult};

pub struct FollowsApi(pub Arc<AppState>);

#[derive(ApiResponse)]
enum FollowResponse {
    /// Done (also when nothing had to change).
    #[oai(status = 204)]
    Done(#[oai(header = "Consistency-Token")] String),
}

pub(crate) fn follow_error(e: FollowError) -> ApiError {
    match e {
        FollowError::SelfFollow => ApiError::invalid_field("id", "cannot follow yourself"),
        FollowError::UnknownUser => ApiError::not_found("no account has this id"),
        FollowError::Db(e) => e.into(),
    }
}

impl FollowsApi {
    async fn change(
        &self,
        auth: BearerAuth,
        id: i64,
        key: Option<&str>,
        follow: bool,
    ) -> ApiResult<FollowResponse> {
        let followee = UserId(id);
        let (method, threshold) = (
            if follow { "PUT" } else { "DELETE" },
            self.0.celebrity_threshold,
        );
        follows::check_target(&self.0.db, auth.0, followee)
            .await
            .map_err(follow_error)?;
        self.0
            .writes
            .follows
            .admit(&self.0.db, &auth.0.to_string())
            .await?;
        let path = format!("/v1/users/{id}/follow");
        let request = Request::new(auth.0, key, method, &path, &());
        // The followee is the key: follows change its fan-out.
        let ((), token) = idempotency::run(&self.0.db, followee, request, async |tx| {
            let event = if follow {
                follows::follow(tx, auth.0, followee, threshold).await
            } else {
                follows::unfollow(tx, auth.0, followee, threshold).await
            }
            .map_err(follow_error)?;
            Ok((
                (),
                event.map_or_else(ConsistencyToken::nothing, ConsistencyToken::of),
            ))
        })
        .await?;
        Ok(FollowResponse::Done(token.encode()))
    }
}

#[OpenApi(tag = "Tag::Follows")]
impl FollowsApi {
    /// Follow an account.
    #[oai(path = "/v1/users/:id/follow", method = "put", operation_id = "follow")]
    async fn follow(
        &self,
        auth: BearerAuth,
        id: Path<i64>,
        #[oai(name = "Idempotency-Key", validator(max_length = 64))] idempotency_key: Header<
            Option<String>,
        >,
    ) -> ApiResult<FollowResponse> {
        self.change(auth, id.0, idempotency_key.as_deref(), true)
            .await
    }

    /// Stop following an account.
    #[oai(
        path = "/v1/users/:id/follow",
        method = "delete",
        operation_id = "unfollow"
    )]
    async fn unfollow(
        &self,
        auth: BearerAuth,
        id: Path<i64>,
        #[oai(name = "Idempotency-Key", validator(max_length = 64))] idempotency_key: Header<
            Option<String>,
        >,
    ) -> ApiResult<FollowResponse> {
        self.change(auth, id.0, idempotency_key.as_deref(), false)
            .await
    }
}
