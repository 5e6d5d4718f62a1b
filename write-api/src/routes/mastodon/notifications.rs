//! Markers and inbox edits: `POST /api/v1/markers`,
//! `POST /api/v1/notifications/clear` and `…/:id/dismiss`. Each is a
//! command like any other (rate limit, key lock, outbox event,
//! idempotency) and records itself for read-your-writes.

use std::sync::Arc;

use contracts::consistency::ConsistencyToken;
use contracts::ids::{NotificationId, UserId};
use mastodon::auth::Caller;
use mastodon::entities::{Marker, time};
use mastodon::errors::MastodonError;
use mastodon::params::{Params, path_id};
use poem::handler;
use poem::web::{Data, Json, Path};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::api;
use crate::idempotency::{self, Request as Command};
use crate::inbox;
use crate::markers::{self, Timeline};
use crate::state::AppState;

/// The marker parameters a client may send, and the timeline of each.
const MARKERS: [(&str, &str, Timeline); 2] = [
    ("home", "home[last_read_id]", Timeline::Home),
    (
        "notifications",
        "notifications[last_read_id]",
        Timeline::Notifications,
    ),
];

/// `POST /api/v1/markers`: moves the home and/or notifications marker, in
/// one transaction, and answers with the markers it was sent.
#[handler]
pub async fn set_markers(
    Data(state): Data<&Arc<AppState>>,
    caller: Caller,
    params: Params,
) -> poem::Result<Json<Value>> {
    let user = caller.require("write:statuses")?;
    let mut moves = Vec::new();
    for (name, param, timeline) in MARKERS {
        let Some(raw) = params.text(param) else {
            continue;
        };
        let id = raw
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| MastodonError::unprocessable(format!("{param} must be an id")))?;
        moves.push((name, timeline, id));
    }
    if moves.is_empty() {
        return Ok(Json(json!({})));
    }
    admit(state, user).await?;
    let fingerprint: Map<String, Value> = moves
        .iter()
        .map(|(name, _, id)| ((*name).to_owned(), json!(id)))
        .collect();
    let command = Command::new(user, None, "POST", "/api/v1/markers", &fingerprint);
    let (markers, token) = idempotency::run(&state.db, user, command, async |tx| {
        let mut answered = Map::new();
        let mut last_event = None;
        for &(name, timeline, id) in &moves {
            let stored = markers::set(tx, user, timeline, id).await?;
            last_event = stored.event.or(last_event);
            let marker = Marker {
                last_read_id: stored.last_read_id.to_string(),
                version: stored.version,
                updated_at: time(stored.updated_at),
            };
            answered.insert(name.to_owned(), json!(marker));
        }
        Ok((answered, token(last_event)))
    })
    .await
    .map_err(api)?;
    state.recent_writes.record(user, token.event()).await;
    Ok(Json(Value::Object(markers)))
}

/// `POST /api/v1/notifications/:id/dismiss`: answers `{}`, also for an id
/// that names no notification of the caller's (there is none to show).
#[handler]
pub async fn dismiss(
    Data(state): Data<&Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> poem::Result<Json<Value>> {
    let user = caller.require("write:notifications")?;
    let id = NotificationId(path_id(&id)?);
    admit(state, user).await?;
    let path = format!("/api/v1/notifications/{}/dismiss", id.0);
    let command = Command::new(user, None, "POST", &path, &json!({}));
    let ((), token) = idempotency::run(&state.db, user, command, async |tx| {
        let event = inbox::dismiss(tx, user, id).await?;
        Ok(((), token(event)))
    })
    .await
    .map_err(api)?;
    state.recent_writes.record(user, token.event()).await;
    Ok(Json(json!({})))
}

/// `POST /api/v1/notifications/clear`: answers `{}`.
#[handler]
pub async fn clear(Data(state): Data<&Arc<AppState>>, caller: Caller) -> poem::Result<Json<Value>> {
    let user = caller.require("write:notifications")?;
    admit(state, user).await?;
    let command = Command::new(
        user,
        None,
        "POST",
        "/api/v1/notifications/clear",
        &json!({}),
    );
    let ((), token) = idempotency::run(&state.db, user, command, async |tx| {
        let event = inbox::clear(tx, user).await?;
        Ok(((), token(event)))
    })
    .await
    .map_err(api)?;
    state.recent_writes.record(user, token.event()).await;
    Ok(Json(json!({})))
}

/// Marker moves, dismissals and clears share one rate limit.
async fn admit(state: &AppState, user: UserId) -> poem::Result<()> {
    state
        .writes
        .markers
        .admit(&state.db, &user.to_string())
        .await
        .map_err(api)
}

fn token(event: Option<Uuid>) -> ConsistencyToken {
    event.map_or_else(ConsistencyToken::nothing, ConsistencyToken::of)
}
