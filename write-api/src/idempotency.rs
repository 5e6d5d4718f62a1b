//! Running a command: its transaction, its key lock, and `Idempotency-Key`.
//!
//! Every command that emits events runs through [`run`], which
//! 1. locks the command's partition key (the author whose fan-out the
//!    events change) before anything else writes, and only then assigns the
//!    transaction id. Two commands on one key therefore get transaction ids
//!    in the order they commit, which is the order the relay publishes in;
//! 2. with an `Idempotency-Key`, claims `(account, key)` in the same
//!    transaction. A concurrent duplicate blocks on the claim until the
//!    first commits, then replays its response; a repeat within 24 h
//!    replays it too and writes nothing. The same key with a different
//!    request is a 422;
//! 3. stores the response with the claim and commits everything at once.

use contracts::consistency::ConsistencyToken;
use contracts::ids::UserId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::locks::partition_lock_object;
use platform::error::{ApiError, ApiResult};
use platform::pg::LockClass;

/// What the caller sent that identifies a request.
pub struct Request<'a> {
    pub account: UserId,
    pub key: Option<&'a str>,
    /// Method, path and body: a repeat must match the first request exactly.
    pub fingerprint: Vec<u8>,
}

impl<'a> Request<'a> {
    pub fn new(
        account: UserId,
        key: Option<&'a str>,
        method: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Self {
        let body = serde_json::to_vec(body).expect("request bodies serialise");
        let fingerprint = Sha256::new()
            .chain_update(method)
            .chain_update(b" ")
            .chain_update(path)
            .chain_update(b"\n")
            .chain_update(&body)
            .finalize()
            .to_vec();
        Self {
            account,
            key,
            fingerprint,
        }
    }
}

/// Holds the transaction-scoped lock of `key` and then assigns the
/// transaction id, so transaction ids per key follow lock order. The wait
/// is bounded by the session's `lock_timeout`.
///
/// One round trip: the id is read from the materialized lock's row, so it
/// is assigned only once the lock is held.
pub async fn lock_key(conn: &mut PgConnection, key: UserId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock($1, $2))
         SELECT pg_current_xact_id() FROM locked",
    )
    .bind(LockClass::PartitionKey as i32)
    .bind(partition_lock_object(key))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Runs `command` in one transaction under the lock of `key` (see the module docs).
pub async fn run<T, F>(
    db: &PgPool,
    key: UserId,
    request: Request<'_>,
    command: F,
) -> ApiResult<(T, ConsistencyToken)>
where
    T: Serialize + DeserializeOwned,
    F: AsyncFnOnce(&mut PgConnection) -> ApiResult<(T, ConsistencyToken)>,
{
    let mut tx = db.begin().await?;
    lock_key(&mut tx, key).await?;
    if let Some(idempotency_key) = request.key
        && let Some(replay) = claim(&mut tx, &request, idempotency_key).await?
    {
        return Ok(replay);
    }
    let (value, token) = command(&mut tx).await?;
    if let Some(idempotency_key) = request.key {
        sqlx::query(
            "UPDATE idempotency_keys SET body = $3, consistency = $4 WHERE user_id = $1 AND key = $2",
        )
        .bind(request.account.0)
        .bind(idempotency_key)
        .bind(serde_json::to_value(&value).expect("responses serialise"))
        .bind(token.encode())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok((value, token))
}

/// Claims the key, or returns the stored response of its first use.
async fn claim<T: DeserializeOwned>(
    conn: &mut PgConnection,
    request: &Request<'_>,
    key: &str,
) -> ApiResult<Option<(T, ConsistencyToken)>> {
    // A key's first response is kept for 24 hours.
    sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE user_id = $1 AND key = $2 AND created_at < now() - interval '24 hours'",
    )
    .bind(request.account.0)
    .bind(key)
    .execute(&mut *conn)
    .await?;
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(request.account.0)
    .bind(key)
    .bind(&request.fingerprint)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(None);
    }
    let (hash, body, consistency): (Vec<u8>, Option<serde_json::Value>, Option<String>) = sqlx::query_as(
        "SELECT request_hash, body, consistency FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(request.account.0)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    if hash != request.fingerprint {
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            "was already used with a different request",
        ));
    }
    let (Some(body), Some(consistency)) = (body, consistency) else {
        // Claimed rows get their response in the claiming transaction, so a
        // committed claim always has one.
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            "is in use by another request",
        ));
    };
    let value = serde_json::from_value(body).map_err(|e| {
        tracing::error!(error = %e, "stored idempotent response no longer decodes");
        ApiError::invalid_field("Idempotency-Key", "cannot be replayed; use a new key")
    })?;
    let token =
        ConsistencyToken::decode(&consistency).unwrap_or_else(|_| ConsistencyToken::nothing());
    Ok(Some((value, token)))
}

/// Deletes idempotency keys past retention; run periodically.
pub async fn delete_expired(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'")
            .execute(db)
            .await?
            .rows_affected(),
    )
}
