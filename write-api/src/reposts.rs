//! Reposts: idempotent repost and undo with an exact count on the post, and
//! the withdrawal of every repost of a post being deleted.
//!
//! A repost is a row of its own with an id from the posts' sequence; its
//! events are keyed by the reposter, whose followers' feeds it changes.
//! The command runs inside the caller's transaction, which holds the
//! reposter's key lock; the post's row lock orders it against the post's
//! deletion, which withdraws whatever reposts it finds.

use chrono::{DateTime, Utc};
use contracts::events::{Event, PostCounts, RepostChanged};
use contracts::ids::{PostId, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::outbox;
use crate::posts::reply_target;

#[derive(Debug, thiserror::Error)]
pub enum RepostError {
    #[error("no such post")]
    NotFound,
    #[error("you cannot repost your own post")]
    OwnPost,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A row of `reposts` with what its events say about the reposter, and the
/// write database's time of the change (the one clock the read model
/// orders writes by).
type RepostRow = (i64, i64, DateTime<Utc>, bool, DateTime<Utc>);

/// Makes `user` repost (`reposted`) `post`, or undo that. Nothing changes,
/// and nothing is appended, when that is already so. A deleted post is
/// [`RepostError::NotFound`] for a repost; undoing one on it changes
/// nothing, since its deletion withdrew every repost.
pub async fn set(
    conn: &mut PgConnection,
    user: UserId,
    post: PostId,
    reposted: bool,
) -> Result<Option<Uuid>, RepostError> {
    let live: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT author_id, created_at FROM posts WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(post.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((author, post_created_at)) = live else {
        return if reposted {
            Err(RepostError::NotFound)
        } else {
            Ok(None)
        };
    };
    if author == user.0 {
        return Err(RepostError::OwnPost);
    }
    let row: Option<RepostRow> = if reposted {
        sqlx::query_as(
            "INSERT INTO reposts (post_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
             RETURNING id, user_id, created_at, (SELECT celebrity FROM users WHERE id = $2),
                 created_at",
        )
    } else {
        sqlx::query_as(
            "DELETE FROM reposts WHERE post_id = $1 AND user_id = $2
             RETURNING id, user_id, created_at, (SELECT celebrity FROM users WHERE id = $2),
                 now()",
        )
    }
    .bind(post.0)
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let counts = bump_reposts_count(conn, post, if reposted { 1 } else { -1 }).await?;
    let change = repost_changed(row, post, UserId(author), post_created_at, counts);
    let event = if reposted {
        Event::RepostCreated(change)
    } else {
        Event::RepostDeleted(change)
    };
    Ok(Some(outbox::append(conn, &event).await?.id))
}

/// Deletes every repost of `post`, which is being deleted, and appends a
/// `repost.deleted` for each, so each reposter's followers lose it.
pub async fn withdraw_all(
    conn: &mut PgConnection,
    post: PostId,
    author: UserId,
    post_created_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let rows: Vec<RepostRow> = sqlx::query_as(
        "DELETE FROM reposts r WHERE r.post_id = $1
         RETURNING r.id, r.user_id, r.created_at,
             (SELECT celebrity FROM users WHERE id = r.user_id), now()",
    )
    .bind(post.0)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let counts = bump_reposts_count(conn, post, -(rows.len() as i64)).await?;
    for row in rows {
        let change = repost_changed(row, post, author, post_created_at, counts);
        outbox::append(conn, &Event::RepostDeleted(change)).await?;
    }
    Ok(())
}

async fn bump_reposts_count(
    conn: &mut PgConnection,
    post: PostId,
    delta: i64,
) -> Result<PostCounts, sqlx::Error> {
    let row = sqlx::query_as(concat!(
        "UPDATE posts SET reposts_count = reposts_count + $2, counts_version = counts_version + 1
         WHERE id = $1 RETURNING ",
        crate::target_columns!()
    ))
    .bind(post.0)
    .bind(delta)
    .fetch_one(conn)
    .await?;
    Ok(reply_target(row).counts)
}

fn repost_changed(
    (id, user, created_at, celebrity, at): RepostRow,
    post: PostId,
    author: UserId,
    post_created_at: DateTime<Utc>,
    counts: PostCounts,
) -> RepostChanged {
    RepostChanged {
        repost_id: PostId(id),
        user_id: UserId(user),
        created_at,
        at,
        reposter_celebrity: celebrity,
        post_id: post,
        post_author_id: author,
        post_created_at,
        counts,
    }
}
