//! The steps both APIs (native and Mastodon-compatible) take for the same
//! command, so that their rate limits and checks cannot drift apart.

use contracts::events::UserSnapshot;
use contracts::ids::{UserId, normalize_username};
use platform::error::{ApiError, ApiResult};

use crate::accounts::{self, CreateError};
use crate::state::AppState;
use crate::throttle::Verdict;

/// Registers an account: checks, the per-address limit, the password
/// hash, then the account and its event. Returns the account and event.
pub async fn register(
    state: &AppState,
    client: &str,
    username: &str,
    email: &str,
    password: &str,
) -> ApiResult<(UserSnapshot, uuid::Uuid)> {
    let account = accounts::validate(username, email, password).map_err(ApiError::invalid)?;
    state.registrations.admit(&state.db, client).await?;
    let taken = accounts::taken(&state.db, &account).await?;
    if !taken.is_empty() {
        return Err(ApiError::conflict(taken));
    }
    let hash = state.hasher.hash(account.password.clone()).await?;
    accounts::create(&state.db, &account, &hash)
        .await
        .map_err(|e| match e {
            CreateError::Taken(errors) => ApiError::conflict(errors),
            CreateError::Db(e) => e.into(),
        })
}

/// Checks a password login. `login` is a username or, as Mastodon's
/// clients send it, an email address. An unknown account and a wrong
/// password take the same time and give the same 401; failures are
/// throttled per account and client address.
pub async fn check_password(
    state: &AppState,
    client: &str,
    login: &str,
    password: &str,
) -> ApiResult<UserId> {
    let found = if login.contains('@') {
        accounts::credentials_by_email(&state.db, login.trim()).await?
    } else {
        // A name no account can have is looked up (and throttled) as the
        // empty name, which matches nobody: same work, same 401.
        let username = normalize_username(login).unwrap_or_default();
        accounts::credentials(&state.db, &username).await?
    };
    let throttled_as = match &found {
        Some((_, username, _)) => username.clone(),
        None => normalize_username(login).unwrap_or_default(),
    };
    if let Verdict::Limited { retry_after_secs } = state
        .throttle
        .admit(&state.db, &throttled_as, client)
        .await?
    {
        return Err(ApiError::too_many_requests(retry_after_secs));
    }
    let (user, hash) = match found {
        Some((user, _, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = state.hasher.verify(password.to_owned(), hash).await?;
    match user {
        Some(user) if ok => {
            state
                .throttle
                .succeeded(&state.db, &throttled_as, client)
                .await?;
            Ok(user)
        }
        _ => {
            state
                .throttle
                .failed(&state.db, &throttled_as, client)
                .await?;
            Err(ApiError::unauthorized("the username or password is wrong"))
        }
    }
}
