//! The query side of the microblog: feeds served from the read cluster
//! (Redis and the durable feed store) only, never from the write database.
//!
//! [`feed`] pages and hydrates feeds, [`merge`] merges the precomputed
//! feed with followed celebrities' timelines; [`routes`] are the thin HTTP layer.

pub mod app;
pub mod config;
pub mod consistency;
pub mod error;
pub mod feed;
pub mod merge;
pub mod routes;
