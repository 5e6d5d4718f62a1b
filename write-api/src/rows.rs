//! The write database's `users` row as the event payloads carry it: the
//! write side maps its own rows to [`UserSnapshot`], so a change to the
//! table never reaches the event schema unnoticed.

use chrono::{DateTime, Utc};
use contracts::events::UserSnapshot;
use contracts::ids::UserId;

/// The columns of `users` that make a [`UserRow`], in its field order: for
/// `RETURNING` clauses of every statement that changes an account, so the
/// event written in the same transaction describes the committed row.
#[macro_export]
macro_rules! user_columns {
    () => {
        "id, username, display_name, bio, followers_count, following_count, posts_count, \
         celebrity, created_at, version"
    };
}

/// An account's public columns.
#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub followers_count: i64,
    pub following_count: i64,
    pub posts_count: i64,
    pub celebrity: bool,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

impl From<UserRow> for UserSnapshot {
    fn from(row: UserRow) -> Self {
        Self {
            id: UserId(row.id),
            username: row.username,
            display_name: row.display_name,
            bio: row.bio,
            followers_count: row.followers_count,
            following_count: row.following_count,
            posts_count: row.posts_count,
            celebrity: row.celebrity,
            created_at: row.created_at,
            version: row.version,
        }
    }
}
