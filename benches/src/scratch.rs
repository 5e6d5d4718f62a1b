//! Scratch databases: created for one benchmark run, dropped after it.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub struct ScratchDatabase {
    pub name: String,
    pub pool: PgPool,
    admin: PgConnectOptions,
}

impl ScratchDatabase {
    /// Creates an empty database `bench_<random>` on the server of `admin_url`.
    pub async fn create(admin_url: &str, connections: usize) -> anyhow::Result<Self> {
        let admin: PgConnectOptions = admin_url.parse()?;
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin.connect().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(connections as u32)
            .connect_with(admin.clone().database(&name))
            .await?;
        Ok(Self { name, pool, admin })
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        self.pool.close().await;
        let mut conn = self.admin.connect().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}
