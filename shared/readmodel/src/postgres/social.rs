//! [`SocialReader`] and [`SocialWriter`] on the PostgreSQL read database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::{PgFeedStore, page_bounds, positions};
use crate::social::{
    Engagement, EngagementState, FollowEdge, FollowList, SocialReader, SocialWriter,
};
use crate::{FeedPosition, PostCounts, ProfileRecord, ProfileRow, StoreError};
use contracts::ids::{PostId, UserId};

fn ids<T>(items: &[T], id: impl Fn(&T) -> i64) -> Vec<i64> {
    items.iter().map(id).collect()
}

/// `prefix` as a `LIKE` pattern that matches it literally, then anything.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The table of an engagement's states and its state column: names from
/// this closed list are the only text spliced into its statements.
fn engagement_table(kind: Engagement) -> (&'static str, &'static str) {
    match kind {
        Engagement::Like => ("likes", "liked"),
        Engagement::Repost => ("reposts", "reposted"),
    }
}

#[async_trait]
impl SocialReader for PgFeedStore {
    async fn counts(&self, posts: &[PostId]) -> Result<Vec<(PostId, PostCounts)>, StoreError> {
        let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT post_id, likes, replies, reposts, version FROM post_counts
             WHERE post_id = ANY($1)",
        )
        .bind(ids(posts, |p| p.0))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, likes, replies, reposts, version)| {
                let counts = PostCounts {
                    likes,
                    replies,
                    reposts,
                    version,
                };
                (PostId(id), counts)
            })
            .collect())
    }

    async fn engagement_states(
        &self,
        kind: Engagement,
        user: UserId,
        posts: &[PostId],
    ) -> Result<Vec<(PostId, EngagementState)>, StoreError> {
        let (table, column) = engagement_table(kind);
        let rows: Vec<(i64, bool, i64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT post_id, {column}, version FROM {table}
             WHERE user_id = $1 AND post_id = ANY($2)"
        )))
        .bind(user.0)
        .bind(ids(posts, |p| p.0))
        .fetch_all(&self.pool)
        .await?;
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
        let (table, column) = engagement_table(kind);
        let rows: Vec<(i64,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT post_id FROM {table} WHERE user_id = $1 AND {column} AND post_id > $2
             ORDER BY post_id LIMIT $3"
        )))
        .bind(user.0)
        .bind(after.map_or(i64::MIN, |p| p.0))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| PostId(id)).collect())
    }

    async fn engaged_by(
        &self,
        kind: Engagement,
        post: PostId,
        before: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError> {
        let (table, column) = engagement_table(kind);
        let rows: Vec<(i64,)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT user_id FROM {table} WHERE post_id = $1 AND {column} AND user_id < $2
             ORDER BY user_id DESC LIMIT $3"
        )))
        .bind(post.0)
        .bind(before.map_or(i64::MAX, |u| u.0))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
    }

    async fn favourites_page(
        &self,
        user: UserId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, PostId)>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT like_id, post_id FROM favourites
             WHERE user_id = $1 AND like_id < $2 AND removed_at IS NULL
             ORDER BY like_id DESC LIMIT $3",
        )
        .bind(user.0)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit as i64)
        .fetch_all(&self.pool)
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
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT created_at_ms, post_id FROM replies
             WHERE parent_id = $1 AND (created_at_ms, post_id) > ($2, $3)
             ORDER BY created_at_ms, post_id LIMIT $4",
        )
        .bind(parent.0)
        .bind(ms)
        .bind(id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(positions(rows))
    }

    async fn reply_parents(&self, posts: &[PostId]) -> Result<Vec<(PostId, PostId)>, StoreError> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT post_id, parent_id FROM replies WHERE post_id = ANY($1)")
                .bind(ids(posts, |p| p.0))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(post, parent)| (PostId(post), PostId(parent)))
            .collect())
    }

    async fn follow_list(
        &self,
        list: FollowList,
        after: Option<FollowEdge>,
        limit: usize,
    ) -> Result<Vec<FollowEdge>, StoreError> {
        let (sql, key) = match list {
            FollowList::Followers(followee) => (
                "SELECT follower_id, followed_at_ms FROM follow_edges
                 WHERE followee_id = $1 AND (followed_at_ms, follower_id) < ($2, $3)
                 ORDER BY followed_at_ms DESC, follower_id DESC LIMIT $4",
                followee,
            ),
            FollowList::Following(follower) => (
                "SELECT followee_id, followed_at_ms FROM follow_edges
                 WHERE follower_id = $1 AND (followed_at_ms, followee_id) < ($2, $3)
                 ORDER BY followed_at_ms DESC, followee_id DESC LIMIT $4",
                follower,
            ),
        };
        let (ms, id) = page_bounds(after.map(|e| FeedPosition {
            created_at_ms: e.followed_at_ms,
            post_id: PostId(e.user.0),
        }));
        let rows: Vec<(i64, i64)> = sqlx::query_as(sql)
            .bind(key.0)
            .bind(ms)
            .bind(id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(user, followed_at_ms)| FollowEdge {
                followed_at_ms,
                user: UserId(user),
            })
            .collect())
    }

    async fn followers_among(
        &self,
        followee: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            // One primary-key lookup per candidate: with `follower_id =
            // ANY($2)` PostgreSQL may walk every follower of a popular
            // account instead (see the rebuild's source queries).
            "SELECT f.follower_id FROM unnest($2::bigint[]) AS c(id)
             JOIN followers f ON f.followee_id = $1 AND f.follower_id = c.id",
        )
        .bind(followee.0)
        .bind(ids(candidates, |u| u.0))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
    }

    async fn search_profiles(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<ProfileRecord>, StoreError> {
        let rows: Vec<ProfileRow> = sqlx::query_as(concat!(
            "SELECT ",
            profile_columns!(),
            " FROM profiles
             WHERE lower(username) LIKE $1 OR lower(display_name) LIKE $1
             ORDER BY followers_count DESC, id LIMIT $2"
        ))
        .bind(like_prefix(prefix))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ProfileRecord::from).collect())
    }
}

