//! [`NotificationReader`] and [`NotificationWriter`] on Cassandra /
//! ScyllaDB (tables in `schema/cassandra/0004_notifications.cql` and
//! `0006_markers_favourites.cql`).
//!
//! Everything that takes a notification out is a delete stamped with its
//! own time, later than the notification's creation time it was written
//! with, so it wins whichever arrives first; a clear is one range delete.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::{CassandraStore, err, micros};
use crate::StoreError;
use crate::notifications::{
    Marker, NotificationKind, NotificationReader, NotificationRecord, NotificationRow,
    NotificationWriter, Timeline,
};
use contracts::ids::{NotificationId, PostId, UserId};

/// Rows read per step while filtering an inbox by kind, which Cassandra
/// cannot do by itself; an inbox is bounded, so the scan is too.
const SCAN: i32 = 200;
/// Rows past the kept ones a trim looks at; the rest wait for the next trim.
const TRIM_SCAN: usize = 1_000;

pub(super) struct Statements {
    page: PreparedStatement,
    unread: PreparedStatement,
    add: PreparedStatement,
    add_by_post: PreparedStatement,
    shows: PreparedStatement,
    remove: PreparedStatement,
    clear: PreparedStatement,
    about: PreparedStatement,
    remove_by_post: PreparedStatement,
    trim_scan: PreparedStatement,
    get_marker: PreparedStatement,
    put_marker: PreparedStatement,
    get_home_marker: PreparedStatement,
    put_home_marker: PreparedStatement,
}

