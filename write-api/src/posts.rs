//! Posts: the text rules, creation, edits and soft deletion.
//!
//! Each function runs inside the caller's transaction, which already holds
//! the author's key lock (see [`crate::idempotency`]).

use chrono::{DateTime, Utc};
use contracts::events::{
    Event, MAX_MENTIONS, PostCounts, PostCreated, PostDeleted, PostEdited, ReplyTarget,
    UserSnapshot,
};
use contracts::ids::{PostId, UserId};
use contracts::mentions::mentioned_usernames;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::outbox;
use crate::rows::UserRow;
use crate::user_columns;

/// Most characters (Unicode scalar values) in a post, after trimming.
pub const MAX_POST_CHARS: usize = 280;

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// Missing, deleted, or someone else's: callers cannot tell which.
    #[error("no such post")]
    NotFound,
    /// The post a reply answers is missing or deleted.
    #[error("no such post to reply to")]
    ReplyTargetNotFound,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Trims `raw` and checks it: 1-280 characters, no control characters
/// other than newline. Returns the text to store or what is wrong.
pub fn validate_text(raw: &str) -> Result<String, &'static str> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("must not be empty");
    }
    if text.chars().count() > MAX_POST_CHARS {
        return Err("must be at most 280 characters");
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not contain control characters other than newline");
    }
    Ok(text.to_owned())
}

async fn bump_posts_count(
    conn: &mut PgConnection,
    author: UserId,
    delta: i64,
) -> Result<UserSnapshot, sqlx::Error> {
    let row: UserRow = sqlx::query_as(concat!(
        "UPDATE users SET posts_count = posts_count + $2, version = version + 1
         WHERE id = $1 RETURNING ",
        user_columns!()
    ))
    .bind(author.0)
    .bind(delta)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// The columns of `posts` that make a [`ReplyTarget`], for `RETURNING`.
#[macro_export]
macro_rules! target_columns {
    () => {
        "id, author_id, likes_count, replies_count, reposts_count, counts_version"
    };
}

type TargetRow = (i64, i64, i64, i64, i64, i64);

pub fn reply_target((id, author, likes, replies, reposts, version): TargetRow) -> ReplyTarget {
    ReplyTarget {
        post_id: PostId(id),
        author_id: UserId(author),
        counts: PostCounts {
            likes,
            replies,
            reposts,
            version,
        },
    }
}

/// Changes the reply count of `post` by `delta`; with `live_only`, only if
/// the post is not deleted. Returns the post after the change, if changed.
async fn bump_replies_count(
    conn: &mut PgConnection,
    post: PostId,
    delta: i64,
    live_only: bool,
) -> Result<Option<ReplyTarget>, sqlx::Error> {
    let row: Option<TargetRow> = sqlx::query_as(concat!(
        "UPDATE posts SET replies_count = replies_count + $2, counts_version = counts_version + 1
         WHERE id = $1 AND (deleted_at IS NULL OR NOT $3) RETURNING ",
        target_columns!()
    ))
    .bind(post.0)
    .bind(delta)
    .bind(live_only)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(reply_target))
}

/// Creates a post (a reply if `in_reply_to` is given), bumps the author's
/// post count and the replied-to post's reply count, and appends
/// `post.created`.
pub async fn create(
    conn: &mut PgConnection,
    author: UserId,
    text: &str,
    in_reply_to: Option<PostId>,
) -> Result<(PostId, DateTime<Utc>, Uuid), PostError> {
    let target = match in_reply_to {
        Some(parent) => Some(
            bump_replies_count(conn, parent, 1, true)
                .await?
                .ok_or(PostError::ReplyTargetNotFound)?,
        ),
        None => None,
    };
    let (id, created_at): (i64, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO posts (author_id, text, in_reply_to_id) VALUES ($1, $2, $3)
         RETURNING id, created_at",
    )
    .bind(author.0)
    .bind(text)
    .bind(in_reply_to.map(|p| p.0))
    .fetch_one(&mut *conn)
    .await?;
    let author_snapshot = bump_posts_count(conn, author, 1).await?;
    let post_id = PostId(id);
    let mentions = record_mentions(conn, post_id, text).await?;
    let event = Event::PostCreated(PostCreated {
        post_id,
        author_id: author,
        text: text.to_owned(),
        created_at,
        author: author_snapshot,
        in_reply_to: target,
        mentions,
    });
    let envelope = outbox::append(conn, &event).await?;
    Ok((post_id, created_at, envelope.id))
}

