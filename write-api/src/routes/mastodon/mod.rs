//! The command half of the Mastodon-compatible API (see `../shared/API.md`,
//! "Mastodon-compatible client API"): OAuth, registration, statuses,
//! favourites, reblogs, follows and markers. The front door sends these
//! paths here by method; the read host serves the rest.
//!
//! Handlers are plain poem handlers: Mastodon's clients send the same
//! parameters as a form, JSON or multipart ([`mastodon::params::Params`]),
//! and expect Mastodon's error bodies, which `mastodon::errors` makes of
//! the shared API errors.

mod accounts;
mod oauth;
mod statuses;

use std::sync::Arc;

use platform::error::ApiError;
use poem::{EndpointExt, Route, get, patch, post};

use crate::state::AppState;

/// Every Mastodon route of the write host.
pub fn routes(state: Arc<AppState>) -> impl poem::Endpoint {
    Route::new()
        .at("/api/v1/apps", post(oauth::create_app))
        .at("/api/v1/apps/verify_credentials", get(oauth::verify_app))
        .at(
            "/oauth/authorize",
            get(oauth::authorize_form).post(oauth::authorize),
        )
        .at("/oauth/token", post(oauth::issue_token))
        .at("/oauth/revoke", post(oauth::revoke))
        .at(
            "/.well-known/oauth-authorization-server",
            get(oauth::server_metadata),
        )
        .at("/api/v1/accounts", post(accounts::register))
        .at(
            "/api/v1/accounts/update_credentials",
            patch(accounts::update_credentials),
        )
        .at("/api/v1/accounts/:id/follow", post(accounts::follow))
        .at("/api/v1/accounts/:id/unfollow", post(accounts::unfollow))
        .at("/api/v1/statuses", post(statuses::create))
        .at(
            "/api/v1/statuses/:id",
            poem::put(statuses::edit).delete(statuses::delete),
        )
        .at("/api/v1/statuses/:id/favourite", post(statuses::favourite))
        .at(
            "/api/v1/statuses/:id/unfavourite",
            post(statuses::unfavourite),
        )
        .at("/api/v1/statuses/:id/reblog", post(statuses::reblog))
        .at("/api/v1/statuses/:id/unreblog", post(statuses::unreblog))
        .at("/api/v1/markers", post(statuses::set_markers))
        .data(state)
}

/// The shared API error as a poem error (rendered as Mastodon's error
/// body by `mastodon::errors::rewrite_errors`).
fn api(e: ApiError) -> poem::Error {
    poem::Error::from_response(poem::IntoResponse::into_response(e))
}
