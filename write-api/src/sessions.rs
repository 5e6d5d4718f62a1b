//! Sessions: refresh-token families.
//!
//! Login starts a family; its id is the session id that every access token
//! of the session carries (`sid`). Each refresh spends the presented token
//! and issues the next one in the family, never past the session's absolute
//! lifetime; presenting a spent token again means it was stolen or
//! replayed, so the whole family is revoked and every holder must log in
//! again. Logout revokes the family.
//!
//! A revocation is recorded in `revoked_sessions`, which the write host
//! checks on every authenticated request, and leaves as a
//! `session.revoked` event, from which the read side learns it. Its order
//! relative to the account's other events does not matter, so it takes no
//! key lock.

use std::time::Duration;

use chrono::Utc;
use contracts::events::{Event, SessionRevoked};
use contracts::ids::UserId;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::outbox;
use crate::tokens::{new_refresh_token, refresh_token_hash};

/// How long the parts of a session live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Each refresh token.
    pub refresh_ttl: Duration,
    /// The session, however often it is refreshed.
    pub lifetime: Duration,
    /// Each access token (bounds how long a revocation must be remembered).
    pub access_ttl: Duration,
}

/// A session's id and the refresh token just issued in it.
pub struct Issued {
    pub session: Uuid,
    pub user: UserId,
    pub refresh_token: String,
}

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
    session_expires_at: chrono::DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let (token, hash) = new_refresh_token();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, session_expires_at)
         VALUES ($1, $2, $3, least(now() + make_interval(secs => $4), $5), $5)",
    )
    .bind(hash)
    .bind(family)
    .bind(user.0)
    .bind(ttl.as_secs_f64())
    .bind(session_expires_at)
    .execute(conn)
    .await?;
    Ok(token)
}

/// Starts a new session for `user`: its first refresh token.
pub async fn start(
    db: &PgPool,
    user: UserId,
    policy: &SessionPolicy,
) -> Result<Issued, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let session = Uuid::new_v4();
    let ends = Utc::now() + policy.lifetime;
    let refresh_token = issue(&mut conn, session, user, policy.refresh_ttl, ends).await?;
    Ok(Issued {
        session,
        user,
        refresh_token,
    })
}

/// Spends `token` and returns the next token of its session.
pub async fn refresh(
    db: &PgPool,
    token: &str,
    policy: &SessionPolicy,
) -> Result<Issued, RefreshError> {
    let mut tx = db.begin().await?;
    type Row = (Uuid, i64, bool, bool, bool, chrono::DateTime<Utc>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT family_id, user_id, used_at IS NOT NULL, revoked_at IS NOT NULL,
                expires_at <= now(), session_expires_at
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(refresh_token_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((family, user, used, revoked, expired, session_ends)) = row else {
        return Err(RefreshError::Invalid);
    };
    let user = UserId(user);
    if revoked || expired {
        return Err(RefreshError::Invalid);
    }
    if used {
        revoke_family(&mut tx, family, user, policy).await?;
        tx.commit().await?;
        tracing::warn!(%family, user = user.0, "refresh token reuse; family revoked");
        return Err(RefreshError::Reused);
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(refresh_token_hash(token))
        .execute(&mut *tx)
        .await?;
    let refresh_token = issue(&mut tx, family, user, policy.refresh_ttl, session_ends).await?;
    tx.commit().await?;
    Ok(Issued {
        session: family,
        user,
        refresh_token,
    })
}

/// Whether the session's access tokens are refused.
pub async fn is_revoked(db: &PgPool, session: Uuid) -> Result<bool, sqlx::Error> {
    let (revoked,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = $1)")
            .bind(session)
            .fetch_one(db)
            .await?;
    Ok(revoked)
}

/// Deletes revocations that no access token can outlive any more; run periodically.
pub async fn delete_expired_revocations(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM revoked_sessions WHERE tokens_valid_until < now()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// Revokes every token of `family`: its refresh tokens at once, its access
/// tokens on every host through `revoked_sessions` and `session.revoked`.
async fn revoke_family(
    conn: &mut PgConnection,
    family: Uuid,
    user: UserId,
    policy: &SessionPolicy,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(&mut *conn)
    .await?;
    // Verifiers allow a few seconds of clock skew past `exp`.
    let tokens_valid_until =
        Utc::now() + policy.access_ttl + Duration::from_secs(platform::auth::LEEWAY_SECS);
    revoke(conn, family, user, tokens_valid_until).await
}

/// Refuses the access tokens of `session` from now on, on every host:
/// `revoked_sessions` here and a `session.revoked` event for the read
/// side, which must remember it until `tokens_valid_until`, when the last
/// of them expires. Revoking twice changes nothing.
pub async fn revoke(
    conn: &mut PgConnection,
    session: Uuid,
    user: UserId,
    tokens_valid_until: chrono::DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let revoked_at = Utc::now();
    let recorded = sqlx::query(
        "INSERT INTO revoked_sessions (session_id, user_id, revoked_at, tokens_valid_until)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(session)
    .bind(user.0)
    .bind(revoked_at)
    .bind(tokens_valid_until)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if recorded == 1 {
        let event = Event::SessionRevoked(SessionRevoked {
            session_id: session,
            user_id: user,
            revoked_at,
            tokens_valid_until,
        });
        outbox::append(conn, &event).await?;
    }
    Ok(())
}

/// Revokes the session of `token` if it belongs to `user`; anything else is a no-op.
pub async fn logout(
    db: &PgPool,
    user: UserId,
    token: &str,
    policy: &SessionPolicy,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let family: Option<(Uuid,)> = sqlx::query_as(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2",
    )
    .bind(refresh_token_hash(token))
    .bind(user.0)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((family,)) = family {
        revoke_family(&mut tx, family, user, policy).await?;
    }
    tx.commit().await?;
    Ok(())
}
