//! Configuration of the write API, from the environment.

use std::time::Duration;

use platform::config::{self, ConfigError};

use crate::client_addr::TrustedProxies;
use crate::throttle::{LoginThrottle, RateLimit, WriteLimits};
use platform::pg::PoolConfig;

/// Settings of the write API.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WRITE_API_ADDR`, default `127.0.0.1:8080`.
    pub listen_addr: String,
    /// `DATABASE_URL` (required), `DATABASE_MAX_CONNECTIONS` (default 16),
    /// `DATABASE_LOCK_TIMEOUT_MS` (default 2000) and
    /// `DATABASE_STATEMENT_TIMEOUT_MS` (default 10000).
    pub database: PoolConfig,
    /// `RUN_MIGRATIONS`, default true: apply `schema/write` at start-up.
    pub run_migrations: bool,
    /// `JWT_PRIVATE_KEY` (PEM) or `JWT_PRIVATE_KEY_FILE` (path): Ed25519 signing key.
    pub private_key_pem: Vec<u8>,
    /// `JWT_PUBLIC_KEY` or `JWT_PUBLIC_KEY_FILE`: the matching public key.
    pub public_key_pem: Vec<u8>,
    /// `JWT_ISSUER`, default `microblog`.
    pub issuer: String,
    /// `JWT_AUDIENCE`, default `microblog-api`.
    pub audience: String,
    /// `ACCESS_TOKEN_TTL_SECS`, default 900 (at most 900).
    pub access_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`, default 30 days.
    pub refresh_ttl: Duration,
    /// `SESSION_MAX_LIFETIME_SECS`, default 90 days: refreshing never
    /// extends a session past this age; then the user logs in again.
    pub session_lifetime: Duration,
    /// `PASSWORD_HASH_CONCURRENCY`, default: the number of CPUs.
    pub hash_concurrency: usize,
    /// `MAX_BODY_BYTES`, default 16384.
    pub max_body_bytes: usize,
    /// `LOGIN_FAILURE_THRESHOLD` (default 5), `LOGIN_MAX_LOCK_SECS` (default
    /// 900), `LOGIN_ATTEMPTS_PER_MINUTE` (per client address, default 30),
    /// `LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR` (from all addresses, default 100).
    pub throttle: LoginThrottle,
    /// `REGISTRATIONS_PER_HOUR`, default 20: accounts one client address may
    /// register per hour.
    pub registrations: RateLimit,
    /// `APPS_PER_HOUR`, default 20: OAuth applications (`POST
    /// /api/v1/apps`) one client address may register per hour.
    pub apps: RateLimit,
    /// `POSTS_PER_MINUTE` (default 20), `FOLLOWS_PER_MINUTE` (default 20,
    /// follows and unfollows together), `LIKES_PER_MINUTE` (default 60,
    /// likes and unlikes together), `REPOSTS_PER_MINUTE` (default 30,
    /// reposts and undos together) and `MARKERS_PER_MINUTE` (default 60,
    /// marker moves, dismissals and clears): writes one account may make.
    pub writes: WriteLimits,
    /// `CELEBRITY_FOLLOWER_THRESHOLD`, default 10000: followers at which an
    /// author's posts switch to fan-out on read (off again below 90%).
    pub celebrity_threshold: i64,
    /// `TRUSTED_PROXIES`, default none: comma-separated addresses or CIDR
    /// ranges of the proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// `RECENT_WRITES_REDIS_URL`, default none: the read cluster's Redis
    /// (`redis://…` or `redis-cluster://a,b,…`), where Mastodon commands
    /// leave their events so the same client's next reads wait for them;
    /// keys under `REDIS_KEY_PREFIX` (default `mb:`), as the read side's.
    /// Unset, Mastodon clients may read their own writes late.
    pub recent_writes_redis_url: Option<String>,
    pub redis_key_prefix: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            listen_addr: config::or("WRITE_API_ADDR", "127.0.0.1:8080".to_owned())?,
            database: PoolConfig::from_env(config::in_range(
                "DATABASE_MAX_CONNECTIONS",
                16,
                1..=1000,
            )?)?,
            run_migrations: config::or("RUN_MIGRATIONS", true)?,
            private_key_pem: config::pem("JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE")?,
            public_key_pem: config::pem("JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY_FILE")?,
            issuer: config::or("JWT_ISSUER", "microblog".to_owned())?,
            audience: config::or("JWT_AUDIENCE", "microblog-api".to_owned())?,
            access_ttl: Duration::from_secs(config::in_range(
                "ACCESS_TOKEN_TTL_SECS",
                900,
                30..=900,
            )?),
            refresh_ttl: Duration::from_secs(config::in_range(
                "REFRESH_TOKEN_TTL_SECS",
                30 * 24 * 3600,
                60..=365 * 24 * 3600,
            )?),
            session_lifetime: Duration::from_secs(config::in_range(
                "SESSION_MAX_LIFETIME_SECS",
                90 * 24 * 3600,
                1..=10 * 365 * 24 * 3600,
            )?),
            hash_concurrency: config::in_range("PASSWORD_HASH_CONCURRENCY", cpus, 1..=256)?,
            max_body_bytes: config::in_range("MAX_BODY_BYTES", 16 * 1024, 1024..=1024 * 1024)?,
            throttle: LoginThrottle {
                threshold: config::in_range("LOGIN_FAILURE_THRESHOLD", 5, 1..=100)?,
                max_lock: Duration::from_secs(config::in_range(
                    "LOGIN_MAX_LOCK_SECS",
                    900,
                    1..=86_400,
                )?),
                per_address: rate_limit("login", "LOGIN_ATTEMPTS_PER_MINUTE", 30, MINUTE)?,
                per_account: rate_limit(
                    "login_failures",
                    "LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR",
                    100,
                    HOUR,
                )?,
            },
            registrations: rate_limit("register", "REGISTRATIONS_PER_HOUR", 20, HOUR)?,
            apps: rate_limit("create_app", "APPS_PER_HOUR", 20, HOUR)?,
            writes: WriteLimits {
                posts: rate_limit("post", "POSTS_PER_MINUTE", 20, MINUTE)?,
                follows: rate_limit("follow", "FOLLOWS_PER_MINUTE", 20, MINUTE)?,
                likes: rate_limit("like", "LIKES_PER_MINUTE", 60, MINUTE)?,
                reposts: rate_limit("repost", "REPOSTS_PER_MINUTE", 30, MINUTE)?,
                markers: rate_limit("marker", "MARKERS_PER_MINUTE", 60, MINUTE)?,
            },
            celebrity_threshold: config::in_range(
                "CELEBRITY_FOLLOWER_THRESHOLD",
                10_000,
                1..=i64::MAX / 10,
            )?,
            trusted_proxies: trusted_proxies()?,
            recent_writes_redis_url: config::optional("RECENT_WRITES_REDIS_URL")?,
            redis_key_prefix: config::or("REDIS_KEY_PREFIX", "mb:".to_owned())?,
        })
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// At most `var` (default `default`) attempts of `action` per `window`.
fn rate_limit(
    action: &'static str,
    var: &'static str,
    default: i32,
    window: Duration,
) -> Result<RateLimit, ConfigError> {
    Ok(RateLimit {
        action,
        limit: config::in_range(var, default, 1..=1_000_000)?,
        window,
    })
}

/// `TRUSTED_PROXIES`; the variable it replaced stops start-up rather than
/// being silently ignored.
fn trusted_proxies() -> Result<TrustedProxies, ConfigError> {
    if let Ok(value) = std::env::var("TRUST_X_FORWARDED_FOR") {
        return Err(ConfigError::Invalid {
            name: "TRUST_X_FORWARDED_FOR",
            value,
            reason: "is no longer read: set TRUSTED_PROXIES to the front door's addresses".into(),
        });
    }
    config::or("TRUSTED_PROXIES", TrustedProxies::default())
}
