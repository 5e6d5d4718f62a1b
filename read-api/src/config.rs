//! Configuration of the read API, from the environment.

use platform::config::{self, ConfigError};
use readmodel::connect::ReadModelConfig;

#[derive(Debug, Clone)]
pub struct Config {
    /// `READ_API_ADDR`, default `127.0.0.1:8081`.
    pub listen_addr: String,
    pub read_model: ReadModelConfig,
    /// `JWT_PUBLIC_KEY` (PEM) or `JWT_PUBLIC_KEY_FILE`: verifies access
    /// tokens. The read host never holds the private key.
    pub public_key_pem: Vec<u8>,
    /// `JWT_ISSUER`, default `microblog`.
    pub issuer: String,
    /// `JWT_AUDIENCE`, default `microblog-api`.
    pub audience: String,
    /// `READ_YOUR_WRITES_TIMEOUT_MS`, default 2000: the longest a read
    /// carrying a `Consistency-Token` waits for the projector.
    pub consistency_bound: std::time::Duration,
    /// `READ_YOUR_WRITES_MAX_WAITERS`, default 1000: requests that may wait
    /// for a consistency token at once on one replica; more are answered
    /// at once, marked `Consistency-Token-Timeout: true`.
    pub max_waiters: usize,
    /// `CELEBRITY_TIMELINE_COPY_MS`, default 500: how long a replica merges
    /// a followed celebrity's timeline from its own copy before reading
    /// Redis again (how much later followers may see a celebrity's post);
    /// 0 reads Redis for every page.
    pub celebrity_timeline_copy: std::time::Duration,
    pub stream: StreamLimits,
    /// `READ_API_MAX_IN_FLIGHT`, default 256: requests one replica works on
    /// at once (live streams and operational routes aside).
    pub max_in_flight: usize,
    /// `READ_API_QUEUE_MS`, default 100: how long a request past that bound
    /// waits for a place before it is answered 503 with `Retry-After`.
    pub queue: std::time::Duration,
}

/// Limits of the live stream on one replica.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// `STREAM_MAX_CONNECTIONS`, default 20000: open streams on this
    /// replica; more are refused with 503.
    pub per_replica: usize,
    /// `STREAM_MAX_PER_ACCOUNT`, default 8: open streams of one account on
    /// this replica; more are refused with 429.
    pub per_account: usize,
    /// `STREAM_QUEUE`, default 256: messages waiting for one client; a
    /// client that lets more pile up is disconnected as too slow.
    pub queue: usize,
    /// `STREAM_HEARTBEAT_SECS`, default 30: a ping (WebSocket) or comment
    /// (SSE) this often.
    pub heartbeat: std::time::Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: config::or("READ_API_ADDR", "127.0.0.1:8081".to_owned())?,
            read_model: ReadModelConfig::from_env()?,
            public_key_pem: config::pem("JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY_FILE")?,
            issuer: config::or("JWT_ISSUER", "microblog".to_owned())?,
            audience: config::or("JWT_AUDIENCE", "microblog-api".to_owned())?,
            consistency_bound: config::millis_in_range(
                "READ_YOUR_WRITES_TIMEOUT_MS",
                2_000,
                0..=30_000,
            )?,
            max_waiters: config::in_range("READ_YOUR_WRITES_MAX_WAITERS", 1_000, 0..=1_000_000)?,
            celebrity_timeline_copy: config::millis_in_range(
                "CELEBRITY_TIMELINE_COPY_MS",
                500,
                0..=60_000,
            )?,
            max_in_flight: config::in_range("READ_API_MAX_IN_FLIGHT", 256, 1..=100_000)?,
            queue: config::millis_in_range("READ_API_QUEUE_MS", 100, 0..=10_000)?,
            stream: StreamLimits {
                per_replica: config::in_range("STREAM_MAX_CONNECTIONS", 20_000, 0..=1_000_000)?,
                per_account: config::in_range("STREAM_MAX_PER_ACCOUNT", 8, 1..=1_000)?,
                queue: config::in_range("STREAM_QUEUE", 256, 1..=100_000)?,
                heartbeat: std::time::Duration::from_secs(config::in_range(
                    "STREAM_HEARTBEAT_SECS",
                    30,
                    1..=3_600,
                )?),
            },
        })
    }
}
