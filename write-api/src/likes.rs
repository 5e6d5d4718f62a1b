//! Likes: idempotent like and unlike with an exact count on the post.
//!
//! Each function runs inside the caller's transaction, which already holds
//! the key lock of the post's author (see [`crate::idempotency`]): the
//! events are keyed by that author, like every other change to the post.

use chrono::Utc;
use contracts::events::{Event, LikeChanged};
use contracts::ids::{NotificationId, PostId, UserId};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::outbox;
use crate::posts::{PostError, reply_target};

/// The author of a live post, or [`PostError::NotFound`]: the key a like
/// command locks. Authors never change, so reading it before the
/// transaction is safe; the transaction checks again that the post lives.
pub async fn post_author(db: &PgPool, post: PostId) -> Result<UserId, PostError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT author_id FROM posts WHERE id = $1 AND deleted_at IS NULL")
            .bind(post.0)
            .fetch_optional(db)
            .await?;
    row.map(|(id,)| UserId(id)).ok_or(PostError::NotFound)
}

/// Makes `user` like (`liked`) or stop liking `post`. Nothing changes, and
/// nothing is appended, when that is already so. A deleted post is
/// [`PostError::NotFound`] either way.
pub async fn set(
    conn: &mut PgConnection,
    user: UserId,
    post: PostId,
    liked: bool,
) -> Result<Option<Uuid>, PostError> {
    let live: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM posts WHERE id = $1 AND deleted_at IS NULL FOR UPDATE")
            .bind(post.0)
            .fetch_optional(&mut *conn)
            .await?;
    if live.is_none() {
        return Err(PostError::NotFound);
    }
    let changed: Option<(i64,)> = if liked {
        sqlx::query_as(
            "INSERT INTO likes (post_id, user_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING RETURNING id",
        )
    } else {
        sqlx::query_as("DELETE FROM likes WHERE post_id = $1 AND user_id = $2 RETURNING id")
    }
    .bind(post.0)
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((like_id,)) = changed else {
        return Ok(None);
    };
    let row = sqlx::query_as(concat!(
        "UPDATE posts SET likes_count = likes_count + $2, counts_version = counts_version + 1
         WHERE id = $1 RETURNING ",
        crate::target_columns!()
    ))
    .bind(post.0)
    .bind(if liked { 1i64 } else { -1 })
    .fetch_one(&mut *conn)
    .await?;
    let target = reply_target(row);
    let change = LikeChanged {
        user_id: user,
        post_id: post,
        post_author_id: target.author_id,
        at: Utc::now(),
        counts: target.counts,
        like_id: Some(NotificationId(like_id)),
    };
    let event = if liked {
        Event::LikeCreated(change)
    } else {
        Event::LikeDeleted(change)
    };
    Ok(Some(outbox::append(conn, &event).await?.id))
}
