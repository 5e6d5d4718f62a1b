//! Sessions: login issues an access token and a refresh token.

use std::time::Duration;

use shared::ids::UserId;
use sqlx::PgPool;
use uuid::Uuid;

use crate::tokens::new_refresh_token;

/// Stores a new refresh token starting a new family and returns it.
pub async fn start_family(db: &PgPool, user: UserId, ttl: Duration) -> Result<String, sqlx::Error> {
    let (token, hash) = new_refresh_token();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(hash)
    .bind(Uuid::new_v4())
    .bind(user.0)
    .bind(ttl.as_secs_f64())
    .execute(db)
    .await?;
    Ok(token)
}
