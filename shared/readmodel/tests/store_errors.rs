//! Which failures of the real stores count as transient: the projector
//! retries those for as long as they last and may dead-letter an event
//! only for the others.

use std::time::Duration;

use fred::prelude::*;
use readmodel::StoreError;
use sqlx::Connection;

async fn postgres_error(setup: &str, statement: &str) -> StoreError {
    let url = platform::testing::fresh_database_url().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .expect_err("the statement fails")
        .into()
}

#[tokio::test]
async fn timeouts_and_lost_lock_races_are_transient_and_bad_data_is_not() {
    let cases = [
        ("SET statement_timeout = 10", "SELECT pg_sleep(1)", true),
        (
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)",
            "INSERT INTO t VALUES (1)",
            false,
        ),
        ("SELECT 1", "SELECT 1 / 0", false),
    ];
    for (setup, statement, transient) in cases {
        let error = postgres_error(setup, statement).await;
        assert_eq!(error.is_transient(), transient, "{statement}: {error}");
    }
}

#[tokio::test]
async fn a_lock_wait_that_times_out_is_transient() {
    let url = platform::testing::fresh_database_url().await;
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut waiter = sqlx::PgConnection::connect(&url).await.unwrap();
    for statement in ["CREATE TABLE t (id int)", "BEGIN", "LOCK TABLE t"] {
        sqlx::raw_sql(statement).execute(&mut holder).await.unwrap();
    }
    let error: StoreError = sqlx::raw_sql("SET lock_timeout = 10; SELECT * FROM t")
        .execute(&mut waiter)
        .await
        .expect_err("the lock is held")
        .into();
    assert!(error.is_transient(), "{error}");
}

#[tokio::test]
async fn an_unreachable_redis_is_transient_and_a_wrong_type_is_not() {
    let config = Config::from_url(&platform::testing::redis_url()).unwrap();
    let client = Builder::from_config(config).build().unwrap();
    client.init().await.unwrap();
    let key = platform::testing::unique("errors");
    let _: () = client.set(&key, "text", None, None, false).await.unwrap();
    let error: StoreError = client
        .zadd::<(), _, _>(&key, None, None, false, false, (1.0, "member"))
        .await
        .expect_err("a string is not a sorted set")
        .into();
    assert!(!error.is_transient(), "{error}");
    let _: () = client.del(&key).await.unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = Config::from_url(&format!("redis://127.0.0.1:{port}")).unwrap();
    let unreachable = Builder::from_config(config)
        .with_performance_config(|p| p.default_command_timeout = Duration::from_millis(200))
        .build()
        .unwrap();
    let _connecting = unreachable.init().await;
    let error: StoreError = unreachable
        .get::<Option<String>, _>("anything")
        .await
        .expect_err("nothing listens there")
        .into();
    assert!(error.is_transient(), "{error}");
}
