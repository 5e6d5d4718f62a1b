//! Notifications and the read markers.

use std::sync::Arc;

use chrono::Utc;
use contracts::ids::NotificationId;
use mastodon::auth::Caller;
use mastodon::entities::{Marker, time};
use mastodon::errors::MastodonError;
use mastodon::paging::{Bounds, json_with_link, origin};
use mastodon::params::Params;
use poem::web::{Data, Json, Path};
use poem::{IntoResponse, Request, Response, handler};
use readmodel::notifications::{NotificationKind, Timeline};

use super::render;
use super::store_error;
use crate::feed::FeedService;
use crate::inbox::Notification;

const DEFAULT_LIMIT: usize = 40;
const MAX_LIMIT: usize = 80;
/// Notifications read at most while looking for the ones above a lower bound.
const SCAN_LIMIT: usize = 400;

/// This system's kinds a Mastodon notification type stands for.
fn kinds_of(mastodon_type: &str) -> &'static [NotificationKind] {
    match mastodon_type {
        "follow" => &[NotificationKind::Follow],
        "favourite" => &[NotificationKind::Like],
        "reblog" => &[NotificationKind::Repost],
        "mention" => &[NotificationKind::Mention, NotificationKind::Reply],
        _ => &[],
    }
}

/// The kinds `types[]` asks for minus `exclude_types[]`; unknown names
/// (other Mastodon types, or clients' malformed ones) match nothing.
fn kinds(params: &Params) -> Vec<NotificationKind> {
    let types = params.all("types");
    let excluded: Vec<NotificationKind> = params
        .all("exclude_types")
        .into_iter()
        .flat_map(kinds_of)
        .copied()
        .collect();
    let wanted: Vec<NotificationKind> = if types.is_empty() {
        NotificationKind::ALL.to_vec()
    } else {
        types.into_iter().flat_map(kinds_of).copied().collect()
    };
    wanted
        .into_iter()
        .filter(|k| !excluded.contains(k))
        .collect()
}

fn notification_id(raw: &str) -> Option<NotificationId> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(NotificationId)
}

/// `GET /api/v1/notifications`.
#[handler]
pub async fn list(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    caller: Caller,
    params: Params,
) -> poem::Result<Response> {
    let user = caller.require("read:notifications")?;
    let bounds = Bounds::from_params(&params, DEFAULT_LIMIT, MAX_LIMIT)?;
    let kinds = kinds(&params);
    let origin = origin(req);
    if kinds.is_empty() {
        return Ok(Json(Vec::<mastodon::entities::Notification>::new()).into_response());
    }
    let before = bounds.max_id.as_deref().and_then(notification_id);
    let lower = bounds
        .min_id
        .as_deref()
        .or(bounds.since_id.as_deref())
        .and_then(notification_id);
    let (notifications, next): (Vec<Notification>, Option<NotificationId>) = match lower {
        None => {
            let page = feeds
                .notifications_page(user, before, &kinds, bounds.limit)
                .await
                .map_err(store_error)?;
            (page.notifications, page.next.map(|n| n.id))
        }
        Some(lower) => {
            let page = feeds
                .notifications_page(user, before, &kinds, SCAN_LIMIT)
                .await
                .map_err(store_error)?;
            let mut above: Vec<Notification> = page
                .notifications
                .into_iter()
                .filter(|n| n.record.id > lower)
                .collect();
            if bounds.min_id.is_some() {
                let skip = above.len().saturating_sub(bounds.limit);
                above = above.split_off(skip);
            } else {
                above.truncate(bounds.limit);
            }
            let next = above.last().map(|n| n.record.id);
            (above, next)
        }
    };
    let first = notifications.first().map(|n| n.record.id.to_string());
    let next = next.map(|id| id.to_string());
    let body: Vec<_> = notifications
        .iter()
        .map(|n| render::notification(n, &origin))
        .collect();
    Ok(json_with_link(req, body, next.as_deref(), first.as_deref()))
}

/// `GET /api/v1/notifications/:id`.
#[handler]
pub async fn show(
    Data(feeds): Data<&Arc<FeedService>>,
    req: &Request,
    caller: Caller,
    Path(id): Path<String>,
) -> poem::Result<Json<mastodon::entities::Notification>> {
    let user = caller.require("read:notifications")?;
    let id = notification_id(&id).ok_or_else(MastodonError::not_found)?;
    let above = NotificationId(id.0.saturating_add(1));
    let page = feeds
        .notifications_page(user, Some(above), &NotificationKind::ALL, 1)
        .await
        .map_err(store_error)?;
    let found = page
        .notifications
        .first()
        .filter(|n| n.record.id == id)
        .ok_or_else(MastodonError::not_found)?;
    Ok(Json(render::notification(found, &origin(req))))
}

/// `GET /api/v1/markers`: the home and notifications markers asked for
/// with `timeline[]` (both when none is named), of those ever set.
#[handler]
pub async fn markers(
    Data(feeds): Data<&Arc<FeedService>>,
    caller: Caller,
    params: Params,
) -> poem::Result<Json<serde_json::Value>> {
    let user = caller.require("read:statuses")?;
    let asked = params.all("timeline");
    let mut answer = serde_json::Map::new();
    for (name, timeline) in [
        ("home", Timeline::Home),
        ("notifications", Timeline::Notifications),
    ] {
        if !asked.is_empty() && !asked.contains(&name) {
            continue;
        }
        let stored = feeds
            .store()
            .marker(user, timeline)
            .await
            .map_err(store_error)?;
        if let Some(marker) = stored {
            let marker = Marker {
                last_read_id: marker.last_read_id.to_string(),
                version: marker.version,
                // The read model keeps no time for a marker: this is when it
                // was read.
                updated_at: time(Utc::now()),
            };
            answer.insert(name.to_owned(), serde_json::json!(marker));
        }
    }
    Ok(Json(serde_json::Value::Object(answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mastodon_types_map_to_kinds_and_unknown_names_match_nothing() {
        let p = Params::parse("types[]=mention&types[]=favourite", None, b"").unwrap();
        assert_eq!(
            kinds(&p),
            [
                NotificationKind::Mention,
                NotificationKind::Reply,
                NotificationKind::Like
            ]
        );
        let p =
            Params::parse("exclude_types[]=follow&exclude_types[]=bogus%5B", None, b"").unwrap();
        assert_eq!(kinds(&p).len(), 4);
        let p = Params::parse("types[]=poll", None, b"").unwrap();
        assert!(kinds(&p).is_empty());
    }

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!(notification_id("7"), Some(NotificationId(7)));
        assert_eq!(notification_id("x"), None);
        assert_eq!(notification_id("0"), None);
    }
}
