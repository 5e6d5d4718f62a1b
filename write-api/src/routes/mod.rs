//! HTTP handlers of the write API: parse, call the domain, shape the reply.

mod accounts;
pub(crate) mod follows;
pub mod mastodon;
mod notifications;
pub(crate) mod posts;
mod sessions;

use std::sync::Arc;

use crate::state::AppState;

/// The OpenAPI tags grouping the routes in the documentation.
#[derive(poem_openapi::Tags)]
enum Tag {
    /// Registering accounts.
    Accounts,
    /// Logging in and out.
    Sessions,
    /// Writing posts.
    Posts,
    /// Following accounts.
    Follows,
    /// The notifications read marker.
    Notifications,
}

pub fn api(
    state: Arc<AppState>,
) -> (
    accounts::AccountsApi,
    sessions::SessionsApi,
    posts::PostsApi,
    follows::FollowsApi,
    notifications::NotificationsApi,
) {
    (
        accounts::AccountsApi(state.clone()),
        sessions::SessionsApi(state.clone()),
        posts::PostsApi(state.clone()),
        follows::FollowsApi(state.clone()),
        notifications::NotificationsApi(state),
    )
}
