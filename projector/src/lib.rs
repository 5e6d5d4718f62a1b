//! The projector: consumes events from Kafka and builds the read model.
//!
//! [`effects`] says what each event does to the read model (pure store
//! calls, all idempotent); [`consumer`] runs the Kafka loop around it:
//! at-least-once delivery, offsets stored only after an event's effects are
//! written, bounded retries, and a dead-letter topic for poison events.
//! [`rebuild`] rebuilds the read model from PostgreSQL, the source of
//! truth, while the system serves.

pub mod config;
pub mod consumer;
pub mod effects;
pub mod lag;
pub mod rebuild;
