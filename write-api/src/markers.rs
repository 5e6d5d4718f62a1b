//! Read markers: how far an account has read its home timeline or its
//! notifications. Any id may be set (a client may mark things unread
//! again); the newest write wins, and its version orders it in the read
//! model.
//!
//! Runs inside the caller's transaction, which holds the account's key lock.

use chrono::{DateTime, Utc};
use contracts::events::{Event, HomeMarkerUpdated, NotificationMarkerUpdated};
use contracts::ids::{NotificationId, PostId, UserId};
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use crate::outbox;

/// Which list a marker is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// The home feed; the id is a post's.
    Home,
    /// The inbox; the id is a notification's.
    Notifications,
}

impl Timeline {
    fn table(self) -> &'static str {
        match self {
            Self::Home => "home_markers",
            Self::Notifications => "notification_markers",
        }
    }
}

/// A marker as stored after a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub last_read_id: i64,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    /// The event the move appended; none when the marker was there already.
    pub event: Option<Uuid>,
}

/// Moves `user`'s `timeline` marker to `last_read_id` and appends its
/// `…marker.updated` event; setting the id it already has appends nothing.
pub async fn set(
    conn: &mut PgConnection,
    user: UserId,
    timeline: Timeline,
    last_read_id: i64,
) -> Result<Stored, sqlx::Error> {
    let table = timeline.table();
    let changed: Option<(i64, DateTime<Utc>)> = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO {table} AS m (user_id, last_read_id, version)
         VALUES ($1, $2, 1)
         ON CONFLICT (user_id) DO UPDATE
            SET last_read_id = EXCLUDED.last_read_id, version = m.version + 1,
                updated_at = now()
            WHERE m.last_read_id <> EXCLUDED.last_read_id
         RETURNING version, updated_at"
    )))
    .bind(user.0)
    .bind(last_read_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((version, updated_at)) = changed else {
        let (version, updated_at): (i64, DateTime<Utc>) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT version, updated_at FROM {table} WHERE user_id = $1"
        )))
        .bind(user.0)
        .fetch_one(&mut *conn)
        .await?;
        return Ok(Stored {
            last_read_id,
            version,
            updated_at,
            event: None,
        });
    };
    let event = match timeline {
        Timeline::Home => Event::HomeMarkerUpdated(HomeMarkerUpdated {
            user_id: user,
            last_read_id: PostId(last_read_id),
            version,
            updated_at,
        }),
        Timeline::Notifications => Event::NotificationMarkerUpdated(NotificationMarkerUpdated {
            user_id: user,
            last_read_id: NotificationId(last_read_id),
            version,
            updated_at,
        }),
    };
    let event = outbox::append(conn, &event).await?.id;
    Ok(Stored {
        last_read_id,
        version,
        updated_at,
        event: Some(event),
    })
}
