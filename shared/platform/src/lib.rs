//! Service plumbing that every process shares and no wire contract needs.
//!
//! It may depend on `contracts` (ids in token claims), poem, sqlx's
//! PostgreSQL driver (pool settings only), metrics and tracing; never on a
//! broker or a cache, so the write API links neither.
//!
//! # Layout
//! - [`config`]: reading environment variables into typed settings.
//! - [`telemetry`]: JSON logs and the Prometheus recorder.
//! - [`auth`]: access-token claims, verification and the bearer scheme;
//!   [`scopes`]: the OAuth scopes a token may carry.
//! - [`error`]: the one API error type of both hosts.
//! - [`problem`]: problem+json bodies and the fallback for poem's own errors.
//! - [`ops`]: health, readiness, metrics routes and the shared middleware.
//! - [`routes`]: the API's route templates, from its OpenAPI document.
//! - [`openapi`]: the served OpenAPI document, with links between operations.
//! - [`pg`]: PostgreSQL pools with bounded waits, lock classes, readiness.
//! - [`shed`]: a bound on the requests in progress, shedding the rest.
//! - `testing` (feature `testing`): helpers for tests against real services.

pub mod auth;
pub mod config;
pub mod error;
pub mod openapi;
pub mod ops;
pub mod pg;
pub mod problem;
pub mod routes;
pub mod scopes;
pub mod shed;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
