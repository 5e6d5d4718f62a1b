use std::sync::Arc;

use contracts::views::ProfileView;
use platform::auth::BearerAuth;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;

use super::Tag;
use crate::feed::FeedService;
use platform::error::{ApiError, ApiResult};

pub struct UsersApi(pub Arc<FeedService>);

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// The caller's own profile.
    ///
    /// A 404 right after registering means the profile has not reached the
    /// read side yet; it appears within moments.
    #[oai(path = "/v1/users/me", method = "get", operation_id = "my_profile")]
    async fn me(&self, auth: BearerAuth) -> ApiResult<Json<ProfileView>> {
        let profile = self.0.profile(auth.0).await?;
        profile
            .map(|p| Json(ProfileView::from(p)))
            .ok_or_else(|| ApiError::not_found("the profile is not available yet"))
    }

    /// A public profile by username.
    #[oai(path = "/v1/users/:username", method = "get", operation_id = "profile")]
    async fn by_username(
        &self,
        #[oai(validator(max_length = 64))] username: Path<String>,
    ) -> ApiResult<Json<ProfileView>> {
        let profile = self.0.profile_by_username(&username.0).await?;
        profile
            .map(|p| Json(ProfileView::from(p)))
            .ok_or_else(|| ApiError::not_found("no account has this username"))
    }
}
