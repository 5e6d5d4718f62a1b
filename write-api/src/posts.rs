//! Posts: the text rules and creation.

use chrono::{DateTime, Utc};
use shared::events::{Event, PostCreated, UserSnapshot};
use shared::ids::{PostId, UserId};
use sqlx::PgPool;

use crate::outbox;
use crate::snapshot_columns;
use crate::users::SnapshotRow;

/// Most characters (Unicode scalar values) in a post, after trimming.
pub const MAX_POST_CHARS: usize = 280;

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

/// Creates a post, bumps the author's post count and appends
/// `post.created`, in one transaction.
pub async fn create(
    db: &PgPool,
    author: UserId,
    text: &str,
) -> Result<(PostId, DateTime<Utc>), sqlx::Error> {
    let mut tx = db.begin().await?;
    let (id, created_at): (i64, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO posts (author_id, text) VALUES ($1, $2) RETURNING id, created_at",
    )
    .bind(author.0)
    .bind(text)
    .fetch_one(&mut *tx)
    .await?;
    let author_row: SnapshotRow = sqlx::query_as(concat!(
        "UPDATE users SET posts_count = posts_count + 1, version = version + 1
         WHERE id = $1 RETURNING ",
        snapshot_columns!()
    ))
    .bind(author.0)
    .fetch_one(&mut *tx)
    .await?;
    let post_id = PostId(id);
    let event = Event::PostCreated(PostCreated {
        post_id,
        author_id: author,
        text: text.to_owned(),
        created_at,
        author: UserSnapshot::from(author_row),
    });
    outbox::append(&mut tx, &event).await?;
    tx.commit().await?;
    Ok((post_id, created_at))
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
