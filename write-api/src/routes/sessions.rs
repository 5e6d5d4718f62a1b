use std::sync::Arc;

use platform::auth::BearerAuth;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::Tag;
use crate::flows;
use crate::sessions::{self, Issued, RefreshError};
use crate::state::AppState;
use platform::error::{ApiError, ApiResult};

pub struct SessionsApi(pub Arc<AppState>);

/// Credentials.
#[derive(Object)]
#[oai(example)]
struct Login {
    #[oai(validator(max_length = 64))]
    username: String,
    #[oai(validator(max_length = 512))]
    password: String,
}

impl poem_openapi::types::Example for Login {
    fn example() -> Self {
        Self {
            username: "alice".into(),
            password: "correct horse battery staple".into(),
        }
    }
}

/// A refresh token.
#[derive(Object)]
#[oai(example)]
struct RefreshToken {
    #[oai(validator(max_length = 128))]
    refresh_token: String,
}

impl poem_openapi::types::Example for RefreshToken {
    fn example() -> Self {
        Self {
            refresh_token: "3q2-7wEAAAAbm93IGlzIHRoZSB0aW1lIGZvciBhbGwgZ29v".into(),
        }
    }
}

/// Tokens for an authenticated session.
#[derive(Object)]
#[oai(example)]
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

impl poem_openapi::types::Example for TokenPair {
    fn example() -> Self {
        Self {
            access_token: "eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
                .into(),
            refresh_token: "3q2-7wEAAAAbm93IGlzIHRoZSB0aW1lIGZvciBhbGwgZ29v".into(),
            token_type: "Bearer".into(),
            expires_in: 900,
        }
    }
}

#[derive(ApiResponse)]
enum LoggedOut {
    /// The session's refresh tokens are revoked (also when there was nothing to revoke).
    #[oai(status = 204)]
    Done,
}

impl SessionsApi {
    fn pair(&self, issued: Issued) -> Json<TokenPair> {
        Json(TokenPair {
            access_token: self.0.issuer.access_token(issued.user, issued.session),
            refresh_token: issued.refresh_token,
            token_type: "Bearer".into(),
            expires_in: self.0.issuer.ttl().as_secs(),
        })
    }
}

#[OpenApi(tag = "Tag::Sessions")]
impl SessionsApi {
    /// Log in.
    ///
    /// An unknown username and a wrong password take the same time and give
    /// the same 401. Repeated failures are throttled per username and client
    /// address (429 with `Retry-After`), and attempts per client address are
    /// limited per minute.
    #[oai(path = "/v1/sessions", method = "post", operation_id = "login")]
    async fn login(&self, req: &Request, body: Json<Login>) -> ApiResult<Json<TokenPair>> {
        let state = &self.0;
        let client = state.client_key(req);
        let user = flows::check_password(state, &client, &body.username, &body.password).await?;
        let issued = sessions::start(&state.db, user, &state.sessions).await?;
        Ok(self.pair(issued))
    }

    /// Exchange a refresh token for a new pair.
    ///
    /// The presented token is spent. Presenting a spent token again revokes
    /// every token of its session (reuse detection). A session ends at its
    /// absolute lifetime however often it is refreshed.
    #[oai(
        path = "/v1/sessions/refresh",
        method = "post",
        operation_id = "refresh_session"
    )]
    async fn refresh(&self, body: Json<RefreshToken>) -> ApiResult<Json<TokenPair>> {
        let issued = sessions::refresh(&self.0.db, &body.refresh_token, &self.0.sessions)
            .await
            .map_err(|e| match e {
                RefreshError::Db(e) => e.into(),
                other => ApiError::unauthorized(other.to_string()),
            })?;
        Ok(self.pair(issued))
    }

    /// Log out: revoke the session of this refresh token. Its access tokens
    /// stop working on every host (on the read host within about a second).
    #[oai(path = "/v1/sessions", method = "delete", operation_id = "logout")]
    async fn logout(&self, auth: BearerAuth, body: Json<RefreshToken>) -> ApiResult<LoggedOut> {
        sessions::logout(&self.0.db, auth.0, &body.refresh_token, &self.0.sessions).await?;
        Ok(LoggedOut::Done)
    }
}
