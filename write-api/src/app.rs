//! Assembles the write API: state, routes, documentation and middleware.

use std::sync::Arc;

use async_trait::async_trait;
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;
use shared::auth::TokenVerifier;
use shared::ops::{self, Readiness};
use shared::telemetry::PrometheusHandle;
use sqlx::PgPool;

use crate::passwords::PasswordHasherPool;
use crate::routes;
use crate::throttle::LoginThrottle;
use crate::tokens::TokenIssuer;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub hasher: PasswordHasherPool,
    pub issuer: TokenIssuer,
    pub refresh_ttl: std::time::Duration,
    pub throttle: LoginThrottle,
    pub trust_forwarded_for: bool,
    pub celebrity_threshold: i64,
}

struct DbReady(PgPool);

#[async_trait]
impl Readiness for DbReady {
    async fn check(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .map(|_| ())
            .map_err(|e| format!("database: {e}"))
    }
}

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
    let api = OpenApiService::new(
        routes::api(Arc::new(state)),
        "Microblog write API",
        env!("CARGO_PKG_VERSION"),
    )
    .description("The command side: accounts, sessions, posts and follows.")
    .server(server_url);
    let route_templates = ops::RouteTemplates::from_spec(&api.spec());
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let route = Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api);
    let app = ops::attach(route, metrics, Arc::new(DbReady(db))).data(Arc::new(verifier));
    ops::with_middleware(app, max_body_bytes, cors, route_templates)
}
