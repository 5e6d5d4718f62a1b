//! Mastodon entities rendered from the write database, for the answers
//! of Mastodon's commands (a created status, a favourited one, the
//! relationship after a follow): Mastodon answers a command with the
//! object it changed, as committed.

use chrono::{DateTime, Utc};
use contracts::ids::{PostId, UserId};
use mastodon::entities::{Account, AccountParts, Relationship, Status, StatusParts};
use sqlx::PgConnection;

use crate::rows::UserRow;
use crate::user_columns;

pub fn account_parts(row: &UserRow) -> AccountParts<'_> {
    AccountParts {
        id: UserId(row.id),
        username: &row.username,
        display_name: &row.display_name,
        bio: &row.bio,
        created_at: row.created_at,
        followers_count: row.followers_count,
        following_count: row.following_count,
        posts_count: row.posts_count,
    }
}

pub async fn user(conn: &mut PgConnection, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(conn)
    .await
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    id: i64,
    author_id: i64,
    text: String,
    created_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
    in_reply_to_id: Option<i64>,
    in_reply_to_author_id: Option<i64>,
    likes_count: i64,
    replies_count: i64,
    reposts_count: i64,
    favourited: bool,
    reblogged: bool,
    deleted: bool,
}

/// The status `post` as `viewer` sees it, deleted or not (a deleted one
/// carries its source `text`, for Mastodon's "delete and redraft").
pub async fn status(
    conn: &mut PgConnection,
    viewer: UserId,
    post: PostId,
    origin: &str,
) -> Result<Option<Status>, sqlx::Error> {
    let row: Option<StatusRow> = sqlx::query_as(
        "SELECT p.id, p.author_id, p.text, p.created_at, p.edited_at, p.in_reply_to_id,
                parent.author_id AS in_reply_to_author_id,
                p.likes_count, p.replies_count, p.reposts_count,
                EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = $2) AS favourited,
                EXISTS (SELECT 1 FROM reposts r WHERE r.post_id = p.id AND r.user_id = $2) AS reblogged,
                p.deleted_at IS NOT NULL AS deleted
         FROM posts p LEFT JOIN posts parent ON parent.id = p.in_reply_to_id
         WHERE p.id = $1",
    )
    .bind(post.0)
    .bind(viewer.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let Some(author) = user(conn, UserId(row.author_id)).await? else {
        return Ok(None);
    };
    let account = Account::new(account_parts(&author), origin);
    let mut status = Status::new(
        StatusParts {
            id: PostId(row.id),
            text: &row.text,
            created_at: row.created_at,
            edited_at: row.edited_at,
            in_reply_to: row
                .in_reply_to_id
                .zip(row.in_reply_to_author_id)
                .map(|(post, author)| (PostId(post), UserId(author))),
            likes: row.likes_count,
            replies: row.replies_count,
            reposts: row.reposts_count,
            favourited: row.favourited,
            reblogged: row.reblogged,
        },
        account,
        origin,
    );
    if row.deleted {
        status.text = Some(row.text);
    }
    Ok(Some(status))
}

/// The status `reposter`'s repost of `post` makes, if it exists.
pub async fn reblog(
    conn: &mut PgConnection,
    reposter: UserId,
    post: PostId,
    origin: &str,
) -> Result<Option<Status>, sqlx::Error> {
    let repost: Option<(i64, DateTime<Utc>)> =
        sqlx::query_as("SELECT id, created_at FROM reposts WHERE post_id = $1 AND user_id = $2")
            .bind(post.0)
            .bind(reposter.0)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((id, created_at)) = repost else {
        return Ok(None);
    };
    let Some(original) = status(conn, reposter, post, origin).await? else {
        return Ok(None);
    };
    let Some(row) = user(conn, reposter).await? else {
        return Ok(None);
    };
    let account = Account::new(account_parts(&row), origin);
    Ok(Some(Status::reblog(
        PostId(id),
        created_at,
        account,
        original,
    )))
}

/// How `viewer` and `target` follow each other.
pub async fn relationship(
    conn: &mut PgConnection,
    viewer: UserId,
    target: UserId,
) -> Result<Relationship, sqlx::Error> {
    let (following, followed_by): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2),
                EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = $1)",
    )
    .bind(viewer.0)
    .bind(target.0)
    .fetch_one(conn)
    .await?;
    Ok(Relationship::new(target, following, followed_by))
}
