//! Follows: idempotent follow and unfollow with exact counts, and the
//! celebrity flag that follows from the follower count.
//!
//! Each function runs inside the caller's transaction, which already holds
//! the followee's key lock (see [`crate::idempotency`]).

use chrono::{DateTime, Utc};
use contracts::events::{CelebrityChanged, Event, FollowCreated, FollowDeleted, UserSnapshot};
use contracts::ids::{NotificationId, UserId};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::outbox;
use crate::rows::UserRow;
use crate::user_columns;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("an account cannot follow itself")]
    SelfFollow,
    #[error("no such account")]
    UnknownUser,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// On at `threshold` followers, off only below 90% of it, so an author
/// hovering at the threshold does not flap.
pub fn celebrity_after(currently: bool, followers: i64, threshold: i64) -> bool {
    if currently {
        followers * 10 >= threshold * 9
    } else {
        followers >= threshold
    }
}

/// Applies `delta` to both counts and returns (follower, followee) snapshots.
async fn bump_counts(
    conn: &mut PgConnection,
    follower: UserId,
    followee: UserId,
    delta: i64,
) -> Result<(UserSnapshot, UserSnapshot), FollowError> {
    let rows: Vec<UserRow> = sqlx::query_as(concat!(
        "UPDATE users SET
            followers_count = followers_count + CASE WHEN id = $2 THEN $3 ELSE 0 END,
            following_count = following_count + CASE WHEN id = $1 THEN $3 ELSE 0 END,
            version = version + 1
         WHERE id IN ($1, $2) RETURNING ",
        user_columns!()
    ))
    .bind(follower.0)
    .bind(followee.0)
    .bind(delta)
    .fetch_all(&mut *conn)
    .await?;
    let (mut a, mut b) = (None, None);
    for row in rows.into_iter().map(UserSnapshot::from) {
        if row.id == follower {
            a = Some(row);
        } else {
            b = Some(row);
        }
    }
    match (a, b) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(FollowError::UnknownUser),
    }
}

/// Flips the followee's celebrity flag if its new count crosses the
/// threshold; returns the final snapshot and the event to append, if any.
async fn settle_celebrity(
    conn: &mut PgConnection,
    followee: UserSnapshot,
    threshold: i64,
) -> Result<(UserSnapshot, Option<Event>), sqlx::Error> {
    let wanted = celebrity_after(followee.celebrity, followee.followers_count, threshold);
    if wanted == followee.celebrity {
        return Ok((followee, None));
    }
    let row: UserRow = sqlx::query_as(concat!(
        "UPDATE users SET celebrity = $2, version = version + 1 WHERE id = $1 RETURNING ",
        user_columns!()
    ))
    .bind(followee.id.0)
    .bind(wanted)
    .fetch_one(conn)
    .await?;
    let snapshot = UserSnapshot::from(row);
    let event = Event::CelebrityChanged(CelebrityChanged {
        author: snapshot.clone(),
    });
    Ok((snapshot, Some(event)))
}

/// Rejects following yourself and following an account that does not
/// exist. Runs before the command takes the followee's key lock, so a
/// made-up id never waits on (or holds) any lock.
pub async fn check_target(
    db: &PgPool,
    follower: UserId,
    followee: UserId,
) -> Result<(), FollowError> {
    if follower == followee {
        return Err(FollowError::SelfFollow);
    }
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
        .bind(followee.0)
        .fetch_optional(db)
        .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(FollowError::UnknownUser),
    }
}

/// Makes `follower` follow `followee`. Following again changes nothing and
/// returns `None`; a new follow updates both counts, appends
/// `follow.created` (and `author.celebrity_changed` on a crossing) and
/// returns the last event's id.
pub async fn follow(
    conn: &mut PgConnection,
    follower: UserId,
    followee: UserId,
    threshold: i64,
) -> Result<Option<Uuid>, FollowError> {
    let inserted: Option<(DateTime<Utc>, i64)> = sqlx::query_as(
        "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING RETURNING created_at, id",
    )
    .bind(follower.0)
    .bind(followee.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((created_at, follow_id)) = inserted else {
        return Ok(None);
    };
    let (follower_snapshot, followee_snapshot) = bump_counts(conn, follower, followee, 1).await?;
    let (followee_snapshot, celebrity) =
        settle_celebrity(conn, followee_snapshot, threshold).await?;
    let event = Event::FollowCreated(FollowCreated {
        follower_id: follower,
        followee_id: followee,
        created_at,
        follower: follower_snapshot,
        followee: followee_snapshot,
        follow_id: Some(NotificationId(follow_id)),
    });
    Ok(Some(append_all(conn, event, celebrity).await?))
}

/// Appends the follow's event and the celebrity change it caused, if any;
/// returns the id of the last one.
async fn append_all(
    conn: &mut PgConnection,
    event: Event,
    celebrity: Option<Event>,
) -> Result<Uuid, sqlx::Error> {
    let mut last = outbox::append(conn, &event).await?.id;
    if let Some(celebrity) = celebrity {
        last = outbox::append(conn, &celebrity).await?.id;
    }
    Ok(last)
}

/// Makes `follower` stop following `followee`; the mirror of [`follow`].
pub async fn unfollow(
    conn: &mut PgConnection,
    follower: UserId,
    followee: UserId,
    threshold: i64,
) -> Result<Option<Uuid>, FollowError> {
    let deleted: Option<(DateTime<Utc>, i64)> = sqlx::query_as(
        "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2
         RETURNING created_at, id",
    )
    .bind(follower.0)
    .bind(followee.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((followed_at, follow_id)) = deleted else {
        return Ok(None);
    };
    let (follower_snapshot, followee_snapshot) = bump_counts(conn, follower, followee, -1).await?;
    let (followee_snapshot, celebrity) =
        settle_celebrity(conn, followee_snapshot, threshold).await?;
    let event = Event::FollowDeleted(FollowDeleted {
        follower_id: follower,
        followee_id: followee,
        deleted_at: Utc::now(),
        follower: follower_snapshot,
        followee: followee_snapshot,
        followed_at: Some(followed_at),
        follow_id: Some(NotificationId(follow_id)),
    });
    Ok(Some(append_all(conn, event, celebrity).await?))
}

#[cfg(test)]
mod tests {
    use super::celebrity_after;

    #[test]
    fn the_celebrity_flag_has_hysteresis() {
        let t = 10_000;
        assert!(!celebrity_after(false, 9_999, t));
        assert!(celebrity_after(false, 10_000, t));
        assert!(celebrity_after(true, 9_000, t), "stays on down to 90%");
        assert!(!celebrity_after(true, 8_999, t));
        assert!(
            !celebrity_after(false, 9_500, t),
            "does not come back on below the threshold"
        );
    }
}
