//! The query half of the Mastodon-compatible API (see `../shared/API.md`,
//! "Mastodon-compatible client API"): instance and discovery, accounts,
//! statuses, the home timeline, notifications and markers, from the read
//! cluster only. The front door sends Mastodon's reads here and its
//! commands to the write host.
//!
//! Every request of a signed-in caller first waits (bounded) for that
//! caller's own recent Mastodon writes to be applied
//! ([`crate::consistency::wait_for_recent_writes`]), since Mastodon's
//! clients read their writes at once without naming them.

mod accounts;
mod instance;
mod notifications;
pub(crate) mod render;
mod streaming;
mod timelines;

use std::sync::Arc;

use mastodon::errors::MastodonError;
use poem::{EndpointExt, Route, get};
use readmodel::StoreError;

use crate::consistency::RecentWritesWait;
use crate::feed::FeedService;
use crate::stream::LiveHub;

/// Every Mastodon route of the read host.
pub fn routes(
    feeds: Arc<FeedService>,
    hub: Arc<LiveHub>,
    wait: Arc<RecentWritesWait>,
) -> impl poem::Endpoint {
    Route::new()
        .at("/api/v1/streaming/health", get(streaming::health))
        .at("/api/v1/streaming", get(streaming::streaming))
        .at("/api/v1/streaming/*path", get(streaming::named))
        .at("/api/v1/instance", get(instance::instance_v1))
        .at("/api/v2/instance", get(instance::instance_v2))
        .at("/.well-known/nodeinfo", get(instance::nodeinfo_links))
        .at("/nodeinfo/2.0", get(instance::nodeinfo))
        .at("/api/v1/preferences", get(instance::preferences))
        .at("/api/v1/lists", get(instance::empty_list))
        .at("/api/v1/custom_emojis", get(instance::empty_list))
        .at("/api/v1/filters", get(instance::empty_list))
        .at("/api/v2/filters", get(instance::empty_list))
        .at(
            "/avatars/original/missing.png",
            get(instance::missing_picture),
        )
        .at(
            "/headers/original/missing.png",
            get(instance::missing_picture),
        )
        .at(
            "/api/v1/accounts/verify_credentials",
            get(accounts::verify_credentials),
        )
        .at("/api/v1/accounts/lookup", get(accounts::lookup))
        .at(
            "/api/v1/accounts/relationships",
            get(accounts::relationships),
        )
        .at("/api/v1/accounts/:id", get(accounts::show))
        .at(
            "/api/v1/accounts/:id/statuses",
            get(timelines::account_statuses),
        )
        .at("/api/v1/accounts/:id/followers", get(accounts::followers))
        .at("/api/v1/accounts/:id/following", get(accounts::following))
        .at("/api/v2/search", get(accounts::search))
        .at("/api/v1/statuses/:id", get(timelines::status))
        .at("/api/v1/statuses/:id/context", get(timelines::context))
        .at("/api/v1/timelines/home", get(timelines::home))
        .at("/api/v1/notifications", get(notifications::list))
        .at("/api/v1/notifications/:id", get(notifications::show))
        .at("/api/v1/markers", get(notifications::markers))
        .data(feeds)
        .data(hub)
        .around(move |ep, req| crate::consistency::wait_for_recent_writes(ep, req, wait.clone()))
}

/// A read-model failure: 503, retry shortly (never a 500 for a client).
fn store_error(e: StoreError) -> poem::Error {
    tracing::warn!(error = %e, "read model unavailable for a Mastodon request");
    let mut response = poem::error::ResponseError::as_response(&MastodonError::new(
        poem::http::StatusCode::SERVICE_UNAVAILABLE,
        "the service is busy; retry shortly",
    ));
    response
        .headers_mut()
        .insert("Retry-After", poem::http::HeaderValue::from_static("1"));
    poem::Error::from_response(response)
}
