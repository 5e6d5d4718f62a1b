//! The projector: consumes events from Kafka and builds the read model.
//!
//! [`effects`] says what each event does to the read model (pure store
//! calls, all idempotent); [`consumer`] runs the Kafka loop around it:
//! at-least-once delivery, offsets stored only after an event's effects are
//! written, bounded retries, and a dead-letter topic for poison events.
//! [`rebuild`] rebuilds the read model from PostgreSQL, the source of
//! truth, while the system serves.
//!
//! It may depend on `contracts`, `platform`, `broker` and the writer half
//! of `readmodel`; the write database only through [`rebuild::source`].
//!
//! # Layout
//! - [`consumer`]: the Kafka loop, retries, dead letters, offsets.
//! - [`effects`]: each event's effect on both tiers of the read model
//!   (notifications in `effects/notifications.rs`).
//! - [`lag`]: consumer lag from librdkafka's statistics.
//! - [`rebuild`]: the repair from the source of truth (`source`, `progress`).
//! - [`config`]: settings from the environment.

pub mod config;
pub mod consumer;
pub mod effects;
pub mod lag;
pub mod rebuild;

/// `# HELP` lines for the projector's and the rebuild's metrics.
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "projector_events_total",
        "Events consumed, by type and outcome (applied, skipped, dead_lettered)."
    );
    describe_gauge!(
        "projector_consumer_lag_events",
        "Events in a partition not yet consumed, by topic and partition."
    );
    describe_gauge!(
        "projector_assigned_partitions",
        "Partitions this projector holds (0 until it joins its group)."
    );
    describe_histogram!(
        "projector_write_to_read_seconds",
        Unit::Seconds,
        "From a command's commit to its effect in the read model, by event type."
    );
    describe_histogram!(
        "projector_event_processing_seconds",
        Unit::Seconds,
        "Time to apply one event."
    );
    describe_histogram!(
        "projector_batch_size",
        "Records taken from the broker at once (PROJECTOR_BATCH_MAX bounds it)."
    );
    describe_counter!(
        "projector_posts_total",
        "Posts projected, by delivery (on_write: fanned out; on_read: a celebrity's)."
    );
    describe_counter!(
        "projector_reposts_total",
        "Reposts projected, by delivery (on_write: fanned out; on_read: a celebrity's)."
    );
    describe_counter!(
        "projector_notifications_total",
        "Notifications stored (change=added, by kind) and withdrawn (change=withdrawn)."
    );
    describe_counter!(
        "projector_live_messages_total",
        "Live stream messages published to connected users."
    );
    describe_counter!(
        "projector_live_failures_total",
        "Live stream messages that could not be published (best effort; not retried)."
    );
    describe_histogram!("projector_fanout_size", "Feeds one post was written to.");
    describe_histogram!(
        "projector_fanout_duration_seconds",
        Unit::Seconds,
        "Time to fan one post out."
    );
    describe_counter!(
        "projector_dead_lettered_total",
        "Events sent to the dead-letter topic."
    );
    describe_gauge!(
        "projector_rebuild_users_planned",
        "Users the running rebuild covers."
    );
    describe_gauge!(
        "projector_rebuild_users_done",
        "Users the running rebuild has finished."
    );
    describe_counter!("projector_rebuild_users_total", "Users rebuilt.");
    describe_histogram!(
        "projector_rebuild_user_seconds",
        Unit::Seconds,
        "Time to rebuild one user."
    );
}
