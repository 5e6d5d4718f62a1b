use std::sync::Arc;

use chrono::{DateTime, Utc};
use contracts::cursor::{Cursor, FeedPosition, Scope};
use contracts::ids::{NotificationId, PostId};
use platform::auth::BearerAuth;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use readmodel::NotificationKind;

use super::Tag;
use super::views::{AuthorView, ItemView, after, bad_cursor};
use crate::feed::FeedService;
use crate::inbox::{Notification, NotificationPage};
use platform::error::{ApiError, ApiResult};

pub struct NotificationsApi(pub Arc<FeedService>);

/// Something another account did that concerns the caller.
#[derive(Object)]
pub struct NotificationView {
    id: String,
    /// `follow`, `like`, `repost`, `reply` or `mention`.
    #[oai(rename = "type")]
    kind: String,
    created_at: DateTime<Utc>,
    /// Who did it.
    account: AuthorView,
    /// The post liked or reposted, or the reply or mention itself; absent
    /// for a follow.
    #[oai(skip_serializing_if_is_none)]
    item: Option<ItemView>,
}

/// A page of notifications, newest first.
#[derive(Object)]
#[oai(example)]
pub struct NotificationPageView {
    items: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

/// How far the caller has read their notifications.
#[derive(Object)]
#[oai(example)]
pub struct MarkerView {
    /// `"0"` until the caller sets the marker.
    last_read_id: String,
    /// Notifications above the marker, counted up to 1,000.
    unread_count: u64,
}

impl poem_openapi::types::Example for NotificationPageView {
    fn example() -> Self {
        let created_at = DateTime::from_timestamp(1_763_800_000, 0).unwrap_or_default();
        let account = || AuthorView::example_author("7", "bob", "Bob");
        Self {
            items: vec![
                NotificationView {
                    id: "1042".into(),
                    kind: "like".into(),
                    created_at,
                    account: account(),
                    item: Some(poem_openapi::types::Example::example()),
                },
                NotificationView {
                    id: "1040".into(),
                    kind: "follow".into(),
                    created_at,
                    account: account(),
                    item: None,
                },
            ],
            next_cursor: Some("AQYAAAAAAAAAAQAAAZqtQ2wAAAAAAAAABBCj3dNx".into()),
        }
    }
}

impl poem_openapi::types::Example for MarkerView {
    fn example() -> Self {
        Self {
            last_read_id: "1040".into(),
            unread_count: 1,
        }
    }
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.record.id.to_string(),
            kind: n.record.kind.as_str().to_owned(),
            created_at: n.record.created_at,
            account: AuthorView::from(n.account),
            item: n.item.map(ItemView::from),
        }
    }
}

/// Parses the `types` filter, a comma-separated list of kinds; an unknown
/// name is the error.
fn parse_kinds(types: Option<&str>) -> Result<Vec<NotificationKind>, String> {
    let mut kinds = Vec::new();
    for name in types.unwrap_or_default().split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let kind = NotificationKind::parse(name).ok_or_else(|| name.to_owned())?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

fn bad_kind(name: String) -> ApiError {
    ApiError::bad_field(
        "types",
        format!("unknown type `{name}`; use follow, like, repost, reply or mention"),
    )
}

fn page_view(page: NotificationPage, scope: Scope) -> Json<NotificationPageView> {
    let next_cursor = page.next.map(|last| {
        let after = FeedPosition {
            created_at_ms: last.created_at.timestamp_millis(),
            post_id: PostId(last.id.0),
        };
        Cursor { scope, after }.encode()
    });
    Json(NotificationPageView {
        items: page
            .notifications
            .into_iter()
            .map(NotificationView::from)
            .collect(),
        next_cursor,
    })
}

#[OpenApi(tag = "Tag::Notifications")]
impl NotificationsApi {
    /// The caller's notifications, newest first.
    #[oai(
        path = "/v1/notifications",
        method = "get",
        operation_id = "notifications"
    )]
    async fn notifications(
        &self,
        auth: BearerAuth,
        /// Items per page, 1-100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 128))]
        cursor: Query<Option<String>>,
        /// Only these types, comma-separated: `follow`, `like`, `repost`,
        /// `reply`, `mention`.
        #[oai(validator(max_length = 128))]
        types: Query<Option<String>>,
    ) -> ApiResult<Json<NotificationPageView>> {
        let scope = Scope::Notifications(auth.0);
        let before = after(cursor.0.as_deref(), scope)
            .map_err(bad_cursor)?
            .map(|p| NotificationId(p.post_id.0));
        let kinds = parse_kinds(types.0.as_deref()).map_err(bad_kind)?;
        let limit = limit.0.unwrap_or(20) as usize;
        let page = self
            .0
            .notifications_page(auth.0, before, &kinds, limit)
            .await?;
        Ok(page_view(page, scope))
    }

    /// The caller's read marker and how many notifications are unread.
    #[oai(
        path = "/v1/notifications/marker",
        method = "get",
        operation_id = "notifications_marker"
    )]
    async fn marker(&self, auth: BearerAuth) -> ApiResult<Json<MarkerView>> {
        let state = self.0.notifications_marker(auth.0).await?;
        Ok(Json(MarkerView {
            last_read_id: state.last_read_id.to_string(),
            unread_count: state.unread_count as u64,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_a_comma_list_of_known_kinds() {
        assert_eq!(parse_kinds(None).unwrap(), []);
        assert_eq!(
            parse_kinds(Some("like, mention,like,")).unwrap(),
            [NotificationKind::Like, NotificationKind::Mention]
        );
        assert!(parse_kinds(Some("like,favourite")).is_err());
    }
}
