//! Accounts: the followers and following lists of an account, newest
//! follow first, the accounts that like or repost a post, and profile
//! search.

use contracts::ids::{PostId, UserId};
use readmodel::social::{Engagement, FollowList};
use readmodel::{FollowEdge, ProfileRecord, StoreError};

use crate::feed::{FeedService, cut};

/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 64;

/// A page of profiles and where the next one starts: after a follow edge,
/// or below an account id.
pub struct ProfilePage<Bound = FollowEdge> {
    pub profiles: Vec<ProfileRecord>,
    pub next: Option<Bound>,
}

impl FeedService {
    /// A follow list strictly after `after`, hydrated through the cache.
    pub async fn follow_list(
        &self,
        list: FollowList,
        after: Option<FollowEdge>,
        limit: usize,
    ) -> Result<ProfilePage, StoreError> {
        let edges = self.store().follow_list(list, after, limit + 1).await?;
        self.profile_page(edges, limit, |e| e.user).await
    }

    /// The accounts that like (or repost) `post` below `before`, highest
    /// account id first, hydrated through the cache.
    pub async fn engaged_by(
        &self,
        kind: Engagement,
        post: PostId,
        before: Option<UserId>,
        limit: usize,
    ) -> Result<ProfilePage<UserId>, StoreError> {
        let users = self
            .store()
            .engaged_by(kind, post, before, limit + 1)
            .await?;
        self.profile_page(users, limit, |&u| u).await
    }

    /// The profiles of up to `limit` of `rows` (read one beyond, to know
    /// whether a next page exists), in their order.
    async fn profile_page<Bound: Copy>(
        &self,
        mut rows: Vec<Bound>,
        limit: usize,
        user: fn(&Bound) -> UserId,
    ) -> Result<ProfilePage<Bound>, StoreError> {
        let next = cut(&mut rows, limit);
        let ids: Vec<UserId> = rows.iter().map(user).collect();
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
