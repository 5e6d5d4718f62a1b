use std::sync::Arc;

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use shared::auth::BearerAuth;
use shared::ids::{UserId, normalize_username};

use super::Tag;
use crate::accounts;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::sessions::{self, RefreshError};
use crate::throttle::Verdict;

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
    fn pair(&self, user: UserId, refresh_token: String) -> Json<TokenPair> {
        Json(TokenPair {
            access_token: self.0.issuer.access_token(user),
            refresh_token,
            token_type: "Bearer".into(),
            expires_in: self.0.issuer.ttl().as_secs(),
        })
    }

    /// The client's address: the socket peer, or the last `X-Forwarded-For`
    /// hop when a trusted proxy sits in front.
    fn client(&self, req: &Request) -> String {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| self.0.trust_forwarded_for && !v.is_empty());
        forwarded.unwrap_or_else(|| {
            req.remote_addr()
                .as_socket_addr()
                .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
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
        // A name no account can have is looked up (and throttled) as the
        // empty name, which matches nobody: same work, same 401.
        let username = normalize_username(&body.username).unwrap_or_default();
        let client = self.client(req);
        if let Verdict::Limited { retry_after_secs } =
            state.throttle.admit(&state.db, &username, &client).await?
        {
            return Err(ApiError::too_many_requests(retry_after_secs));
        }
        let found = accounts::credentials(&state.db, &username).await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let ok = state.hasher.verify(body.password.clone(), hash).await?;
        let user = match user {
            Some(user) if ok => user,
            _ => {
                state.throttle.failed(&state.db, &username, &client).await?;
                return Err(ApiError::unauthorized("the username or password is wrong"));
            }
        };
        state
            .throttle
            .succeeded(&state.db, &username, &client)
            .await?;
        let refresh_token = sessions::start_family(&state.db, user, state.refresh_ttl).await?;
        Ok(self.pair(user, refresh_token))
    }

    /// Exchange a refresh token for a new pair.
    ///
    /// The presented token is spent. Presenting a spent token again revokes
    /// every token of its session (reuse detection).
    #[oai(
        path = "/v1/sessions/refresh",
        method = "post",
        operation_id = "refresh_session"
    )]
    async fn refresh(&self, body: Json<RefreshToken>) -> ApiResult<Json<TokenPair>> {
        let (user, next) = sessions::refresh(&self.0.db, &body.refresh_token, self.0.refresh_ttl)
            .await
            .map_err(|e| match e {
                RefreshError::Db(e) => e.into(),
                other => ApiError::unauthorized(other.to_string()),
            })?;
        Ok(self.pair(user, next))
    }

    /// Log out: revoke the session of this refresh token.
    #[oai(path = "/v1/sessions", method = "delete", operation_id = "logout")]
    async fn logout(&self, auth: BearerAuth, body: Json<RefreshToken>) -> ApiResult<LoggedOut> {
        sessions::logout(&self.0.db, auth.0, &body.refresh_token).await?;
        Ok(LoggedOut::Done)
    }
}
