//! Reading account rows as the snapshots events carry.
//!
//! Every statement that changes an account row also bumps its `version`
//! and returns the snapshot columns ([`snapshot_columns!`]), decoded
//! straight into [`shared::events::UserSnapshot`], so the event written in
//! the same transaction describes exactly the committed row.

/// The columns of a snapshot, for `RETURNING` clauses.
#[macro_export]
macro_rules! snapshot_columns {
    () => {
        "id, username, display_name, bio, followers_count, following_count, posts_count, \
         celebrity, created_at, version"
    };
}
