//! The command side of the microblog.
//!
//! Every command validates its input ([`accounts`], [`posts`],
//! [`follows`]), then writes its rows and one outbox event ([`outbox`]) in a
//! single PostgreSQL transaction. The [`relay`] publishes outbox rows to
//! Kafka. HTTP handlers in [`routes`] stay thin.

/// The write database's schema (`schema/write`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../schema/write");

pub mod accounts;
pub mod app;
pub mod client_addr;
pub mod config;
pub mod db;
pub mod error;
pub mod follows;
pub mod idempotency;
pub mod outbox;
pub mod passwords;
pub mod posts;
pub mod relay;
pub mod routes;
pub mod sessions;
pub mod throttle;
pub mod tokens;

/// `# HELP` lines for the write API's own metrics.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "password_hashes_total",
        "argon2id computations, by operation (hash for registrations, verify for logins)."
    );
}
