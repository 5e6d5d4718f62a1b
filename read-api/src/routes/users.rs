use std::sync::Arc;

use contracts::cursor::Scope;
use contracts::views::ProfileView;
use platform::auth::BearerAuth;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use readmodel::social::FollowList;

use super::Tag;
use super::views::{ProfilePageView, ProfilesView, bad_cursor, edge_after, profile_page_view};
use crate::feed::FeedService;
use crate::people::MAX_QUERY_CHARS;
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

    /// The accounts that follow this one, newest follow first (public).
    #[oai(
        path = "/v1/users/:username/followers",
        method = "get",
        operation_id = "followers"
    )]
    async fn followers(
        &self,
        #[oai(validator(max_length = 64))] username: Path<String>,
        /// Items per page, 1-100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 128))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<ProfilePageView>> {
        self.follow_list(&username.0, true, limit.0, cursor.0.as_deref())
            .await
    }

    /// The accounts this one follows, newest follow first (public).
    #[oai(
        path = "/v1/users/:username/following",
        method = "get",
        operation_id = "following"
    )]
    async fn following(
        &self,
        #[oai(validator(max_length = 64))] username: Path<String>,
        /// Items per page, 1-100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 128))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<ProfilePageView>> {
        self.follow_list(&username.0, false, limit.0, cursor.0.as_deref())
            .await
    }

    /// Accounts whose username or display name starts with `q`
    /// (case-insensitive), most followed first (public).
    #[oai(
        path = "/v1/search/users",
        method = "get",
        operation_id = "search_users"
    )]
    async fn search(
        &self,
        /// 1-64 characters, no control characters.
        #[oai(validator(max_length = 64))]
        q: Query<String>,
        /// Results, 1-40 (default 10).
        #[oai(validator(minimum(value = "1"), maximum(value = "40")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ProfilesView>> {
        let query = q.0.trim();
        if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::invalid_field("q", "must be 1-64 characters"));
        }
        if query.chars().any(char::is_control) {
            return Err(ApiError::invalid_field(
                "q",
                "must not contain control characters",
            ));
        }
        let limit = limit.0.unwrap_or(10) as usize;
        let found = self.0.search_profiles(query, limit).await?;
        Ok(Json(ProfilesView {
            items: found.into_iter().map(ProfileView::from).collect(),
        }))
    }
}

impl UsersApi {
    async fn follow_list(
        &self,
        username: &str,
        followers: bool,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> ApiResult<Json<ProfilePageView>> {
        let account = self
            .0
            .profile_by_username(username)
            .await?
            .ok_or_else(|| ApiError::not_found("no account has this username"))?;
        let (scope, list) = if followers {
            (
                Scope::Followers(account.id),
                FollowList::Followers(account.id),
            )
        } else {
            (
                Scope::Following(account.id),
                FollowList::Following(account.id),
            )
        };
        let after = edge_after(cursor, scope).map_err(bad_cursor)?;
        let limit = limit.unwrap_or(20) as usize;
        Ok(profile_page_view(
            self.0.follow_list(list, after, limit).await?,
            scope,
        ))
    }
}
