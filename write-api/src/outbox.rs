//! Appending events to the transactional outbox.
//!
//! Called inside the command's transaction, so the event exists if and only
//! if the command's rows do. The relay publishes it later.

use chrono::Utc;
use contracts::events::{Envelope, Event};
use sqlx::PgConnection;
use uuid::Uuid;

/// Writes `event` to the outbox and returns its envelope (with its id).
pub async fn append(conn: &mut PgConnection, event: &Event) -> Result<Envelope, sqlx::Error> {
    let envelope = Envelope::new(Uuid::now_v7(), Utc::now(), event);
    let (aggregate_type, aggregate_id) = event.aggregate();
    sqlx::query(
        "INSERT INTO outbox
            (event_id, aggregate_type, aggregate_id, event_type, event_version, key, payload,
             created_at, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(envelope.id)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(&envelope.event_type)
    .bind(envelope.version as i16)
    .bind(event.partition_key().to_string())
    .bind(&envelope.data)
    .bind(envelope.occurred_at)
    .bind(platform::ops::current_request_id())
    .execute(conn)
    .await?;
    Ok(envelope)
}
