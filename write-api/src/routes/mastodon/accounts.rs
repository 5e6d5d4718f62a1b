//! Registration, profile changes and follows.

use std::sync::Arc;

use contracts::consistency::ConsistencyToken;
use contracts::ids::UserId;
use mastodon::auth::Caller;
use mastodon::entities::{Account, Relationship, Token};
use mastodon::errors::MastodonError;
use mastodon::paging::origin;
use mastodon::params::Params;
use poem::web::{Data, Json, Path};
use poem::{Request, handler};
use serde_json::json;

use super::api;
use crate::accounts;
use crate::follows;
use crate::idempotency::{self, Request as Command};
use crate::mastodon_views::{self, account_parts};
use crate::oauth;
use crate::routes::follows::follow_error;
use crate::state::AppState;
use mastodon::params::path_id;
use platform::error::ApiError;

/// `POST /api/v1/accounts`: registers an account with an application's
/// token (client credentials) and answers with the new user's token.
#[handler]
pub async fn register(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    params: Params,
) -> poem::Result<Json<Token>> {
    let token = mastodon::auth::bearer_token(req)
        .ok_or_else(|| MastodonError::unauthorized("The access token is invalid"))?;
    let owner = oauth::token_owner(&state.db, &token)
        .await
        .map_err(|e| api(e.into()))?;
    let app = match owner {
        Some((app, None)) => app,
        Some((_, Some(_))) => {
            return Err(
                MastodonError::forbidden("This method requires an application token").into(),
            );
        }
        None => return Err(MastodonError::unauthorized("The access token is invalid").into()),
    };
    if params.flag("agreement")? != Some(true) {
        return Err(
            MastodonError::unprocessable("Validation failed: Agreement must be accepted").into(),
        );
    }
    let client = state.client_key(req);
    let (user, event) = crate::flows::register(
        state,
        &client,
        params.get("username").unwrap_or_default(),
        params.get("email").unwrap_or_default(),
        params.get("password").unwrap_or_default(),
    )
    .await
    .map_err(api)?;
    let mut conn = state.db.acquire().await.map_err(|e| api(e.into()))?;
    let issued = oauth::issue_user_token(&mut conn, &state.issuer, &app, user.id, &app.scopes)
        .await
        .map_err(|e| api(e.into()))?;
    state.recent_writes.record(user.id, Some(event)).await;
    Ok(Json(Token {
        access_token: issued.access_token,
        token_type: "Bearer".into(),
        scope: issued.scopes,
        created_at: issued.created_at.timestamp(),
    }))
}

/// `PATCH /api/v1/accounts/update_credentials`: display name and note.
#[handler]
pub async fn update_credentials(
    Data(state): Data<&Arc<AppState>>,
    req: &Request,
    caller: Caller,
    params: Params,
) -> poem::Result<Json<Account>> {
    let user = caller.require("write:accounts")?;
    let change = accounts::validate_profile(params.get("display_name"), params.get("note"))
        .map_err(|errors| api(ApiError::invalid(errors)))?;
    let origin = origin(req);
    let fingerprint = json!({"display_name": change.display_name, "note": change.bio});
    let command = Command::new(
        user,
        None,
        "PATCH",
        "/api/v1/accounts/update_credentials",
        &fingerprint,
    );
    let (account, token) = idempotency::run(&state.db, user, command, async |tx| {
        let (_, event) = accounts::update_profile(tx, user, &change).await?;
        let row = mastodon_views::user(tx, user)
            .await?
            .ok_or_else(|| ApiError::not_found("Record not found"))?;
        let account = Account::credential(account_parts(&row), &origin);
        Ok((account, ConsistencyToken::of(event)))
    })
    .await
    .map_err(api)?;
    state.recent_writes.record(user, token.event()).await;
    Ok(Json(account))
}

async fn change_follow(
    state: &AppState,
    user: UserId,
    id: &str,
    following: bool,
) -> poem::Result<Json<Relationship>> {
    let followee = UserId(path_id(id)?);
    follows::check_target(&state.db, user, followee)
        .await
        .map_err(|e| api(follow_error(e)))?;
    state
        .writes
        .follows
        .admit(&state.db, &user.to_string())
        .await
        .map_err(api)?;
    let threshold = state.celebrity_threshold;
    let verb = if following { "follow" } else { "unfollow" };
    let path = format!("/api/v1/accounts/{}/{verb}", followee.0);
    let command = Command::new(user, None, "POST", &path, &());
    // The followee is the key, as on the native route.
    let (relationship, token) = idempotency::run(&state.db, followee, command, async |tx| {
        let event = if following {
            follows::follow(tx, user, followee, threshold).await
        } else {
            follows::unfollow(tx, user, followee, threshold).await
        }
        .map_err(follow_error)?;
        let relationship = mastodon_views::relationship(tx, user, followee).await?;
        Ok((
            relationship,
            event.map_or_else(ConsistencyToken::nothing, ConsistencyToken::of),
        ))
    })
    .await
    .map_err(api)?;
    state.recent_writes.record(user, token.event()).await;
    Ok(Json(relationship))
}

/// `POST /api/v1/accounts/:id/follow`.
#[handler]
pub async fn follow(
    Data(state): Data<&Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> poem::Result<Json<Relationship>> {
    let user = caller.require("write:follows")?;
    change_follow(state, user, &id, true).await
}

/// `POST /api/v1/accounts/:id/unfollow`.
#[handler]
pub async fn unfollow(
    Data(state): Data<&Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> poem::Result<Json<Relationship>> {
    let user = caller.require("write:follows")?;
    change_follow(state, user, &id, false).await
}
