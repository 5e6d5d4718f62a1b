//! [`SocialReader`] and [`SocialWriter`] on Cassandra / ScyllaDB (tables in
//! `schema/cassandra/0002_conversations.cql` and later).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::{Bucketed, CONCURRENCY, CassandraStore, bucket_of, err, follower_shard, micros};
use crate::social::{
    Engagement, EngagementState, FollowEdge, FollowList, SEARCH_CANDIDATES, SocialReader,
    SocialWriter,
};
use crate::{FeedEntry, FeedPosition, FeedReader, PostCounts, ProfileRecord, StoreError};
use contracts::ids::{PostId, UserId};

/// Longest prefix `profiles_by_prefix` holds; longer queries are looked up
/// by their first this many characters and checked against the names.
const MAX_PREFIX_CHARS: usize = 16;

pub(super) struct Statements {
    get_counts: PreparedStatement,
    put_counts: PreparedStatement,
    likes: EngagementStatements,
    reposts: EngagementStatements,
    favourites: PreparedStatement,
    add_favourite: PreparedStatement,
    remove_favourite: PreparedStatement,
    feed_holds: PreparedStatement,
    get_offers: PreparedStatement,
    offers_among: PreparedStatement,
    put_offer: PreparedStatement,
    remove_offer: PreparedStatement,
    put_offered: PreparedStatement,
    offered: PreparedStatement,
    replies: PreparedStatement,
    add_reply: PreparedStatement,
    get_parent: PreparedStatement,
    put_parent: PreparedStatement,
    pub(super) followers_buckets: PreparedStatement,
    pub(super) followers_rows: PreparedStatement,
    pub(super) following_buckets: PreparedStatement,
    pub(super) following_rows: PreparedStatement,
    add_followers_row: PreparedStatement,
    add_followers_bucket: PreparedStatement,
    add_following_row: PreparedStatement,
    add_following_bucket: PreparedStatement,
    remove_followers_row: PreparedStatement,
    remove_following_row: PreparedStatement,
    put_follow_time: PreparedStatement,
    get_follow_time: PreparedStatement,
    remove_follow_time: PreparedStatement,
    followers_among: PreparedStatement,
    put_prefix: PreparedStatement,
    by_prefix: PreparedStatement,
}

/// The statements of one engagement's tables: (user, post) → state and its
/// twin (post, user) → state, both written `USING TIMESTAMP <counts
/// version>`.
struct EngagementStatements {
    among: PreparedStatement,
    posts: PreparedStatement,
    by_post: PreparedStatement,
    set: PreparedStatement,
    set_by_post: PreparedStatement,
}

impl EngagementStatements {
    async fn prepare(
        session: &Session,
        by_user: &str,
        by_post: &str,
        column: &str,
    ) -> Result<Self, StoreError> {
        let prepare = |cql: String| async move { session.prepare(cql).await.map_err(err) };
        Ok(Self {
            among: prepare(format!(
                "SELECT post_id, {column}, WRITETIME({column}) FROM {by_user}
                 WHERE user_id = ? AND post_id IN ?"
            ))
            .await?,
            posts: prepare(format!(
                "SELECT post_id, {column} FROM {by_user} WHERE user_id = ? AND post_id > ? LIMIT ?"
            ))
            .await?,
            by_post: prepare(format!(
                "SELECT user_id, {column} FROM {by_post} WHERE post_id = ? AND user_id < ? LIMIT ?"
            ))
            .await?,
            set: prepare(format!(
                "INSERT INTO {by_user} (user_id, post_id, {column}) VALUES (?, ?, ?) USING TIMESTAMP ?"
            ))
            .await?,
            set_by_post: prepare(format!(
                "INSERT INTO {by_post} (post_id, user_id, {column}) VALUES (?, ?, ?) USING TIMESTAMP ?"
            ))
            .await?,
        })
    }
}

impl Statements {
    fn engagement(&self, kind: Engagement) -> &EngagementStatements {
        match kind {
            Engagement::Like => &self.likes,
            Engagement::Repost => &self.reposts,
        }
    }

