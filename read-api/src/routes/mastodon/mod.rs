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
use mastodon::routes::Table;
use platform::shed::InFlightLimit;
use poem::http::Method;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response};
use readmodel::StoreError;

use crate::consistency::RecentWritesWait;
use crate::feed::FeedService;
use crate::stream::LiveHub;

/// Every Mastodon route of the read host, and their templates.
pub fn routes(
    feeds: Arc<FeedService>,
    hub: Arc<LiveHub>,
    wait: Arc<RecentWritesWait>,
    in_flight: InFlightLimit,
) -> (impl poem::Endpoint, Vec<(String, String)>) {
    let (route, templates) = Table::new()
        .at(Method::GET, "/api/v1/streaming/health", streaming::health)
        .at(Method::GET, "/api/v1/streaming", streaming::streaming)
        .at(Method::GET, "/api/v1/streaming/*path", streaming::named)
        .at(Method::GET, "/api/v1/instance", instance::instance_v1)
        .at(Method::GET, "/api/v2/instance", instance::instance_v2)
        .at(
            Method::GET,
            "/.well-known/nodeinfo",
            instance::nodeinfo_links,
        )
        .at(Method::GET, "/nodeinfo/2.0", instance::nodeinfo)
        .at(Method::GET, "/api/v1/preferences", instance::preferences)
        .at(Method::GET, "/api/v1/lists", instance::empty_list)
        .at(Method::GET, "/api/v1/custom_emojis", instance::empty_list)
        .at(Method::GET, "/api/v1/filters", instance::empty_list)
        .at(Method::GET, "/api/v2/filters", instance::empty_list)
        .at(
            Method::GET,
            "/avatars/original/missing.png",
            instance::missing_picture,
        )
        .at(
            Method::GET,
            "/headers/original/missing.png",
            instance::missing_picture,
        )
        .at(
            Method::GET,
            "/api/v1/accounts/verify_credentials",
            accounts::verify_credentials,
        )
        .at(Method::GET, "/api/v1/accounts/lookup", accounts::lookup)
        .at(
            Method::GET,
            "/api/v1/accounts/relationships",
            accounts::relationships,
        )
        .at(Method::GET, "/api/v1/accounts/:id", accounts::show)
        .at(
            Method::GET,
            "/api/v1/accounts/:id/statuses",
            timelines::account_statuses,
        )
        .at(
            Method::GET,
            "/api/v1/accounts/:id/followers",
            accounts::followers,
        )
        .at(
            Method::GET,
            "/api/v1/accounts/:id/following",
            accounts::following,
        )
        .at(Method::GET, "/api/v2/search", accounts::search)
        .at(Method::GET, "/api/v1/statuses/:id", timelines::status)
        .at(
            Method::GET,
            "/api/v1/statuses/:id/context",
            timelines::context,
        )
        .at(
            Method::GET,
            "/api/v1/statuses/:id/favourited_by",
            accounts::favourited_by,
        )
        .at(
            Method::GET,
            "/api/v1/statuses/:id/reblogged_by",
            accounts::reblogged_by,
        )
        .at(Method::GET, "/api/v1/timelines/home", timelines::home)
        .at(Method::GET, "/api/v1/favourites", timelines::favourites)
        .at(Method::GET, "/api/v1/notifications", notifications::list)
        .at(
            Method::GET,
            "/api/v1/notifications/:id",
            notifications::show,
        )
        .at(Method::GET, "/api/v1/markers", notifications::markers)
        .build();
    let endpoint = route
        .data(feeds)
        .data(hub)
        // A read waiting for its caller's writes takes no place while it waits.
        .around(move |ep, req| admit(ep, req, in_flight.clone()))
        .around(move |ep, req| crate::consistency::wait_for_recent_writes(ep, req, wait.clone()));
    (endpoint, templates)
}

/// Takes a place among the requests in progress, except for a stream: it
/// holds its request for hours, and streams have limits of their own.
async fn admit<E: Endpoint>(
    ep: E,
    req: Request,
    in_flight: InFlightLimit,
) -> poem::Result<Response> {
    if req.uri().path().starts_with("/api/v1/streaming") {
        return ep.call(req).await.map(IntoResponse::into_response);
    }
    in_flight.admit(&ep, req).await
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
