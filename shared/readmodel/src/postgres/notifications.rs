//! [`NotificationReader`] and [`NotificationWriter`] on the PostgreSQL read
//! database (`schema/read/0007_notifications.sql`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PgFeedStore;
use crate::StoreError;
use crate::notifications::{
    Marker, NotificationKind, NotificationReader, NotificationRecord, NotificationRow,
    NotificationWriter,
};
use contracts::ids::{NotificationId, PostId, UserId};

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

    async fn marker(&self, user: UserId) -> Result<Option<Marker>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT last_read_id, version FROM notification_markers WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(last_read_id, version)| Marker {
            last_read_id: NotificationId(last_read_id),
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
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notifications (recipient_id, id, kind, actor_id, post_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(recipient.0)
        .bind(n.id.0)
        .bind(n.kind.as_str())
        .bind(n.actor.0)
        .bind(n.post.map(|p| p.0))
        .bind(n.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_notification(
        &self,
        recipient: UserId,
        id: NotificationId,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM notifications WHERE recipient_id = $1 AND id = $2")
            .bind(recipient.0)
            .bind(id.0)
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
        Ok(done.rows_affected() as usize)
    }

    async fn put_marker(&self, user: UserId, marker: Marker) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notification_markers AS m (user_id, last_read_id, version)
             VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE
                SET last_read_id = EXCLUDED.last_read_id, version = EXCLUDED.version
                WHERE m.version < EXCLUDED.version",
        )
        .bind(user.0)
        .bind(marker.last_read_id.0)
        .bind(marker.version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
