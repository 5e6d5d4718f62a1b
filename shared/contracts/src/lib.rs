//! The wire contracts: what crosses a process boundary, so the write side,
//! the projector and the read side agree on it by construction.
//!
//! It depends on serialisation crates and poem-openapi (for the response
//! bodies) only: no database, broker or cache. Event payloads carry no
//! database derives; each side maps its own rows to and from them.
//!
//! # Layout
//! - [`ids`]: user and post ids, strings on the wire.
//! - [`events`]: the versioned Kafka events and their envelope.
//! - [`cursor`]: opaque feed cursors and feed positions.
//! - [`mentions`]: which `@username`s a post's text names.
//! - [`consistency`]: read-your-writes tokens.
//! - [`views`]: response bodies both hosts return.

pub mod consistency;
pub mod cursor;
pub mod events;
pub mod ids;
pub mod mentions;
pub mod views;
