//! Reading account rows as the snapshots events carry.
//!
//! Every statement that changes an account row also bumps its `version`
//! and returns [`SNAPSHOT_COLUMNS`], so the event written in the same
//! transaction describes exactly the committed row.

use chrono::{DateTime, Utc};
use shared::events::UserSnapshot;
use shared::ids::UserId;

/// The columns of a snapshot, for `RETURNING` clauses.
#[macro_export]
macro_rules! snapshot_columns {
    () => {
        "id, username, display_name, bio, followers_count, following_count, posts_count, \
         celebrity, created_at, version"
    };
}

#[derive(sqlx::FromRow)]
pub struct SnapshotRow {
    id: i64,
    username: String,
    display_name: String,
    bio: String,
    followers_count: i64,
    following_count: i64,
    posts_count: i64,
    celebrity: bool,
    created_at: DateTime<Utc>,
    version: i64,
}

impl From<SnapshotRow> for UserSnapshot {
    fn from(r: SnapshotRow) -> Self {
        Self {
            id: UserId(r.id),
            username: r.username,
            display_name: r.display_name,
            bio: r.bio,
            followers_count: r.followers_count,
            following_count: r.following_count,
            posts_count: r.posts_count,
            celebrity: r.celebrity,
            created_at: r.created_at,
            version: r.version,
        }
    }
}
