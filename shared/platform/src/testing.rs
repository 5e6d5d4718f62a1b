//! Helpers for tests against the real services that `deploy/stack test`
//! starts. Each test gets its own database, key prefix or topic, so tests
//! run in parallel without seeing each other.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// Admin DSN of the test PostgreSQL server (`TEST_DATABASE_URL`).
pub fn pg_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:54320/postgres".to_owned())
}

/// URL of the test Redis server (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:63790".to_owned())
}

/// URL of the test Redis Cluster (`TEST_REDIS_CLUSTER_URL`), if one runs.
pub fn redis_cluster_url() -> Option<String> {
    std::env::var("TEST_REDIS_CLUSTER_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Bootstrap servers of the test broker (`TEST_KAFKA_BROKERS`).
pub fn kafka_brokers() -> String {
    std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19093".to_owned())
}

/// A name no other test uses: `{prefix}_{random}`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Creates an empty database named `t_{random}` and returns its DSN.
/// `deploy/stack test` drops leftovers of earlier runs.
pub async fn fresh_database_url() -> String {
    fresh_database_url_on(&pg_admin_url()).await
}

/// Like [`fresh_database_url`], on the server with admin DSN `admin_url`.
pub async fn fresh_database_url_on(admin_url: &str) -> String {
    let admin: PgConnectOptions = admin_url.parse().expect("an admin DSN");
    let name = unique("t");
    let mut conn = admin
        .connect()
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("a test database can be created");
    conn.close().await.ok();
    admin.database(&name).to_url_lossy().to_string()
}

/// A fresh database with `migrator` applied.
pub async fn fresh_database(migrator: &sqlx::migrate::Migrator) -> (PgPool, String) {
    let url = fresh_database_url().await;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect(&url)
        .await
        .expect("the fresh database accepts connections");
    migrator.run(&pool).await.expect("migrations apply");
    (pool, url)
}
