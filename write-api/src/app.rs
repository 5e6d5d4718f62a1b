//! Assembles the write API: state, routes, documentation and middleware.

use std::sync::Arc;

use async_trait::async_trait;
use platform::auth::{RevokedSessions, TokenVerifier};
use platform::openapi::{self, Link};
use platform::ops;
use platform::telemetry::PrometheusHandle;
use poem::http::header;
use poem::middleware::SetHeader;
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;
use sqlx::PgPool;

use crate::routes;
use crate::sessions;
use crate::state::AppState;
use platform::pg::PgReady;

/// The write host asks its own database, where revocations are committed.
struct RevokedInDatabase(PgPool);

#[async_trait]
impl RevokedSessions for RevokedInDatabase {
    async fn is_revoked(&self, session: uuid::Uuid) -> Result<bool, String> {
        sessions::is_revoked(&self.0, session)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Where a created resource leads: what a client, or a stateful contract
/// test, may call next with the ids an answer carries.
pub const LINKS: &[Link] = &[
    Link {
        from: "create_post",
        status: "201",
        name: "EditPost",
        to: "edit_post",
        parameters: &[("id", "$response.body#/id")],
    },
    Link {
        from: "create_post",
        status: "201",
        name: "DeletePost",
        to: "delete_post",
        parameters: &[("id", "$response.body#/id")],
    },
    Link {
        from: "edit_post",
        status: "200",
        name: "DeletePost",
        to: "delete_post",
        parameters: &[("id", "$response.body#/id")],
    },
    Link {
        from: "create_account",
        status: "201",
        name: "Follow",
        to: "follow",
        parameters: &[("id", "$response.body#/id")],
    },
    Link {
        from: "follow",
        status: "204",
        name: "Unfollow",
        to: "unfollow",
        parameters: &[("id", "$request.path.id")],
    },
];

/// The complete HTTP application.
pub fn build(
    state: AppState,
    verifier: TokenVerifier,
    metrics: PrometheusHandle,
    max_body_bytes: usize,
    cors: poem::middleware::Cors,
    server_url: &str,
) -> impl poem::Endpoint + use<> {
    let db = state.db.clone();
    let state = Arc::new(state);
    let (mastodon_routes, mastodon_templates) = routes::mastodon::routes(Arc::clone(&state));
    let mastodon_routes = Arc::new(mastodon_routes);
    let api = OpenApiService::new(
        routes::api(state),
        "Microblog write API",
        env!("CARGO_PKG_VERSION"),
    )
    .description("The command side: accounts, sessions, posts and follows.")
    .server(server_url);
    let spec = api.spec();
    let route_templates =
        platform::routes::RouteTemplates::from_spec(&spec).with_routes(&mastodon_templates);
    let spec = openapi::endpoint(openapi::with_links(&spec, LINKS));
    let docs = api.swagger_ui();
    let route = Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest_no_strip("/api", Arc::clone(&mastodon_routes))
        .nest_no_strip("/oauth", Arc::clone(&mastodon_routes))
        .nest_no_strip("/.well-known", mastodon_routes)
        .nest("/", api);
    let revoked: Arc<dyn RevokedSessions> = Arc::new(RevokedInDatabase(db.clone()));
    let app = ops::attach(route, metrics, Arc::new(PgReady(db)))
        .data(Arc::new(verifier))
        .data(revoked)
        // Commands and token responses are never to be stored by a cache.
        .with(SetHeader::new().overriding(header::CACHE_CONTROL, "no-store"));
    // Boxed: the middleware stack's type is deeper than the compiler follows.
    ops::with_middleware(app, max_body_bytes, cors, route_templates)
        .map_to_response()
        .boxed()
        .around(mastodon::errors::rewrite_errors)
}
