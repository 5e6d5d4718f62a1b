//! The command half of the Mastodon-compatible API (see `../shared/API.md`,
//! "Mastodon-compatible client API"): OAuth, registration, statuses,
//! favourites, reblogs, follows, markers and inbox edits. The front door sends these
//! paths here by method; the read host serves the rest.
//!
//! Handlers are plain poem handlers: Mastodon's clients send the same
//! parameters as a form, JSON or multipart ([`mastodon::params::Params`]),
//! and expect Mastodon's error bodies, which `mastodon::errors` makes of
//! the shared API errors.

mod accounts;
mod notifications;
mod oauth;
mod statuses;

use std::sync::Arc;

use mastodon::routes::Table;
use platform::error::ApiError;
use poem::EndpointExt;
use poem::http::Method;

use crate::state::AppState;

/// Every Mastodon route of the write host, and their templates.
pub fn routes(state: Arc<AppState>) -> (impl poem::Endpoint, Vec<(String, String)>) {
    let (route, templates) = Table::new()
        .at(Method::POST, "/api/v1/apps", oauth::create_app)
        .at(
            Method::GET,
            "/api/v1/apps/verify_credentials",
            oauth::verify_app,
        )
        .at(Method::GET, "/oauth/authorize", oauth::authorize_form)
        .at(Method::POST, "/oauth/authorize", oauth::authorize)
        .at(Method::POST, "/oauth/token", oauth::issue_token)
        .at(Method::POST, "/oauth/revoke", oauth::revoke)
        .at(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            oauth::server_metadata,
        )
        .at(Method::POST, "/api/v1/accounts", accounts::register)
        .at(
            Method::PATCH,
            "/api/v1/accounts/update_credentials",
            accounts::update_credentials,
        )
        .at(
            Method::POST,
            "/api/v1/accounts/:id/follow",
            accounts::follow,
        )
        .at(
            Method::POST,
            "/api/v1/accounts/:id/unfollow",
            accounts::unfollow,
        )
        .at(Method::POST, "/api/v1/statuses", statuses::create)
        .at(Method::PUT, "/api/v1/statuses/:id", statuses::edit)
        .at(Method::DELETE, "/api/v1/statuses/:id", statuses::delete)
        .at(
            Method::POST,
            "/api/v1/statuses/:id/favourite",
            statuses::favourite,
        )
        .at(
            Method::POST,
            "/api/v1/statuses/:id/unfavourite",
            statuses::unfavourite,
        )
        .at(
            Method::POST,
            "/api/v1/statuses/:id/reblog",
            statuses::reblog,
        )
        .at(
            Method::POST,
            "/api/v1/statuses/:id/unreblog",
            statuses::unreblog,
        )
        .at(Method::POST, "/api/v1/markers", notifications::set_markers)
        .at(
            Method::POST,
            "/api/v1/notifications/clear",
            notifications::clear,
        )
        .at(
            Method::POST,
            "/api/v1/notifications/:id/dismiss",
            notifications::dismiss,
        )
        .build();
    (route.data(state), templates)
}

/// The shared API error as a poem error (rendered as Mastodon's error
/// body by `mastodon::errors::rewrite_errors`).
fn api(e: ApiError) -> poem::Error {
    poem::Error::from_response(poem::IntoResponse::into_response(e))
}
