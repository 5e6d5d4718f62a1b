//! Assembles the read API.

use std::sync::Arc;

use platform::auth::{RevokedSessions, TokenVerifier};
use platform::openapi::{self, Link};
use platform::ops;
use platform::shed::InFlightLimit;
use platform::telemetry::PrometheusHandle;
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;

use crate::consistency::{ConsistencyWait, RecentWritesWait, Waiters};
use crate::feed::FeedService;
use crate::routes;
use crate::sessions::RevokedSessionSet;
use crate::stream::LiveHub;

/// How long and how many reads may wait for a consistency token, and how
/// many requests are worked on at once.
#[derive(Debug, Clone)]
pub struct WaitLimits {
    pub bound: std::time::Duration,
    pub max_waiters: usize,
    pub in_flight: InFlightLimit,
}

/// Where an answer leads: the post, author and timeline behind an item.
pub const LINKS: &[Link] = &[
    Link {
        from: "home_feed",
        status: "200",
        name: "FirstPost",
        to: "post",
        parameters: &[("id", "$response.body#/items/0/post/id")],
    },
    Link {
        from: "home_feed",
        status: "200",
        name: "FirstAuthorTimeline",
        to: "author_timeline",
        parameters: &[("username", "$response.body#/items/0/author/username")],
    },
    Link {
        from: "author_timeline",
        status: "200",
        name: "FirstPost",
        to: "post",
        parameters: &[("id", "$response.body#/items/0/post/id")],
    },
    Link {
        from: "post",
        status: "200",
        name: "Author",
        to: "profile",
        parameters: &[("username", "$response.body#/author/username")],
    },
    Link {
        from: "my_profile",
        status: "200",
        name: "Timeline",
        to: "author_timeline",
        parameters: &[("username", "$response.body#/username")],
    },
];

/// The complete HTTP application. Starts its background tasks (the
/// revoked-session set, the consistency poller), so call it in a runtime.
pub fn build(
    feeds: Arc<FeedService>,
    hub: Arc<LiveHub>,
    verifier: TokenVerifier,
    metrics: PrometheusHandle,
    limits: WaitLimits,
    cors: poem::middleware::Cors,
    server_url: &str,
) -> impl poem::Endpoint + use<> {
    let cache = feeds.cache().clone();
    let verifier = Arc::new(verifier);
    let revoked: Arc<dyn RevokedSessions> = RevokedSessionSet::start(cache.clone());
    let ready = Arc::new(feeds.readiness());
    let api = OpenApiService::new(
        routes::api(feeds.clone()),
        "Microblog read API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "The query side: home feeds, timelines, profiles and posts, from the read cluster.",
    )
    .server(server_url);
    let spec = api.spec();
    let route_templates = platform::routes::RouteTemplates::from_spec(&spec);
    let waiters = Waiters::start(cache.clone(), limits.max_waiters);
    let (mastodon_routes, mastodon_templates) = routes::mastodon::routes(
        feeds.clone(),
        Arc::clone(&hub),
        Arc::new(RecentWritesWait {
            waiters: Arc::clone(&waiters),
            cache,
            bound: limits.bound,
        }),
        limits.in_flight.clone(),
    );
    let mastodon_routes = Arc::new(mastodon_routes);
    let in_flight = limits.in_flight;
    let wait = Arc::new(ConsistencyWait {
        waiters,
        bound: limits.bound,
        routes: route_templates.clone(),
        verifier: Arc::clone(&verifier),
        revoked: Arc::clone(&revoked),
    });
    let spec = openapi::endpoint(openapi::with_links(&spec, LINKS));
    let docs = api.swagger_ui();
    let route = Route::new()
        .at("/v1/stream", poem::get(routes::stream::stream).data(hub))
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest_no_strip("/api", Arc::clone(&mastodon_routes))
        .nest_no_strip("/.well-known", Arc::clone(&mastodon_routes))
        .nest_no_strip("/nodeinfo", Arc::clone(&mastodon_routes))
        .nest_no_strip("/avatars", Arc::clone(&mastodon_routes))
        .nest_no_strip("/headers", mastodon_routes)
        .nest(
            "/",
            // A read waiting for its token takes no place while it waits.
            api.with(in_flight)
                .around(move |ep, req| crate::consistency::wait_for_token(ep, req, wait.clone())),
        );
    let app = ops::attach(route, metrics, ready)
        .data(verifier)
        .data(revoked);
    // Boxed: the middleware stack's type is deeper than the compiler follows.
    // Metrics name the Mastodon routes too; only the native ones wait for
    // consistency tokens (Mastodon's reads wait for recent writes instead).
    let route_templates = route_templates.with_routes(&mastodon_templates);
    ops::with_middleware(app, 16 * 1024, cors, route_templates)
        .map_to_response()
        .boxed()
        .around(mastodon::errors::rewrite_errors)
}