    pub(super) async fn prepare(session: &Session) -> Result<Self, StoreError> {
        let prepare = |cql: &'static str| async move { session.prepare(cql).await.map_err(err) };
        Ok(Self {
            get_counts: prepare(
                "SELECT likes, replies, reposts, WRITETIME(likes) FROM post_counts WHERE post_id = ?",
            )
            .await?,
            put_counts: prepare(
                "INSERT INTO post_counts (post_id, likes, replies, reposts) VALUES (?, ?, ?, ?)
                 USING TIMESTAMP ?",
            )
            .await?,
            likes: EngagementStatements::prepare(
                session,
                "likes_by_user",
                "likers_by_post",
                "liked",
            )
            .await?,
            reposts: EngagementStatements::prepare(
                session,
                "reposts_by_user",
                "reposters_by_post",
                "reposted",
            )
            .await?,
            favourites: prepare(
                "SELECT like_id, post_id FROM favourites_by_user
                 WHERE user_id = ? AND like_id < ? LIMIT ?",
            )
            .await?,
            add_favourite: prepare(
                "INSERT INTO favourites_by_user (user_id, like_id, post_id) VALUES (?, ?, ?)
                 USING TIMESTAMP ?",
            )
            .await?,
            remove_favourite: prepare(
                "DELETE FROM favourites_by_user USING TIMESTAMP ? WHERE user_id = ? AND like_id = ?",
            )
            .await?,
            feed_holds: prepare(
                "SELECT author_id, WRITETIME(author_id) FROM home_feed
                 WHERE owner_id = ? AND bucket = ? AND created_at_ms = ? AND post_id = ?",
            )
            .await?,
            get_offers: prepare(
                "SELECT entry_id, entry_created_at_ms, entry_author_id FROM feed_offers
                 WHERE owner_id = ? AND original_id = ?",
            )
            .await?,
            offers_among: prepare(
                "SELECT original_id, entry_id, entry_created_at_ms FROM feed_offers
                 WHERE owner_id = ? AND original_id IN ?",
            )
            .await?,
            put_offer: prepare(
                "INSERT INTO feed_offers (owner_id, original_id, entry_id, entry_created_at_ms,
                     entry_author_id)
                 VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            put_offered: prepare(
                "INSERT INTO feed_offers_by_post (original_id, owner_id) VALUES (?, ?)",
            )
            .await?,
            offered: prepare("SELECT owner_id FROM feed_offers_by_post WHERE original_id = ?")
                .await?,
            remove_offer: prepare(
                "DELETE FROM feed_offers USING TIMESTAMP ?
                 WHERE owner_id = ? AND original_id = ? AND entry_id = ?",
            )
            .await?,
            replies: prepare(
                "SELECT created_at_ms, post_id FROM replies
                 WHERE parent_id = ? AND (created_at_ms, post_id) > (?, ?) LIMIT ?",
            )
            .await?,
            add_reply: prepare(
                "INSERT INTO replies (parent_id, created_at_ms, post_id) VALUES (?, ?, ?)",
            )
            .await?,
            get_parent: prepare("SELECT parent_id FROM reply_parents WHERE post_id = ?").await?,
            put_parent: prepare("INSERT INTO reply_parents (post_id, parent_id) VALUES (?, ?)")
                .await?,
            followers_buckets: prepare(
                "SELECT bucket FROM followers_by_time_buckets
                 WHERE followee_id = ? AND bucket <= ? LIMIT ?",
            )
            .await?,
            followers_rows: prepare(
                "SELECT followed_at_ms, follower_id FROM followers_by_time
                 WHERE followee_id = ? AND bucket = ? AND (followed_at_ms, follower_id) < (?, ?)
                 LIMIT ?",
            )
            .await?,
            following_buckets: prepare(
                "SELECT bucket FROM following_by_time_buckets
                 WHERE follower_id = ? AND bucket <= ? LIMIT ?",
            )
            .await?,
            following_rows: prepare(
                "SELECT followed_at_ms, followee_id FROM following_by_time
                 WHERE follower_id = ? AND bucket = ? AND (followed_at_ms, followee_id) < (?, ?)
                 LIMIT ?",
            )
            .await?,
            add_followers_row: prepare(
                "INSERT INTO followers_by_time (followee_id, bucket, followed_at_ms, follower_id)
                 VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            add_followers_bucket: prepare(
                "INSERT INTO followers_by_time_buckets (followee_id, bucket) VALUES (?, ?)",
            )
            .await?,
            add_following_row: prepare(
                "INSERT INTO following_by_time (follower_id, bucket, followed_at_ms, followee_id)
                 VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            add_following_bucket: prepare(
                "INSERT INTO following_by_time_buckets (follower_id, bucket) VALUES (?, ?)",
            )
            .await?,
            remove_followers_row: prepare(
                "DELETE FROM followers_by_time USING TIMESTAMP ?
                 WHERE followee_id = ? AND bucket = ? AND followed_at_ms = ? AND follower_id = ?",
            )
            .await?,
            remove_following_row: prepare(
                "DELETE FROM following_by_time USING TIMESTAMP ?
                 WHERE follower_id = ? AND bucket = ? AND followed_at_ms = ? AND followee_id = ?",
            )
            .await?,
            put_follow_time: prepare(
                "INSERT INTO follow_times (follower_id, followee_id, followed_at_ms)
                 VALUES (?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            get_follow_time: prepare(
                "SELECT followed_at_ms FROM follow_times WHERE follower_id = ? AND followee_id = ?",
            )
            .await?,
            remove_follow_time: prepare(
                "DELETE FROM follow_times USING TIMESTAMP ?
                 WHERE follower_id = ? AND followee_id = ?",
            )
            .await?,
            followers_among: prepare(
                "SELECT follower_id FROM followers
                 WHERE followee_id = ? AND shard = ? AND follower_id IN ?",
            )
            .await?,
            put_prefix: prepare("INSERT INTO profiles_by_prefix (prefix, user_id) VALUES (?, ?)")
                .await?,
            by_prefix: prepare("SELECT user_id FROM profiles_by_prefix WHERE prefix = ? LIMIT ?")
                .await?,
        })
    }
}

/// Every prefix, up to [`MAX_PREFIX_CHARS`] characters, of each lower-case name.
fn prefixes(names: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = names
        .iter()
        .flat_map(|name| {
            let lower = name.to_lowercase();
            let ends: Vec<usize> = lower
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .take(MAX_PREFIX_CHARS)
                .collect();
            ends.into_iter()
                .map(move |end| lower[..end].to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

impl CassandraStore {
    /// Whether `owner`'s feed shows the entry at `position`, given the
    /// authors hidden from it.
    async fn feed_shows(
        &self,
        owner: UserId,
        position: FeedPosition,
        hidden: &HashMap<i64, i64>,
    ) -> Result<bool, StoreError> {
        let key = (
            owner.0,
            bucket_of(position.created_at_ms),
            position.created_at_ms,
            position.post_id.0,
        );
        let rows: Vec<(i64, i64)> = self.select(&self.social.feed_holds, key).await?;
        Ok(rows
            .iter()
            .any(|&(author, written)| hidden.get(&author).is_none_or(|&until| written > until)))
    }

    /// The entries that offered `owner`'s feed `original`, oldest first.
    async fn offers(&self, owner: UserId, original: PostId) -> Result<Vec<FeedEntry>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = self
            .select(&self.social.get_offers, (owner.0, original.0))
            .await?;
        let mut offers: Vec<FeedEntry> = rows
            .into_iter()
            .map(|(id, ms, author)| FeedEntry {
                position: FeedPosition {
                    created_at_ms: ms,
                    post_id: PostId(id),
                },
                author_id: UserId(author),
            })
            .collect();
        offers.sort_unstable_by_key(|e| e.position);
        Ok(offers)
    }

    /// Records an offer (reader, post, entry, entry's time, entry's
    /// author, write time) and that the reader was offered the post.
    async fn record_offer(&self, values: (i64, i64, i64, i64, i64, i64)) -> Result<(), StoreError> {
        let (owner, original, ..) = values;
        self.session
            .execute_unpaged(&self.social.put_offer, values)
            .await
            .map_err(err)?;
        self.session
            .execute_unpaged(&self.social.put_offered, (original, owner))
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Of `owners`, those whose feed shows `post` through a repost of it:
    /// the post waits there as an offer instead of joining the feed
    /// ([`crate::FeedWriter::fan_out_post`]).
    pub(super) async fn hold_back_post(
        &self,
        owners: &[UserId],
        post: FeedEntry,
        at: DateTime<Utc>,
    ) -> Result<Vec<UserId>, StoreError> {
        let offered: Vec<(i64,)> = self
            .select(&self.social.offered, (post.position.post_id.0,))
            .await?;
        let mut held = Vec::new();
        for (owner,) in offered {
            let owner = UserId(owner);
            if !owners.contains(&owner) {
                continue;
            }
            let hidden = self.hidden_authors(owner).await?;
            let mut shown = false;
            for offer in self.offers(owner, post.position.post_id).await? {
                if offer.position != post.position
                    && self.feed_shows(owner, offer.position, &hidden).await?
                {
                    shown = true;
                    break;
                }
            }
            if shown {
                let values = (
                    owner.0,
                    post.position.post_id.0,
                    post.position.post_id.0,
                    post.position.created_at_ms,
                    post.author_id.0,
                    micros(at),
                );
                self.record_offer(values).await?;
                held.push(owner);
            }
        }
        Ok(held)
    }

    /// [`crate::FeedWriter::offer_to_feeds`] for one reader: records the
    /// offer and answers whether the entry is to join the feed. Without a
    /// lightweight transaction (a Paxos round per follower of every
    /// reposter), two reposts of one post fanned out at the same moment may
    /// both reach a reader; the read API shows a post once per page.
    pub(super) async fn offer_for(
        &self,
        owner: UserId,
        entry: FeedEntry,
        original: FeedPosition,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let values = (
            owner.0,
            original.post_id.0,
            entry.position.post_id.0,
            entry.position.created_at_ms,
            entry.author_id.0,
            micros(at),
        );
        self.record_offer(values).await?;
        let (offers, hidden) = tokio::try_join!(
            self.offers(owner, original.post_id),
            self.hidden_authors(owner)
        )?;
        if entry.position != original && self.feed_shows(owner, original, &hidden).await? {
            return Ok(false);
        }
        for other in offers.iter().filter(|o| o.position != entry.position) {
            if self.feed_shows(owner, other.position, &hidden).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// [`crate::FeedWriter::withdraw_offer`] for one reader, but for the
    /// removal of the entry itself: drops the offer and, if the entry held
    /// the post's place, answers the offer to take it.
    pub(super) async fn withdraw_for(
        &self,
        owner: UserId,
        entry: FeedPosition,
        original: PostId,
        at: DateTime<Utc>,
    ) -> Result<Option<FeedEntry>, StoreError> {
        let hidden = self.hidden_authors(owner).await?;
        let held = self.feed_shows(owner, entry, &hidden).await?;
        self.session
            .execute_unpaged(
                &self.social.remove_offer,
                (micros(at), owner.0, original.0, entry.post_id.0),
            )
            .await
            .map_err(err)?;
        if !held {
            return Ok(None);
        }
        let mut others = self.offers(owner, original).await?;
        others.retain(|o| o.position != entry);
        self.first_followed_offer(owner, others).await
    }

    /// [`crate::FeedWriter::restore_places`] for one post: the offer to
    /// take its place, if it has none shown and one waits.
    pub(super) async fn restore_place(
        &self,
        owner: UserId,
        original: FeedPosition,
        hidden: &HashMap<i64, i64>,
    ) -> Result<Option<FeedEntry>, StoreError> {
        let offers = self.offers(owner, original.post_id).await?;
        if offers.is_empty() || self.feed_shows(owner, original, hidden).await? {
            return Ok(None);
        }
        for offer in &offers {
            if self.feed_shows(owner, offer.position, hidden).await? {
                return Ok(None);
            }
        }
        self.first_followed_offer(owner, offers).await
    }

    /// The first of `offers` whose author `owner` follows (or is) and whose
    /// post still exists.
    async fn first_followed_offer(
        &self,
        owner: UserId,
        offers: Vec<FeedEntry>,
    ) -> Result<Option<FeedEntry>, StoreError> {
        for offer in offers {
            let followed = offer.author_id == owner
                || !self
                    .followers_among(offer.author_id, &[owner])
                    .await?
                    .is_empty();
            if followed && !self.posts(&[offer.position.post_id]).await?.is_empty() {
                return Ok(Some(offer));
            }
        }
        Ok(None)
    }

    /// [`crate::FeedWriter::reposted_in_feed`].
    pub(super) async fn reposted_in_feed_of(
        &self,
        owner: UserId,
        posts: &[PostId],
    ) -> Result<Vec<(PostId, bool)>, StoreError> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = posts.iter().map(|p| p.0).collect();
        let (rows, hidden) = tokio::try_join!(
            self.select::<(i64, i64, i64)>(&self.social.offers_among, (owner.0, ids)),
            self.hidden_authors(owner)
        )?;
        let mut found: HashMap<PostId, bool> = HashMap::new();
        for (original, id, ms) in rows.into_iter().filter(|&(o, id, _)| o != id) {
            let held = found.entry(PostId(original)).or_default();
            let position = FeedPosition {
                created_at_ms: ms,
                post_id: PostId(id),
            };
            if !*held && self.feed_shows(owner, position, &hidden).await? {
                *held = true;
            }
        }
        Ok(found.into_iter().collect())
    }

    pub(super) async fn select<T>(
        &self,
        statement: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        let result = self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(err)?;
        let rows = result.into_rows_result().map_err(err)?;
        rows.rows::<T>()
            .map_err(err)?
            .map(|row| row.map_err(err))
            .collect()
    }

    /// The first `limit` ids whose state is true in `key`'s partition of an
    /// engagement table, past `bound` in the statement's direction (it
    /// takes key, bound and a row limit, and selects (id, state)). Reads
    /// past withdrawn states until `limit` active ones are found or the
    /// partition ends.
    async fn active_rows(
        &self,
        statement: &PreparedStatement,
        key: i64,
        mut bound: i64,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let mut found = Vec::new();
        let chunk = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        loop {
            let rows: Vec<(i64, bool)> = self.select(statement, (key, bound, chunk)).await?;
            let exhausted = rows.len() < chunk as usize;
            for (id, active) in rows {
                bound = id;
                if active {
                    found.push(id);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if exhausted {
                return Ok(found);
            }
        }
    }
}

#[async_trait]
impl SocialReader for CassandraStore {
    async fn counts(&self, ids: &[PostId]) -> Result<Vec<(PostId, PostCounts)>, StoreError> {
        let found: Vec<Option<(PostId, PostCounts)>> = stream::iter(ids.iter().copied())
            .map(|id| async move {
                let rows: Vec<(i64, i64, i64, i64)> =
                    self.select(&self.social.get_counts, (id.0,)).await?;
                Ok::<_, StoreError>(rows.into_iter().next().map(
                    |(likes, replies, reposts, version)| {
                        let counts = PostCounts {
                            likes,
                            replies,
                            reposts,
                            version,
                        };
                        (id, counts)
                    },
                ))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn engagement_states(
        &self,
        kind: Engagement,
        user: UserId,
        ids: &[PostId],
    ) -> Result<Vec<(PostId, EngagementState)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = ids.iter().map(|p| p.0).collect();
        let statement = &self.social.engagement(kind).among;
        let rows: Vec<(i64, bool, i64)> = self.select(statement, (user.0, ids)).await?;
        Ok(rows
            .into_iter()
            .map(|(id, active, version)| (PostId(id), EngagementState { active, version }))
            .collect())
    }

    async fn engaged_posts(
        &self,
        kind: Engagement,
        user: UserId,
        after: Option<PostId>,
        limit: usize,
    ) -> Result<Vec<PostId>, StoreError> {
        let statement = &self.social.engagement(kind).posts;
        let from = after.map_or(i64::MIN, |p| p.0);
        let found = self.active_rows(statement, user.0, from, limit).await?;
        Ok(found.into_iter().map(PostId).collect())
    }

    async fn engaged_by(
        &self,
        kind: Engagement,
        post: PostId,
        before: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError> {
        let statement = &self.social.engagement(kind).by_post;
        let below = before.map_or(i64::MAX, |u| u.0);
        let found = self.active_rows(statement, post.0, below, limit).await?;
        Ok(found.into_iter().map(UserId).collect())
    }

    async fn favourites_page(
        &self,
        user: UserId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, PostId)>, StoreError> {
        let below = before.unwrap_or(i64::MAX);
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let rows: Vec<(i64, i64)> = self
            .select(&self.social.favourites, (user.0, below, limit))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, post)| (id, PostId(post)))
            .collect())
    }

    async fn replies_page(
        &self,
        parent: PostId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let (ms, id) = after.map_or((i64::MIN, i64::MIN), |p| (p.created_at_ms, p.post_id.0));
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let rows: Vec<(i64, i64)> = self
            .select(&self.social.replies, (parent.0, ms, id, limit))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(ms, id)| super::position(ms, id))
            .collect())
    }

    async fn reply_parents(&self, ids: &[PostId]) -> Result<Vec<(PostId, PostId)>, StoreError> {
        let found: Vec<Option<(PostId, PostId)>> = stream::iter(ids.iter().copied())
            .map(|id| async move {
                let rows: Vec<(i64,)> = self.select(&self.social.get_parent, (id.0,)).await?;
                Ok::<_, StoreError>(rows.first().map(|&(parent,)| (id, PostId(parent))))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn follow_list(
        &self,
        list: FollowList,
        after: Option<FollowEdge>,
        limit: usize,
    ) -> Result<Vec<FollowEdge>, StoreError> {
        let (table, key) = match list {
            FollowList::Followers(u) => (Bucketed::Followers, u),
            FollowList::Following(u) => (Bucketed::Following, u),
        };
        let after = after.map(|e| super::position(e.followed_at_ms, e.user.0));
        let page = self.bucketed_page(table, key.0, after, limit).await?;
        Ok(page
            .into_iter()
            .map(|p| FollowEdge {
                followed_at_ms: p.created_at_ms,
                user: UserId(p.post_id.0),
            })
            .collect())
    }

    async fn followers_among(
        &self,
        followee: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let mut by_shard: HashMap<i32, Vec<i64>> = HashMap::new();
        for &c in candidates {
            by_shard.entry(follower_shard(c)).or_default().push(c.0);
        }
        let found: Vec<Vec<(i64,)>> = stream::iter(by_shard)
            .map(|(shard, ids)| async move {
                self.select(&self.social.followers_among, (followee.0, shard, ids))
                    .await
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .flatten()
            .map(|(id,)| UserId(id))
            .collect())
    }

    async fn search_profiles(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<ProfileRecord>, StoreError> {
        let key: String = prefix.chars().take(MAX_PREFIX_CHARS).collect();
        let candidates: Vec<(i64,)> = self
            .select(&self.social.by_prefix, (key, SEARCH_CANDIDATES as i32))
            .await?;
        let ids: Vec<UserId> = candidates.into_iter().map(|(id,)| UserId(id)).collect();
        let mut found: Vec<ProfileRecord> = self
            .profiles(&ids)
            .await?
            .into_iter()
            .filter(|p| {
                p.username.to_lowercase().starts_with(prefix)
                    || p.display_name.to_lowercase().starts_with(prefix)
            })
            .collect();
        found.sort_by(|a, b| {
            b.followers_count
                .cmp(&a.followers_count)
                .then(a.id.cmp(&b.id))
        });
        found.truncate(limit);
        Ok(found)
    }
}

#[async_trait]
impl SocialWriter for CassandraStore {
    async fn put_counts(&self, post: PostId, counts: PostCounts) -> Result<(), StoreError> {
        let c = counts;
        self.session
            .execute_unpaged(
                &self.social.put_counts,
                (post.0, c.likes, c.replies, c.reposts, c.version),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn set_engaged(
        &self,
        kind: Engagement,
        user: UserId,
        post: PostId,
        state: EngagementState,
    ) -> Result<(), StoreError> {
        let statements = self.social.engagement(kind);
        futures::try_join!(
            self.session.execute_unpaged(
                &statements.set,
                (user.0, post.0, state.active, state.version)
            ),
            self.session.execute_unpaged(
                &statements.set_by_post,
                (post.0, user.0, state.active, state.version)
            ),
        )
        .map_err(err)?;
        Ok(())
    }

    async fn add_favourite(
        &self,
        user: UserId,
        like_id: i64,
        post: PostId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(
                &self.social.add_favourite,
                (user.0, like_id, post.0, micros(at)),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn remove_favourite(
        &self,
        user: UserId,
        like_id: i64,
        _post: PostId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(&self.social.remove_favourite, (micros(at), user.0, like_id))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn index_profile(&self, profile: &ProfileRecord) -> Result<(), StoreError> {
        let values = prefixes(&[&profile.username, &profile.display_name])
            .into_iter()
            .map(|prefix| (prefix, profile.id.0))
            .collect();
        self.for_each(&self.social.put_prefix, values).await
    }

    async fn add_reply(&self, parent: PostId, reply: FeedPosition) -> Result<(), StoreError> {
        futures::try_join!(
            self.session.execute_unpaged(
                &self.social.add_reply,
                (parent.0, reply.created_at_ms, reply.post_id.0)
            ),
            self.session
                .execute_unpaged(&self.social.put_parent, (reply.post_id.0, parent.0)),
        )
        .map_err(err)?;
        Ok(())
    }

    async fn add_follow_edge(
        &self,
        follower: UserId,
        followee: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (ms, ts) = (at.timestamp_millis(), micros(at));
        let bucket = bucket_of(ms);
        let s = &self.social;
        futures::try_join!(
            self.session.execute_unpaged(
                &s.add_followers_row,
                (followee.0, bucket, ms, follower.0, ts)
            ),
            self.session
                .execute_unpaged(&s.add_followers_bucket, (followee.0, bucket)),
            self.session.execute_unpaged(
                &s.add_following_row,
                (follower.0, bucket, ms, followee.0, ts)
            ),
            self.session
                .execute_unpaged(&s.add_following_bucket, (follower.0, bucket)),
            self.session
                .execute_unpaged(&s.put_follow_time, (follower.0, followee.0, ms, ts)),
        )
        .map_err(err)?;
        Ok(())
    }

    async fn remove_follow_edge(
        &self,
        follower: UserId,
        followee: UserId,
        followed_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let s = &self.social;
        let ms = match followed_at {
            Some(t) => Some(t.timestamp_millis()),
            None => {
                let rows: Vec<(i64,)> = self
                    .select(&s.get_follow_time, (follower.0, followee.0))
                    .await?;
                rows.first().map(|&(ms,)| ms)
            }
        };
        let ts = micros(at);
        if let Some(ms) = ms {
            let bucket = bucket_of(ms);
            futures::try_join!(
                self.session.execute_unpaged(
                    &s.remove_followers_row,
                    (ts, followee.0, bucket, ms, follower.0)
                ),
                self.session.execute_unpaged(
                    &s.remove_following_row,
                    (ts, follower.0, bucket, ms, followee.0)
                ),
            )
            .map_err(err)?;
        }
        self.session
            .execute_unpaged(&s.remove_follow_time, (ts, follower.0, followee.0))
            .await
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::prefixes;

    #[test]
    fn prefixes_are_lower_case_and_bounded() {
        assert_eq!(prefixes(&["Al", "al"]), vec!["a", "al"]);
        let long = prefixes(&["Éloïse Hernández-Baptiste"]);
        assert_eq!(long.len(), 16);
        assert_eq!(long.last().unwrap(), "éloïse hernández");
    }
}