/// Resolves the accounts `text` mentions and records them for `post`: the
/// first [`MAX_MENTIONS`] named accounts that exist, in order of first
/// appearance. Mentions are fixed when a post is published; an edit
/// notifies nobody anew.
async fn record_mentions(
    conn: &mut PgConnection,
    post: PostId,
    text: &str,
) -> Result<Vec<UserId>, sqlx::Error> {
    let names = mentioned_usernames(text);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, lower(username) FROM users WHERE lower(username) = ANY($1)")
            .bind(&names)
            .fetch_all(&mut *conn)
            .await?;
    let mentions: Vec<UserId> = names
        .iter()
        .filter_map(|name| found.iter().find(|(_, n)| n == name))
        .map(|&(id, _)| UserId(id))
        .take(MAX_MENTIONS)
        .collect();
    let ids: Vec<i64> = mentions.iter().map(|u| u.0).collect();
    sqlx::query("INSERT INTO post_mentions (post_id, user_id) SELECT $1, unnest($2::BIGINT[])")
        .bind(post.0)
        .bind(&ids)
        .execute(conn)
        .await?;
    Ok(mentions)
}

/// Replaces the text of the author's live post and appends `post.edited`.
pub async fn edit(
    conn: &mut PgConnection,
    author: UserId,
    post: PostId,
    text: &str,
) -> Result<(DateTime<Utc>, Uuid), PostError> {
    type Edited = (DateTime<Utc>, DateTime<Utc>, Option<i64>, Option<i64>);
    let row: Option<Edited> = sqlx::query_as(
        "UPDATE posts p SET text = $3, edited_at = now()
         WHERE p.id = $1 AND p.author_id = $2 AND p.deleted_at IS NULL
         RETURNING p.created_at, p.edited_at, p.in_reply_to_id,
             (SELECT author_id FROM posts WHERE id = p.in_reply_to_id)",
    )
    .bind(post.0)
    .bind(author.0)
    .bind(text)
    .fetch_optional(&mut *conn)
    .await?;
    let (created_at, edited_at, parent, parent_author) = row.ok_or(PostError::NotFound)?;
    let event = Event::PostEdited(PostEdited {
        post_id: post,
        author_id: author,
        text: text.to_owned(),
        created_at,
        edited_at,
        in_reply_to_id: parent.map(PostId),
        in_reply_to_author_id: parent_author.map(UserId),
    });
    Ok((edited_at, outbox::append(conn, &event).await?.id))
}

/// Soft-deletes the author's post and appends `post.deleted`. Deleting an
/// already deleted post changes nothing and returns `None`.
pub async fn delete(
    conn: &mut PgConnection,
    author: UserId,
    post: PostId,
) -> Result<Option<Uuid>, PostError> {
    type Live = (DateTime<Utc>, Option<DateTime<Utc>>, Option<i64>);
    let row: Option<Live> = sqlx::query_as(
        "SELECT created_at, deleted_at, in_reply_to_id FROM posts
         WHERE id = $1 AND author_id = $2 FOR UPDATE",
    )
    .bind(post.0)
    .bind(author.0)
    .fetch_optional(&mut *conn)
    .await?;
    let (created_at, deleted_at, parent) = row.ok_or(PostError::NotFound)?;
    if deleted_at.is_some() {
        return Ok(None);
    }
    let (deleted_at,): (DateTime<Utc>,) =
        sqlx::query_as("UPDATE posts SET deleted_at = now() WHERE id = $1 RETURNING deleted_at")
            .bind(post.0)
            .fetch_one(&mut *conn)
            .await?;
    let author_snapshot = bump_posts_count(conn, author, -1).await?;
    crate::reposts::withdraw_all(conn, post, author, created_at).await?;
    // The parent keeps counting only live replies, even once deleted itself.
    let in_reply_to = match parent {
        Some(parent) => bump_replies_count(conn, PostId(parent), -1, false).await?,
        None => None,
    };
    let event = Event::PostDeleted(PostDeleted {
        post_id: post,
        author_id: author,
        created_at,
        deleted_at,
        author: author_snapshot,
        in_reply_to,
    });
    Ok(Some(outbox::append(conn, &event).await?.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_scalar_values_after_trimming() {
        assert_eq!(validate_text("  hi \n").unwrap(), "hi");
        assert!(validate_text(&"é".repeat(280)).is_ok());
        assert!(validate_text(&"😀".repeat(281)).is_err());
        assert!(validate_text(&format!("  {}  ", "a".repeat(280))).is_ok());
    }

    #[test]
    fn rejects_empty_and_control_characters() {
        assert!(validate_text(" \n\t ").is_err());
        assert!(validate_text("line one\nline two").is_ok());
        assert!(validate_text("bell\u{7}").is_err());
        assert!(validate_text("tab\tinside").is_err());
    }
}
