//! Sessions: refresh-token families.
//!
//! Login starts a family. Each refresh spends the presented token and
//! issues the next one in the family; presenting a spent token again means
//! it was stolen or replayed, so the whole family is revoked and every
//! holder must log in again. Logout revokes the family.

use std::time::Duration;

use shared::ids::UserId;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::tokens::{new_refresh_token, refresh_token_hash};

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is unknown, expired or revoked")]
    Invalid,
    #[error("the refresh token was already used; its session is revoked")]
    Reused,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

async fn issue(
    conn: &mut PgConnection,
    family: Uuid,
    user: UserId,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    let (token, hash) = new_refresh_token();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(hash)
    .bind(family)
    .bind(user.0)
    .bind(ttl.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(token)
}

/// Stores a new refresh token starting a new family and returns it.
pub async fn start_family(db: &PgPool, user: UserId, ttl: Duration) -> Result<String, sqlx::Error> {
    let mut conn = db.acquire().await?;
    issue(&mut conn, Uuid::new_v4(), user, ttl).await
}

/// Spends `token` and returns its account and the next token of its family.
pub async fn refresh(
    db: &PgPool,
    token: &str,
    ttl: Duration,
) -> Result<(UserId, String), RefreshError> {
    let mut tx = db.begin().await?;
    let row: Option<(Uuid, i64, bool, bool, bool)> = sqlx::query_as(
        "SELECT family_id, user_id, used_at IS NOT NULL, revoked_at IS NOT NULL, expires_at <= now()
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(refresh_token_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((family, user, used, revoked, expired)) = row else {
        return Err(RefreshError::Invalid);
    };
    if revoked || expired {
        return Err(RefreshError::Invalid);
    }
    if used {
        revoke_family(&mut tx, family).await?;
        tx.commit().await?;
        tracing::warn!(%family, user, "refresh token reuse; family revoked");
        return Err(RefreshError::Reused);
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(refresh_token_hash(token))
        .execute(&mut *tx)
        .await?;
    let next = issue(&mut tx, family, UserId(user), ttl).await?;
    tx.commit().await?;
    Ok((UserId(user), next))
}

async fn revoke_family(conn: &mut PgConnection, family: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes the family of `token` if it belongs to `user`; anything else is a no-op.
pub async fn logout(db: &PgPool, user: UserId, token: &str) -> Result<(), sqlx::Error> {
    let mut conn = db.acquire().await?;
    let family: Option<(Uuid,)> = sqlx::query_as(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2",
    )
    .bind(refresh_token_hash(token))
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((family,)) = family {
        revoke_family(&mut conn, family).await?;
    }
    Ok(())
}
