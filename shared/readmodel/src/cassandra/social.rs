//! [`SocialReader`] and [`SocialWriter`] on Cassandra / ScyllaDB (tables in
//! `schema/cassandra/0002_conversations.cql`).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::{Bucketed, CONCURRENCY, CassandraStore, bucket_of, err, follower_shard, micros};
use crate::social::{
    FollowEdge, FollowList, LikeState, SEARCH_CANDIDATES, SocialReader, SocialWriter,
};
use crate::{FeedPosition, FeedReader, PostCounts, ProfileRecord, StoreError};
use contracts::ids::{PostId, UserId};

/// Longest prefix `profiles_by_prefix` holds; longer queries are looked up
/// by their first this many characters and checked against the names.
const MAX_PREFIX_CHARS: usize = 16;

pub(super) struct Statements {
    get_counts: PreparedStatement,
    put_counts: PreparedStatement,
    liked_among: PreparedStatement,
    liked_posts: PreparedStatement,
    set_liked: PreparedStatement,
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

impl Statements {
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
            liked_among: prepare(
                "SELECT post_id, liked, WRITETIME(liked) FROM likes_by_user
                 WHERE user_id = ? AND post_id IN ?",
            )
            .await?,
            liked_posts: prepare(
                "SELECT post_id, liked FROM likes_by_user WHERE user_id = ? AND post_id > ? LIMIT ?",
            )
            .await?,
            set_liked: prepare(
                "INSERT INTO likes_by_user (user_id, post_id, liked) VALUES (?, ?, ?)
                 USING TIMESTAMP ?",
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
    async fn select<T>(
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

    async fn like_states(
        &self,
        user: UserId,
        ids: &[PostId],
    ) -> Result<Vec<(PostId, LikeState)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = ids.iter().map(|p| p.0).collect();
        let rows: Vec<(i64, bool, i64)> =
            self.select(&self.social.liked_among, (user.0, ids)).await?;
        Ok(rows
            .into_iter()
            .map(|(id, liked, version)| (PostId(id), LikeState { liked, version }))
            .collect())
    }

    /// Reads past withdrawn likes (rows with `liked` false) until `limit`
    /// liked posts are found or the partition ends.
    async fn liked_posts(
        &self,
        user: UserId,
        after: Option<PostId>,
        limit: usize,
    ) -> Result<Vec<PostId>, StoreError> {
        let mut found = Vec::new();
        let mut from = after.map_or(i64::MIN, |p| p.0);
        let chunk = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        loop {
            let rows: Vec<(i64, bool)> = self
                .select(&self.social.liked_posts, (user.0, from, chunk))
                .await?;
            let exhausted = rows.len() < chunk as usize;
            for (post, liked) in rows {
                from = post;
                if liked {
                    found.push(PostId(post));
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

    async fn set_liked(
        &self,
        user: UserId,
        post: PostId,
        liked: bool,
        version: i64,
    ) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(&self.social.set_liked, (user.0, post.0, liked, version))
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
