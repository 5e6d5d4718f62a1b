//! The Mastodon client API's wire shapes, shared by both hosts so that a
//! status written on one and read on the other look the same.
//!
//! It may depend on `contracts` (ids, cursor positions), `platform` (token
//! checks) and poem (request extraction, error responses); never on a
//! store, so each host renders entities from its own data.
//!
//! # Layout
//! - [`auth`]: the caller, from a bearer token or `access_token`.
//! - [`entities`]: `Account`, `Status`, `Notification`, `Relationship`,
//!   `Context`, `Application`, `Token`, `Marker`.
//! - [`ids`]: status ids and the time-carrying bounds of `Link` headers.
//! - [`html`]: post text as HTML `content`.
//! - [`params`]: parameters from the query, JSON, form or multipart body.
//! - [`paging`]: `max_id`/`since_id`/`min_id` and `Link` headers.
//! - [`errors`]: `{"error": …}` bodies and the middleware that makes them.
//! - [`routes`]: a host's routes and their templates from one table.

pub mod auth;
pub mod entities;
pub mod errors;
pub mod html;
pub mod ids;
pub mod paging;
pub mod params;
pub mod routes;

/// The Mastodon version this API claims: the shape it follows. Clients
/// parse it as semver to choose features.
pub const VERSION: &str = "4.3.0";