#[async_trait]
impl SocialWriter for PgFeedStore {
    async fn put_counts(&self, post: PostId, counts: PostCounts) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO post_counts (post_id, likes, replies, reposts, version)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (post_id) DO UPDATE SET likes = EXCLUDED.likes,
                 replies = EXCLUDED.replies, reposts = EXCLUDED.reposts,
                 version = EXCLUDED.version
             WHERE post_counts.version <= EXCLUDED.version",
        )
        .bind(post.0)
        .bind(counts.likes)
        .bind(counts.replies)
        .bind(counts.reposts)
        .bind(counts.version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_engaged(
        &self,
        kind: Engagement,
        user: UserId,
        post: PostId,
        state: EngagementState,
    ) -> Result<(), StoreError> {
        let (table, column) = engagement_table(kind);
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (user_id, post_id, {column}, version) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, post_id) DO UPDATE SET {column} = EXCLUDED.{column},
                 version = EXCLUDED.version
             WHERE {table}.version <= EXCLUDED.version"
        )))
        .bind(user.0)
        .bind(post.0)
        .bind(state.active)
        .bind(state.version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_favourite(
        &self,
        user: UserId,
        like_id: i64,
        post: PostId,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO favourites (user_id, like_id, post_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(user.0)
        .bind(like_id)
        .bind(post.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_favourite(
        &self,
        user: UserId,
        like_id: i64,
        post: PostId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO favourites AS f (user_id, like_id, post_id, removed_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, like_id) DO UPDATE SET removed_at = EXCLUDED.removed_at
             WHERE f.removed_at IS NULL",
        )
        .bind(user.0)
        .bind(like_id)
        .bind(post.0)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn index_profile(&self, _profile: &ProfileRecord) -> Result<(), StoreError> {
        // The expression indexes on `profiles` follow every snapshot.
        Ok(())
    }

    async fn add_reply(&self, parent: PostId, reply: FeedPosition) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO replies (parent_id, created_at_ms, post_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(parent.0)
        .bind(reply.created_at_ms)
        .bind(reply.post_id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_follow_edge(
        &self,
        follower: UserId,
        followee: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // A redelivered older follow never replaces a later one's time.
        sqlx::query(
            "INSERT INTO follow_edges (follower_id, followee_id, followed_at_ms)
             VALUES ($1, $2, $3)
             ON CONFLICT (follower_id, followee_id) DO UPDATE
                 SET followed_at_ms = EXCLUDED.followed_at_ms
             WHERE follow_edges.followed_at_ms < EXCLUDED.followed_at_ms",
        )
        .bind(follower.0)
        .bind(followee.0)
        .bind(at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_follow_edge(
        &self,
        follower: UserId,
        followee: UserId,
        _followed_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Only a follow made before the unfollow ends with it.
        sqlx::query(
            "DELETE FROM follow_edges
             WHERE follower_id = $1 AND followee_id = $2 AND followed_at_ms <= $3",
        )
        .bind(follower.0)
        .bind(followee.0)
        .bind(at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    #[test]
    fn wildcards_match_literally() {
        assert_eq!(like_prefix("al"), "al%");
        assert_eq!(like_prefix("a_b%c\\"), "a\\_b\\%c\\\\%");
    }
}
