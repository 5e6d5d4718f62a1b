//! Inbox edits: dismissing one notification and clearing them all.
//!
//! The write side keeps no notifications (the projector makes them from
//! their causes), so it records what the account took out: each dismissed
//! id, and the newest clear as the newest id drawn when it was made.
//! `projector rebuild` leaves both out; their events take them out of the
//! read model.
//!
//! Runs inside the caller's transaction, which holds the account's key lock.

use contracts::events::{Event, NotificationDismissed, NotificationsCleared};
use contracts::ids::{NotificationId, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::outbox;

/// Takes `id` out of `user`'s inbox and appends `notification.dismissed`;
/// an id dismissed already, or cleared, appends nothing. Any id is
/// accepted: one that names no notification of the user's takes out
/// nothing.
pub async fn dismiss(
    conn: &mut PgConnection,
    user: UserId,
    id: NotificationId,
) -> Result<Option<Uuid>, sqlx::Error> {
    let dismissed: Option<(chrono::DateTime<chrono::Utc>,)> = sqlx::query_as(
        "INSERT INTO notification_dismissals (user_id, notification_id)
         SELECT $1, $2
          WHERE NOT EXISTS (
              SELECT 1 FROM notification_clears WHERE user_id = $1 AND up_to >= $2)
         ON CONFLICT DO NOTHING
         RETURNING dismissed_at",
    )
    .bind(user.0)
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((dismissed_at,)) = dismissed else {
        return Ok(None);
    };
    let event = Event::NotificationDismissed(NotificationDismissed {
        user_id: user,
        notification_id: id,
        dismissed_at,
    });
    Ok(Some(outbox::append(conn, &event).await?.id))
}

/// Takes every notification of `user`'s out of the inbox: those with ids up
/// to the newest id drawn so far, whose causes may still be on their way
/// to the read model. Appends `notifications.cleared` unless nothing was
/// drawn since the last clear.
pub async fn clear(conn: &mut PgConnection, user: UserId) -> Result<Option<Uuid>, sqlx::Error> {
    let cleared: Option<(i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "INSERT INTO notification_clears AS c (user_id, up_to)
         VALUES ($1, COALESCE(
             pg_sequence_last_value(pg_get_serial_sequence('posts', 'id')::regclass), 0))
         ON CONFLICT (user_id) DO UPDATE
            SET up_to = EXCLUDED.up_to, cleared_at = now()
            WHERE c.up_to < EXCLUDED.up_to
         RETURNING up_to, cleared_at",
    )
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((up_to, cleared_at)) = cleared else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM notification_dismissals WHERE user_id = $1 AND notification_id <= $2")
        .bind(user.0)
        .bind(up_to)
        .execute(&mut *conn)
        .await?;
    let event = Event::NotificationsCleared(NotificationsCleared {
        user_id: user,
        up_to: NotificationId(up_to),
        cleared_at,
    });
    Ok(Some(outbox::append(conn, &event).await?.id))
}
