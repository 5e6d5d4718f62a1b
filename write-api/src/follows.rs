//! Follows: idempotent follow with exact counts.

use chrono::{DateTime, Utc};
use shared::events::{Event, FollowCreated, UserSnapshot};
use shared::ids::UserId;
use sqlx::PgPool;

use crate::outbox;
use crate::snapshot_columns;
use crate::users::SnapshotRow;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("an account cannot follow itself")]
    SelfFollow,
    #[error("no such account")]
    UnknownUser,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Makes `follower` follow `followee`. Following again changes nothing and
/// emits nothing; a new follow updates both counts and appends
/// `follow.created`, in one transaction.
pub async fn follow(db: &PgPool, follower: UserId, followee: UserId) -> Result<(), FollowError> {
    if follower == followee {
        return Err(FollowError::SelfFollow);
    }
    let mut tx = db.begin().await?;
    // Locks the followee's row so concurrent follows of one author serialise
    // their count updates and reach the outbox in a consistent order.
    let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1 FOR UPDATE")
        .bind(followee.0)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(FollowError::UnknownUser);
    }
    let inserted: Option<(DateTime<Utc>,)> = sqlx::query_as(
        "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING RETURNING created_at",
    )
    .bind(follower.0)
    .bind(followee.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((created_at,)) = inserted else {
        return Ok(());
    };
    let rows: Vec<SnapshotRow> = sqlx::query_as(concat!(
        "UPDATE users SET
            followers_count = followers_count + (id = $2)::int,
            following_count = following_count + (id = $1)::int,
            version = version + 1
         WHERE id IN ($1, $2) RETURNING ",
        snapshot_columns!()
    ))
    .bind(follower.0)
    .bind(followee.0)
    .fetch_all(&mut *tx)
    .await?;
    let (mut follower_row, mut followee_row) = (None, None);
    for row in rows.into_iter().map(UserSnapshot::from) {
        if row.id == follower {
            follower_row = Some(row);
        } else {
            followee_row = Some(row);
        }
    }
    let (Some(follower_snapshot), Some(followee_snapshot)) = (follower_row, followee_row) else {
        return Err(FollowError::UnknownUser);
    };
    let event = Event::FollowCreated(FollowCreated {
        follower_id: follower,
        followee_id: followee,
        created_at,
        follower: follower_snapshot,
        followee: followee_snapshot,
    });
    outbox::append(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
