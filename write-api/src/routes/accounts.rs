use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::Tag;
use crate::idempotency::{self, Request};
use crate::state::AppState;
use crate::{accounts, flows};
use contracts::consistency::ConsistencyToken;
use contracts::views::ProfileView;
use platform::auth::BearerAuth;
use platform::error::{ApiError, ApiResult};
use poem_openapi::param::Header;

pub struct AccountsApi(pub Arc<AppState>);

/// A registration.
#[derive(Object)]
#[oai(example)]
struct CreateAccount {
    /// 3-30 characters of a-z, 0-9 and _, unique regardless of case.
    #[oai(validator(max_length = 64))]
    username: String,
    #[oai(validator(max_length = 320))]
    email: String,
    /// 10-128 characters, not one of the most common passwords.
    #[oai(validator(max_length = 512))]
    password: String,
}

impl poem_openapi::types::Example for CreateAccount {
    fn example() -> Self {
        Self {
            username: "alice".into(),
            email: "alice@example.com".into(),
            password: "correct horse battery staple".into(),
        }
    }
}

/// The new account.
#[derive(Object)]
#[oai(example)]
struct AccountCreated {
    /// Account id (a string: ids exceed JavaScript's safe integers).
    id: String,
    username: String,
}

impl poem_openapi::types::Example for AccountCreated {
    fn example() -> Self {
        Self {
            id: "1".into(),
            username: "alice".into(),
        }
    }
}

#[derive(ApiResponse)]
enum CreateAccountResponse {
    /// The account was created.
    #[oai(status = 201)]
    Created(
        Json<AccountCreated>,
        #[oai(header = "Consistency-Token")] String,
    ),
}

#[derive(ApiResponse)]
enum UpdateProfileResponse {
    /// The profile as changed.
    #[oai(status = 200)]
    Updated(
        Json<ProfileView>,
        #[oai(header = "Consistency-Token")] String,
    ),
}

/// A profile change; absent fields stay as they are.
#[derive(Object, serde::Serialize)]
#[oai(example)]
struct UpdateProfile {
    /// At most 50 characters.
    #[oai(validator(max_length = 1024))]
    display_name: Option<String>,
    /// At most 160 characters; newlines allowed.
    #[oai(validator(max_length = 4096))]
    bio: Option<String>,
}

impl poem_openapi::types::Example for UpdateProfile {
    fn example() -> Self {
        Self {
            display_name: Some("Alice".into()),
            bio: Some("Writes about distributed systems.".into()),
        }
    }
}

#[OpenApi(tag = "Tag::Accounts")]
impl AccountsApi {
    /// Register an account.
    ///
    /// Registrations are limited per client address (429 with `Retry-After`).
    #[oai(
        path = "/v1/accounts",
        method = "post",
        operation_id = "create_account"
    )]
    async fn create(
        &self,
        req: &poem::Request,
        body: Json<CreateAccount>,
    ) -> ApiResult<CreateAccountResponse> {
        let client = self.0.client_key(req);
        let (user, event) = flows::register(
            &self.0,
            &client,
            &body.username,
            &body.email,
            &body.password,
        )
        .await?;
        Ok(CreateAccountResponse::Created(
            Json(AccountCreated {
                id: user.id.to_string(),
                username: user.username,
            }),
            ConsistencyToken::of(event).encode(),
        ))
    }

    /// Change the caller's display name or bio.
    #[oai(
        path = "/v1/accounts/me",
        method = "patch",
        operation_id = "update_profile"
    )]
    async fn update_me(
        &self,
        auth: BearerAuth,
        /// Repeats with the same key within 24 h replay the first response.
        #[oai(name = "Idempotency-Key", validator(max_length = 64))]
        idempotency_key: Header<Option<String>>,
        body: Json<UpdateProfile>,
    ) -> ApiResult<UpdateProfileResponse> {
        let change = accounts::validate_profile(body.display_name.as_deref(), body.bio.as_deref())
            .map_err(ApiError::invalid)?;
        let request = Request::new(
            auth.0,
            idempotency_key.as_deref(),
            "PATCH",
            "/v1/accounts/me",
            &body.0,
        );
        let (profile, token) = idempotency::run(&self.0.db, auth.0, request, async |tx| {
            let (user, event) = accounts::update_profile(tx, auth.0, &change).await?;
            Ok((ProfileView::from(user), ConsistencyToken::of(event)))
        })
        .await?;
        Ok(UpdateProfileResponse::Updated(
            Json(profile),
            token.encode(),
        ))
    }
}
