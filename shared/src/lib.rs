//! Types and plumbing shared by the microblog services.
//!
//! Everything that crosses a process boundary lives here so that the write
//! side, the projector and the read side agree on it by construction:
//! ids ([`ids`]), Kafka events ([`events`]), access-token claims ([`auth`]),
//! read-your-writes tokens ([`consistency`]),
//! feed cursors ([`cursor`]), error bodies ([`problem`]), configuration
//! parsing ([`config`]), telemetry and operational routes ([`telemetry`],
//! [`ops`]), broker settings ([`kafka`]) and the read model that the
//! projector writes and the read API serves ([`readmodel`]), and the
//! response bodies both hosts return ([`views`]).

pub mod auth;
pub mod config;
pub mod consistency;
pub mod cursor;
pub mod events;
pub mod ids;
pub mod kafka;
pub mod ops;
pub mod problem;
pub mod readmodel;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod views;
