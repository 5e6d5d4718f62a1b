use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::Tag;
use crate::accounts;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::sessions;

pub struct SessionsApi(pub Arc<AppState>);

/// Credentials.
#[derive(Object)]
struct Login {
    #[oai(validator(max_length = 64))]
    username: String,
    #[oai(validator(max_length = 512))]
    password: String,
}

/// Tokens for an authenticated session.
#[derive(Object)]
struct TokenPair {
    /// Send as `Authorization: Bearer <access_token>`.
    access_token: String,
    /// Exchange for a new pair at `POST /v1/sessions/refresh`; single use.
    refresh_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: u64,
}

#[OpenApi(tag = "Tag::Sessions")]
impl SessionsApi {
    /// Log in.
    ///
    /// An unknown username and a wrong password take the same time and give
    /// the same 401.
    #[oai(path = "/v1/sessions", method = "post", operation_id = "login")]
    async fn login(&self, body: Json<Login>) -> ApiResult<Json<TokenPair>> {
        let state = &self.0;
        let found = accounts::credentials(&state.db, body.username.trim()).await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let ok = state.hasher.verify(body.password.clone(), hash).await?;
        let user = match user {
            Some(user) if ok => user,
            _ => return Err(ApiError::unauthorized("the username or password is wrong")),
        };
        let refresh_token = sessions::start_family(&state.db, user, state.refresh_ttl).await?;
        Ok(Json(TokenPair {
            access_token: state.issuer.access_token(user),
            refresh_token,
            token_type: "Bearer".into(),
            expires_in: state.issuer.ttl().as_secs(),
        }))
    }
}
