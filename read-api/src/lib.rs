//! The query side of the microblog: feeds served from the read cluster
//! (Redis and the durable feed store) only, never from the write database.
//!
//! It may depend on `contracts`, `platform`, `mastodon` and the reader half of
//! `readmodel` (it is handed an `Arc<dyn FeedReader>`, so a projector write
//! does not compile here); never on the write side or the broker.
//!
//! # Layout
//! - [`app`]: assembly and middleware; [`routes`]: the thin HTTP handlers,
//!   the Mastodon-compatible ones in `routes::mastodon`.
//! - [`feed`]: paging and hydration; [`merge`]: the celebrity merge;
//!   [`facts`]: who wrote each post, remembered so hydration needs one
//!   round trip; [`copies`]: each replica's short-lived copies of the
//!   celebrity timelines that pages merge.
//! - [`thread`]: replies and context; [`people`]: follow lists and search;
//!   [`inbox`]: notifications and their read marker; [`favourites`]: what
//!   a user likes.
//! - [`stream`]: the live stream's hub (WebSocket and SSE connections).
//! - [`consistency`]: holding reads until their own writes are visible.
//! - [`sessions`]: the revoked sessions whose access tokens are refused.
//! - [`config`]: settings from the environment.

pub mod app;
pub mod config;
pub mod consistency;
pub mod copies;
pub mod facts;
pub mod favourites;
pub mod feed;
pub mod inbox;
pub mod merge;
pub mod people;
pub mod routes;
pub mod sessions;
pub mod stream;
pub mod thread;

/// `# HELP` lines for the read API's metrics.
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "read_feed_source_total",
        "Home feeds and author timelines read for pages, by list (home, timeline) and where they came from (cache, cache_then_durable, durable_cold, durable_fallback, replica_copy)."
    );
    describe_counter!(
        "read_cache_errors_total",
        "Redis failures, answered from the durable store instead, by operation."
    );
    describe_counter!(
        "read_hydration_total",
        "Posts and profiles looked up in the object cache, by kind and result."
    );
    describe_counter!(
        "read_notifications_source_total",
        "Notification pages by where they came from (cache, cache_then_durable, durable_cold, durable_fallback)."
    );
    describe_gauge!(
        "read_stream_connections",
        "Live streams (WebSocket and SSE) open on this replica."
    );
    describe_counter!(
        "read_stream_messages_total",
        "Live messages: queued for a connection, delivered to its client, dropped (the client was too slow), lagged (missed by the replica's subscription)."
    );
    describe_counter!(
        "read_stream_disconnects_total",
        "Live streams ended, by reason (client, too_slow, going_away, token_expired)."
    );
    describe_counter!(
        "read_stream_refused_total",
        "Live streams refused, by reason (account_limit, replica_limit, store)."
    );
    describe_histogram!(
        "read_feed_merged_celebrities",
        "Followed celebrities' timelines merged into one feed page."
    );
    describe_histogram!(
        "read_consistency_wait_seconds",
        Unit::Seconds,
        "Time a read waited for its consistency token."
    );
    describe_counter!(
        "read_consistency_timeouts_total",
        "Reads answered before their consistency token was applied."
    );
    describe_counter!(
        "read_consistency_shed_total",
        "Reads not allowed to wait for their consistency token: too many were waiting."
    );
}