impl Statements {
    fn markers(&self, timeline: Timeline) -> (&PreparedStatement, &PreparedStatement) {
        match timeline {
            Timeline::Home => (&self.get_home_marker, &self.put_home_marker),
            Timeline::Notifications => (&self.get_marker, &self.put_marker),
        }
    }
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, StoreError> {
        let prepare = |cql: &'static str| async move { session.prepare(cql).await.map_err(err) };
        Ok(Self {
            page: prepare(
                "SELECT id, kind, actor_id, post_id, created_at FROM notifications
                 WHERE recipient_id = ? AND id < ? LIMIT ?",
            )
            .await?,
            unread: prepare(
                "SELECT id FROM notifications WHERE recipient_id = ? AND id > ? LIMIT ?",
            )
            .await?,
            add: prepare(
                "INSERT INTO notifications (recipient_id, id, kind, actor_id, post_id, created_at)
                 VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            add_by_post: prepare(
                "INSERT INTO notifications_by_post (post_id, recipient_id, id) VALUES (?, ?, ?)",
            )
            .await?,
            shows: prepare("SELECT id FROM notifications WHERE recipient_id = ? AND id = ?")
                .await?,
            remove: prepare(
                "DELETE FROM notifications USING TIMESTAMP ? WHERE recipient_id = ? AND id = ?",
            )
            .await?,
            clear: prepare(
                "DELETE FROM notifications USING TIMESTAMP ? WHERE recipient_id = ? AND id <= ?",
            )
            .await?,
            about: prepare("SELECT recipient_id, id FROM notifications_by_post WHERE post_id = ?")
                .await?,
            remove_by_post: prepare("DELETE FROM notifications_by_post WHERE post_id = ?").await?,
            trim_scan: prepare(
                "SELECT id, created_at FROM notifications WHERE recipient_id = ? LIMIT ?",
            )
            .await?,
            get_marker: prepare(
                "SELECT last_read_id, WRITETIME(last_read_id) FROM notification_markers
                 WHERE user_id = ?",
            )
            .await?,
            put_marker: prepare(
                "INSERT INTO notification_markers (user_id, last_read_id) VALUES (?, ?)
                 USING TIMESTAMP ?",
            )
            .await?,
            get_home_marker: prepare(
                "SELECT last_read_id, WRITETIME(last_read_id) FROM home_markers WHERE user_id = ?",
            )
            .await?,
            put_home_marker: prepare(
                "INSERT INTO home_markers (user_id, last_read_id) VALUES (?, ?) USING TIMESTAMP ?",
            )
            .await?,
        })
    }
}

#[async_trait]
impl NotificationReader for CassandraStore {
    async fn notifications_page(
        &self,
        recipient: UserId,
        before: Option<NotificationId>,
        kinds: &[NotificationKind],
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let st = &self.notifications;
        let mut found = Vec::new();
        let mut before = before.map_or(i64::MAX, |b| b.0);
        let step = if kinds.is_empty() {
            i32::try_from(limit).unwrap_or(i32::MAX)
        } else {
            SCAN
        };
        loop {
            let rows: Vec<NotificationRow> =
                self.select(&st.page, (recipient.0, before, step)).await?;
            let full = rows.len() == step as usize;
            if let Some(last) = rows.last() {
                before = last.0;
            }
            for row in rows {
                let n = NotificationRecord::try_from(row)?;
                if kinds.is_empty() || kinds.contains(&n.kind) {
                    found.push(n);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if !full {
                return Ok(found);
            }
        }
    }

    async fn unread_count(
        &self,
        recipient: UserId,
        after: NotificationId,
        cap: usize,
    ) -> Result<usize, StoreError> {
        let cap = i32::try_from(cap).unwrap_or(i32::MAX);
        let rows: Vec<(i64,)> = self
            .select(&self.notifications.unread, (recipient.0, after.0, cap))
            .await?;
        Ok(rows.len())
    }

    async fn marker(&self, user: UserId, timeline: Timeline) -> Result<Option<Marker>, StoreError> {
        let (get, _) = self.notifications.markers(timeline);
        let rows: Vec<(i64, i64)> = self.select(get, (user.0,)).await?;
        Ok(rows
            .into_iter()
            .next()
            .map(|(last_read_id, version)| Marker {
                last_read_id,
                version,
            }))
    }
}

#[async_trait]
impl NotificationWriter for CassandraStore {
    async fn add_notification(
        &self,
        recipient: UserId,
        n: &NotificationRecord,
    ) -> Result<bool, StoreError> {
        let st = &self.notifications;
        if let Some(post) = n.post {
            self.session
                .execute_unpaged(&st.add_by_post, (post.0, recipient.0, n.id.0))
                .await
                .map_err(err)?;
        }
        let values = (
            recipient.0,
            n.id.0,
            n.kind.as_str(),
            n.actor.0,
            n.post.map(|p| p.0),
            n.created_at,
            micros(n.created_at),
        );
        self.session
            .execute_unpaged(&st.add, values)
            .await
            .map_err(err)?;
        // A later delete shadows the row just written; only reading it
        // back tells.
        let found: Vec<(i64,)> = self.select(&st.shows, (recipient.0, n.id.0)).await?;
        Ok(!found.is_empty())
    }

    async fn remove_notification(
        &self,
        recipient: UserId,
        id: NotificationId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(&self.notifications.remove, (micros(at), recipient.0, id.0))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn remove_notifications_about(
        &self,
        post: PostId,
        at: DateTime<Utc>,
    ) -> Result<Vec<(UserId, NotificationId)>, StoreError> {
        let st = &self.notifications;
        let rows: Vec<(i64, i64)> = self.select(&st.about, (post.0,)).await?;
        for &(recipient, id) in &rows {
            self.session
                .execute_unpaged(&st.remove, (micros(at), recipient, id))
                .await
                .map_err(err)?;
        }
        self.session
            .execute_unpaged(&st.remove_by_post, (post.0,))
            .await
            .map_err(err)?;
        Ok(crate::notifications::withdrawn(rows))
    }

    async fn trim_notifications(
        &self,
        recipient: UserId,
        keep: usize,
        since: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let scan = i32::try_from(keep + TRIM_SCAN).unwrap_or(i32::MAX);
        let rows: Vec<(i64, DateTime<Utc>)> = self
            .select(&self.notifications.trim_scan, (recipient.0, scan))
            .await?;
        let now = Utc::now();
        let mut trimmed = 0;
        for &(id, created_at) in rows.iter().skip(keep) {
            if created_at < since {
                self.remove_notification(recipient, NotificationId(id), now)
                    .await?;
                trimmed += 1;
            }
        }
        Ok(trimmed)
    }

    async fn clear_notifications(
        &self,
        recipient: UserId,
        up_to: NotificationId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(
                &self.notifications.clear,
                (micros(at), recipient.0, up_to.0),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn put_marker(
        &self,
        user: UserId,
        timeline: Timeline,
        marker: Marker,
    ) -> Result<(), StoreError> {
        let (_, put) = self.notifications.markers(timeline);
        self.session
            .execute_unpaged(put, (user.0, marker.last_read_id, marker.version))
            .await
            .map_err(err)?;
        Ok(())
    }
}
