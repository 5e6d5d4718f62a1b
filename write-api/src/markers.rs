//! The notifications read marker: how far an account has read its
//! notifications. Any id may be set (a client may mark notifications unread
//! again); the newest write wins, and its version orders it in the read
//! model.
//!
//! Runs inside the caller's transaction, which holds the account's key lock.

use contracts::events::{Event, NotificationMarkerUpdated};
use contracts::ids::{NotificationId, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::outbox;

/// Moves `user`'s marker to `last_read_id` and appends
/// `notification_marker.updated`; setting the id it already has changes
/// nothing and returns `None`.
pub async fn set(
    conn: &mut PgConnection,
    user: UserId,
    last_read_id: NotificationId,
) -> Result<Option<Uuid>, sqlx::Error> {
    let changed: Option<(i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "INSERT INTO notification_markers AS m (user_id, last_read_id, version)
         VALUES ($1, $2, 1)
         ON CONFLICT (user_id) DO UPDATE
            SET last_read_id = EXCLUDED.last_read_id, version = m.version + 1,
                updated_at = now()
            WHERE m.last_read_id <> EXCLUDED.last_read_id
         RETURNING version, updated_at",
    )
    .bind(user.0)
    .bind(last_read_id.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((version, updated_at)) = changed else {
        return Ok(None);
    };
    let event = Event::NotificationMarkerUpdated(NotificationMarkerUpdated {
        user_id: user,
        last_read_id,
        version,
        updated_at,
    });
    Ok(Some(outbox::append(conn, &event).await?.id))
}
