//! Where the benchmarks find the stores, as command-line arguments shared
//! by every scenario that reaches them directly (raw floors, bulk loads,
//! scratch databases). Defaults are the local stack's.

/// A Redis server.
#[derive(clap::Args, Clone)]
pub struct RedisServer {
    #[arg(
        long,
        env = "BENCH_REDIS_URL",
        default_value = "redis://127.0.0.1:63790"
    )]
    pub redis_url: String,
}

/// The stack's Redis and its key prefix.
#[derive(clap::Args, Clone)]
pub struct StackRedis {
    #[command(flatten)]
    pub server: RedisServer,
    /// The stack's `REDIS_KEY_PREFIX`.
    #[arg(long, env = "BENCH_REDIS_PREFIX", default_value = "mb:")]
    pub redis_prefix: String,
}

/// Every store of the stack.
#[derive(clap::Args, Clone)]
pub struct StackStores {
    /// The stack's write database.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:54320/microblog_write"
    )]
    pub database_url: String,
    /// The stack's read database (the durable feed store).
    #[arg(
        long,
        env = "BENCH_READ_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:54320/microblog_read"
    )]
    pub read_database_url: String,
    #[command(flatten)]
    pub redis: StackRedis,
}

/// A PostgreSQL server to create scratch databases on.
#[derive(clap::Args, Clone)]
pub struct ScratchServer {
    /// Admin DSN of the server.
    #[arg(
        long,
        env = "BENCH_PG_ADMIN_URL",
        default_value = "postgres://postgres@127.0.0.1:54320/postgres"
    )]
    pub pg_admin_url: String,
}
