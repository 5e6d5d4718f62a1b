//! Assembles the read API.

use std::sync::Arc;

use async_trait::async_trait;
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;
use shared::auth::TokenVerifier;
use shared::ops::{self, Readiness};
use shared::telemetry::PrometheusHandle;

use crate::feed::FeedService;
use crate::routes;

struct StoresReady(Arc<FeedService>);

#[async_trait]
impl Readiness for StoresReady {
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// The complete HTTP application.
pub fn build(
    feeds: FeedService,
    verifier: TokenVerifier,
    metrics: PrometheusHandle,
    consistency_bound: std::time::Duration,
    cors: poem::middleware::Cors,
    server_url: &str,
) -> impl poem::Endpoint + use<> {
    let cache = feeds.cache().clone();
    let feeds = Arc::new(feeds);
    let api = OpenApiService::new(
        routes::api(feeds.clone()),
        "Microblog read API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "The query side: home feeds, timelines, profiles and posts, from the read cluster.",
    )
    .server(server_url);
    let route_templates = ops::RouteTemplates::from_spec(&api.spec());
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let route = Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest(
            "/",
            api.around(move |ep, req| {
                crate::consistency::wait_for_token(ep, req, cache.clone(), consistency_bound)
            }),
        );
    let app = ops::attach(route, metrics, Arc::new(StoresReady(feeds))).data(Arc::new(verifier));
    ops::with_middleware(app, 16 * 1024, cors, route_templates)
}
