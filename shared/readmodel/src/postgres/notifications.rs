//! [`NotificationReader`] and [`NotificationWriter`] on the PostgreSQL read
//! database (`schema/read/0007_notifications.sql`,
//! `0010_markers_inbox_edits_favourites.sql`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::PgFeedStore;
use crate::StoreError;
use crate::notifications::{
    Marker, NotificationKind, NotificationReader, NotificationRecord, NotificationRow,
    NotificationWriter, Timeline,
};
use contracts::ids::{NotificationId, PostId, UserId};

fn marker_table(timeline: Timeline) -> &'static str {
    match timeline {
        Timeline::Home => "home_markers",
        Timeline::Notifications => "notification_markers",
    }
}

#[async_trait]
impl NotificationReader for PgFeedStore {
    async fn notifications_page(
        &self,
        recipient: UserId,
        before: Option<NotificationId>,
        kinds: &[NotificationKind],
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let rows: Vec<NotificationRow> = sqlx::query_as(
            "SELECT id, kind, actor_id, post_id, created_at FROM notifications
             WHERE recipient_id = $1 AND id < $2 AND (cardinality($3::TEXT[]) = 0 OR kind = ANY($3))
             ORDER BY id DESC LIMIT $4",
        )
        .bind(recipient.0)
        .bind(before.map_or(i64::MAX, |b| b.0))
        .bind(&kinds)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(NotificationRecord::try_from).collect()
    }

    async fn unread_count(
        &self,
        recipient: UserId,
        after: NotificationId,
        cap: usize,
    ) -> Result<usize, StoreError> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM (SELECT 1 FROM notifications
                 WHERE recipient_id = $1 AND id > $2 LIMIT $3) AS unread",
        )
        .bind(recipient.0)
        .bind(after.0)
        .bind(cap as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(count as usize)
    }

    async fn marker(&self, user: UserId, timeline: Timeline) -> Result<Option<Marker>, StoreError> {
        let table = marker_table(timeline);
        let row: Option<(i64, i64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT last_read_id, version FROM {table} WHERE user_id = $1"
        )))
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(last_read_id, version)| Marker {
            last_read_id,
            version,
        }))
    }
}

#[async_trait]
impl NotificationWriter for PgFeedStore {
    async fn add_notification(
        &self,
        recipient: UserId,
        n: &NotificationRecord,
    ) -> Result<bool, StoreError> {
        let (shows,): (bool,) = sqlx::query_as(
            "WITH gone AS (
                 SELECT 1 FROM notification_tombstones WHERE recipient_id = $1 AND id = $2
                 UNION ALL
                 SELECT 1 FROM notifications_cleared WHERE recipient_id = $1 AND up_to >= $2),
             added AS (
                 INSERT INTO notifications (recipient_id, id, kind, actor_id, post_id, created_at)
                 SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM gone)
                 ON CONFLICT DO NOTHING)
             SELECT NOT EXISTS (SELECT 1 FROM gone)",
        )
        .bind(recipient.0)
        .bind(n.id.0)
        .bind(n.kind.as_str())
        .bind(n.actor.0)
        .bind(n.post.map(|p| p.0))
        .bind(n.created_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(shows)
    }

    async fn remove_notification(
        &self,
        recipient: UserId,
        id: NotificationId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "WITH removed AS (
                 DELETE FROM notifications WHERE recipient_id = $1 AND id = $2)
             INSERT INTO notification_tombstones (recipient_id, id, removed_at)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(recipient.0)
        .bind(id.0)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_notifications_about(
        &self,
        post: PostId,
        _at: DateTime<Utc>,
    ) -> Result<Vec<(UserId, NotificationId)>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "DELETE FROM notifications WHERE post_id = $1 RETURNING recipient_id, id",
        )
        .bind(post.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(crate::notifications::withdrawn(rows))
    }

    async fn trim_notifications(
        &self,
        recipient: UserId,
        keep: usize,
        since: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let done = sqlx::query(
            "DELETE FROM notifications
             WHERE recipient_id = $1 AND created_at < $3 AND id < (
                 SELECT id FROM notifications WHERE recipient_id = $1
                 ORDER BY id DESC OFFSET $2 LIMIT 1) + 1",
        )
        .bind(recipient.0)
        .bind(keep as i64)
        .bind(since)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "DELETE FROM notification_tombstones WHERE recipient_id = $1 AND removed_at < $2",
        )
        .bind(recipient.0)
        .bind(since)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() as usize)
    }

    async fn clear_notifications(
        &self,
        recipient: UserId,
        up_to: NotificationId,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "WITH removed AS (
                 DELETE FROM notifications WHERE recipient_id = $1 AND id <= $2)
             INSERT INTO notifications_cleared AS c (recipient_id, up_to) VALUES ($1, $2)
             ON CONFLICT (recipient_id) DO UPDATE SET up_to = GREATEST(c.up_to, EXCLUDED.up_to)",
        )
        .bind(recipient.0)
        .bind(up_to.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn put_marker(
        &self,
        user: UserId,
        timeline: Timeline,
        marker: Marker,
    ) -> Result<(), StoreError> {
        let table = marker_table(timeline);
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} AS m (user_id, last_read_id, version)
             VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE
                SET last_read_id = EXCLUDED.last_read_id, version = EXCLUDED.version
                WHERE m.version < EXCLUDED.version"
        )))
        .bind(user.0)
        .bind(marker.last_read_id)
        .bind(marker.version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
