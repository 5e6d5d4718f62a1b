//! Accounts: the followers and following lists of an account, newest
//! follow first, and profile search.

use contracts::ids::UserId;
use readmodel::social::FollowList;
use readmodel::{FollowEdge, ProfileRecord, StoreError};

use crate::feed::FeedService;

/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 64;

/// A page of profiles and where the next one starts.
pub struct ProfilePage {
    pub profiles: Vec<ProfileRecord>,
    pub next: Option<FollowEdge>,
}

impl FeedService {
    /// A follow list strictly after `after`, hydrated through the cache.
    pub async fn follow_list(
        &self,
        list: FollowList,
        after: Option<FollowEdge>,
        limit: usize,
    ) -> Result<ProfilePage, StoreError> {
        let mut edges = self.store().follow_list(list, after, limit + 1).await?;
        let next = if edges.len() > limit {
            edges.truncate(limit);
            edges.last().copied()
        } else {
            None
        };
        let ids: Vec<UserId> = edges.iter().map(|e| e.user).collect();
        let mut found = self.profiles_by_id(&ids).await?;
        let profiles = ids.iter().filter_map(|id| found.remove(id)).collect();
        Ok(ProfilePage { profiles, next })
    }

    /// Accounts whose username or display name starts with `query`
    /// (case-insensitive), most followed first.
    pub async fn search_profiles(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ProfileRecord>, StoreError> {
        let prefix = query.trim().to_lowercase();
        if prefix.is_empty() {
            return Ok(Vec::new());
        }
        self.store().search_profiles(&prefix, limit).await
    }
}
