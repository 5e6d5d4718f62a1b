//! Response bodies that both hosts return, so they cannot drift apart.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use crate::events::UserSnapshot;

/// A public profile.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize, serde::Deserialize)]
#[oai(example)]
pub struct ProfileView {
    /// Account id (a string: ids exceed JavaScript's safe integers).
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub followers_count: i64,
    pub following_count: i64,
    pub posts_count: i64,
    pub created_at: DateTime<Utc>,
}

impl From<UserSnapshot> for ProfileView {
    fn from(u: UserSnapshot) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username,
            display_name: u.display_name,
            bio: u.bio,
            followers_count: u.followers_count,
            following_count: u.following_count,
            posts_count: u.posts_count,
            created_at: u.created_at,
        }
    }
}

impl poem_openapi::types::Example for ProfileView {
    fn example() -> Self {
        Self {
            id: "1".into(),
            username: "alice".into(),
            display_name: "Alice".into(),
            bio: "Writes about distributed systems.".into(),
            followers_count: 42,
            following_count: 7,
            posts_count: 128,
            created_at: DateTime::from_timestamp(1_763_800_000, 0).unwrap_or_default(),
        }
    }
}
