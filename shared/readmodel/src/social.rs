//! The conversational and social part of the durable read model: replies
//! and thread links, engagement counts, who liked and reposted what (and
//! each user's likes by time, "favourites"), the follow lists by time and
//! profile search. Split from [`crate::FeedReader`] and
//! [`crate::FeedWriter`], which extend these traits, to keep each small.
//!
//! Counts, likes and reposts are version-guarded: a post's counts carry the
//! version the write side gave them, and a like or unlike (a repost or its
//! undoing) is stored with the version of the counts it produced, so a store keeps the newest of each
//! whatever order, and however often, the events arrive.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contracts::ids::{PostId, UserId};

use crate::{FeedPosition, PostCounts, ProfileRecord, StoreError};

/// Most entries a prefix search reads before ranking, in a store that
/// cannot rank by itself (Cassandra).
pub const SEARCH_CANDIDATES: usize = 1_000;

/// One account in a list of follows, and when the follow was made; lists
/// are newest follow first and page strictly after an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FollowEdge {
    pub followed_at_ms: i64,
    pub user: UserId,
}

/// What a user may do to a post and undo, remembered per (user, post) for
/// the `viewer` state of items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engagement {
    Like,
    Repost,
}

/// Whether a user likes (or reposts) a post, as of the post's counts
/// version: stores and the cache keep the state with the highest version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngagementState {
    /// Cached like states written before reposts existed name it `liked`.
    #[serde(alias = "liked")]
    pub active: bool,
    pub version: i64,
}

impl EngagementState {
    /// The state of a post the user never engaged with.
    pub const NEVER: Self = Self {
        active: false,
        version: 0,
    };
}

/// Which way a follow list goes from its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowList {
    /// The accounts that follow it.
    Followers(UserId),
    /// The accounts it follows.
    Following(UserId),
}

/// What the read API may ask of this part of the read model.
#[async_trait]
pub trait SocialReader: Send + Sync + 'static {
    /// The stored counts among `ids`; a post never liked nor replied to
    /// may have none.
    async fn counts(&self, ids: &[PostId]) -> Result<Vec<(PostId, PostCounts)>, StoreError>;
    /// The recorded states of `user`'s likes (or reposts) among `ids`,
    /// active or withdrawn; a post `user` never engaged with has none.
    async fn engagement_states(
        &self,
        kind: Engagement,
        user: UserId,
        ids: &[PostId],
    ) -> Result<Vec<(PostId, EngagementState)>, StoreError>;
    /// Which of `ids` `user` likes (or reposts).
    async fn engaged_among(
        &self,
        kind: Engagement,
        user: UserId,
        ids: &[PostId],
    ) -> Result<Vec<PostId>, StoreError> {
        let states = self.engagement_states(kind, user, ids).await?;
        Ok(states
            .into_iter()
            .filter(|(_, s)| s.active)
            .map(|(id, _)| id)
            .collect())
    }
    /// The posts `user` likes (or reposts) with ids above `after`, in id
    /// order, at most `limit`: for repairs.
    async fn engaged_posts(
        &self,
        kind: Engagement,
        user: UserId,
        after: Option<PostId>,
        limit: usize,
    ) -> Result<Vec<PostId>, StoreError>;
    /// The accounts that like (or repost) `post`, highest account id
    /// first, strictly below `before`, at most `limit`: the "favourited by"
    /// and "reblogged by" lists. Account ids order the list because a
    /// post's likers can be many, and only an order a store keeps in the
    /// post's own partition pages without reading all of them.
    async fn engaged_by(
        &self,
        kind: Engagement,
        post: PostId,
        before: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError>;
    /// What `user` likes, newest like first: (the like's id, the post) for
    /// like ids strictly below `before`, at most `limit` ("favourites").
    async fn favourites_page(
        &self,
        user: UserId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, PostId)>, StoreError>;
    /// Direct replies to `parent` strictly after `after`, oldest first;
    /// deleted replies stay listed (hydration drops them), so the thread
    /// below a deleted reply can still be walked.
    async fn replies_page(
        &self,
        parent: PostId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError>;
    /// (reply, replied-to post) for each of `ids` that is a reply, deleted
    /// or not.
    async fn reply_parents(&self, ids: &[PostId]) -> Result<Vec<(PostId, PostId)>, StoreError>;
    /// A follow list strictly after `after`, newest follow first.
    async fn follow_list(
        &self,
        list: FollowList,
        after: Option<FollowEdge>,
        limit: usize,
    ) -> Result<Vec<FollowEdge>, StoreError>;
    /// Which of `candidates` follow `followee`.
    async fn followers_among(
        &self,
        followee: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError>;
    /// Which of `accounts` `reader` does not follow: one membership check
    /// per account, all at once (the reply rule asks it of a page's few
    /// replied-to accounts).
    async fn not_followed_among(
        &self,
        reader: UserId,
        accounts: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let checks = accounts
            .iter()
            .map(|&account| async move { self.followers_among(account, &[reader]).await });
        let found = futures::future::try_join_all(checks).await?;
        Ok(accounts
            .iter()
            .zip(found)
            .filter(|(_, followers)| followers.is_empty())
            .map(|(&account, _)| account)
            .collect())
    }
    /// Profiles whose username or display name starts with `prefix`
    /// (already lower-case), most followed first, at most `limit`.
    async fn search_profiles(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<ProfileRecord>, StoreError>;
}

/// What only the projector (and its rebuild) does to this part.
#[async_trait]
pub trait SocialWriter: SocialReader {
    /// Stores `counts` unless counts of a higher version are stored (the
    /// same version holds the same counts, so a rebuild may rewrite it).
    async fn put_counts(&self, post: PostId, counts: PostCounts) -> Result<(), StoreError>;
    /// Records whether `user` likes (or reposts) `post`, unless a change of
    /// a higher counts version is recorded.
    async fn set_engaged(
        &self,
        kind: Engagement,
        user: UserId,
        post: PostId,
        state: EngagementState,
    ) -> Result<(), StoreError>;
    /// Lists `user`'s like `like_id` of `post`, made at `at`, in
    /// [`SocialReader::favourites_page`]; a like removed before stays out.
    async fn add_favourite(
        &self,
        user: UserId,
        like_id: i64,
        post: PostId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Unlists `user`'s like `like_id` of `post` for good; `at` is when it
    /// ended.
    async fn remove_favourite(
        &self,
        user: UserId,
        like_id: i64,
        post: PostId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Makes `profile` findable by [`SocialReader::search_profiles`] under
    /// its current names; called when an account is created or renamed.
    async fn index_profile(&self, profile: &ProfileRecord) -> Result<(), StoreError>;
    /// Lists `reply` under `parent`, for good (see [`SocialReader::replies_page`]).
    async fn add_reply(&self, parent: PostId, reply: FeedPosition) -> Result<(), StoreError>;
    /// Lists the follow made at `at` in both accounts' follow lists.
    async fn add_follow_edge(
        &self,
        follower: UserId,
        followee: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Removes the follow made at `followed_at` (when known) from both
    /// lists; `at` is the unfollow's time.
    async fn remove_follow_edge(
        &self,
        follower: UserId,
        followee: UserId,
        followed_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
