//! The command side of the microblog, over HTTP.
//!
//! Every command validates its input ([`accounts`], [`posts`], [`likes`],
//! [`reposts`], [`follows`], [`markers`], [`inbox`]), then writes its rows and one outbox event ([`outbox`]) in a
//! single PostgreSQL transaction; the relay (`write-api/relay/`, a crate of
//! its own) publishes them. HTTP handlers in [`routes`] stay thin.
//!
//! It may depend on `contracts`, `platform`, `mastodon` (the Mastodon
//! API's wire shapes), PostgreSQL and the crypto crates; never on a
//! broker or the read model. Its one use of a cache is writing
//! read-your-writes hints into the read cluster's Redis ([`recent_writes`]).
//!
//! # Layout
//! - [`app`]: assembly, documentation and middleware; [`state`]: what
//!   every handler needs; [`routes`]: the handlers.
//! - [`accounts`], [`sessions`], [`posts`], [`likes`], [`reposts`],
//!   [`follows`], [`markers`], [`inbox`]: the commands.
//! - [`idempotency`]: a command's transaction, key lock and idempotency key;
//!   [`locks`]: the partition-key lock objects; [`outbox`]: events out.
//! - [`passwords`], [`tokens`]: argon2id hashing, token minting.
//! - [`oauth`]: OAuth applications, codes and tokens for the Mastodon API;
//!   [`mastodon_views`]: its entities read back from this database;
//!   [`flows`]: registration and password checks both APIs share.
//! - [`throttle`]: rate limits; [`client_addr`]: who the client is.
//! - [`rows`]: the write database's rows mapped to event payloads.
//! - [`config`]: settings from the environment.

/// The write database's schema (`schema/write`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../schema/write");

pub mod accounts;
pub mod app;
pub mod client_addr;
pub mod config;
pub mod flows;
pub mod follows;
pub mod idempotency;
pub mod inbox;
pub mod likes;
pub mod locks;
pub mod markers;
pub mod mastodon_views;
pub mod oauth;
pub mod outbox;
pub mod passwords;
pub mod posts;
pub mod recent_writes;
pub mod reposts;
pub mod routes;
pub mod rows;
pub mod sessions;
pub mod state;
pub mod throttle;
pub mod tokens;

/// `# HELP` lines for the write API's own metrics.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "password_hashes_total",
        "argon2id computations, by operation (hash for registrations, verify for logins)."
    );
}
