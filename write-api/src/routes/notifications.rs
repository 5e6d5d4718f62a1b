use std::sync::Arc;

use contracts::consistency::ConsistencyToken;
use platform::auth::BearerAuth;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;

use super::Tag;
use crate::idempotency::{self, Request};
use crate::markers::{self, Timeline};
use crate::state::AppState;
use platform::error::{ApiError, ApiResult};

pub struct NotificationsApi(pub Arc<AppState>);

/// How far the caller has read their notifications.
#[derive(Object, Serialize)]
#[oai(example)]
struct MarkerUpdate {
    /// The id (a string) of the newest notification read; those above it
    /// count as unread.
    #[oai(validator(max_length = 20))]
    last_read_id: String,
}

impl poem_openapi::types::Example for MarkerUpdate {
    fn example() -> Self {
        Self {
            last_read_id: "1042".into(),
        }
    }
}

#[derive(ApiResponse)]
enum MarkerResponse {
    /// The marker is set (also when it already was there).
    #[oai(status = 204)]
    Done(#[oai(header = "Consistency-Token")] String),
}

#[OpenApi(tag = "Tag::Notifications")]
impl NotificationsApi {
    /// Set the notifications read marker.
    #[oai(
        path = "/v1/notifications/marker",
        method = "put",
        operation_id = "set_notifications_marker"
    )]
    async fn set_marker(
        &self,
        auth: BearerAuth,
        /// Repeats with the same key within 24 h replay the first response.
        #[oai(name = "Idempotency-Key", validator(max_length = 64))]
        idempotency_key: Header<Option<String>>,
        body: Json<MarkerUpdate>,
    ) -> ApiResult<MarkerResponse> {
        let last_read_id = body
            .last_read_id
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| {
                ApiError::invalid_field("last_read_id", "must be a notification id (digits)")
            })?;
        self.0
            .writes
            .markers
            .admit(&self.0.db, &auth.0.to_string())
            .await?;
        let request = Request::new(
            auth.0,
            idempotency_key.0.as_deref(),
            "PUT",
            "/v1/notifications/marker",
            &body.0,
        );
        let ((), token) = idempotency::run(&self.0.db, auth.0, request, async |tx| {
            let stored = markers::set(tx, auth.0, Timeline::Notifications, last_read_id).await?;
            Ok((
                (),
                stored
                    .event
                    .map_or_else(ConsistencyToken::nothing, ConsistencyToken::of),
            ))
        })
        .await?;
        Ok(MarkerResponse::Done(token.encode()))
    }
}
