//! Mastodon's streaming API on the live hub that serves `/v1/stream`:
//! `GET /api/v1/streaming/user` (and `/user/notification`) as Server-Sent
//! Events, `/api/v1/streaming` as a WebSocket that names its stream in
//! the query (`stream=user`) or subscribes by message. Events are
//! Mastodon's: `update`, `delete`, `status.update`, `notification`.

use std::sync::Arc;

use mastodon::auth::Caller;
use mastodon::errors::MastodonError;
use mastodon::paging::origin;
use mastodon::params::Params;
use platform::auth::{RevokedSessions, TokenVerifier};
use poem::web::websocket::WebSocket;
use poem::web::{Data, Path};
use poem::{FromRequest, IntoResponse, Request, Response, handler};

use crate::routes::stream::{StreamQuery, Streams, Wire, open};
use crate::stream::LiveHub;

/// `GET /api/v1/streaming/health`.
#[handler]
pub fn health() -> &'static str {
    "OK"
}

async fn connect(
    req: &Request,
    ws: Option<WebSocket>,
    params: &Params,
    stream_names: &[&str],
    hub: &Arc<LiveHub>,
    verifier: &Arc<TokenVerifier>,
    revoked: &Arc<dyn RevokedSessions>,
) -> Response {
    let caller = match Caller::from_request_without_body(req).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let scope = if stream_names == ["user:notification"] {
        "read:notifications"
    } else {
        "read:statuses"
    };
    if let Err(e) = caller.require(scope) {
        return e.as_response_owned();
    }
    let mut streams = Streams::default();
    for name in stream_names {
        if !streams.subscribe(name, true) {
            return MastodonError::bad_request(format!("Unknown stream type: {name}"))
                .as_response_owned();
        }
    }
    let origin = origin(req);
    let wire = match ws {
        Some(_) => Wire::MastodonSocket { origin },
        None => Wire::MastodonEvents { origin },
    };
    let query = StreamQuery {
        access_token: params.get("access_token").map(str::to_owned),
    };
    open(req, ws, &query, hub, verifier, revoked, wire, streams).await
}

/// `GET /api/v1/streaming`: a WebSocket (or SSE) for the `stream` named
/// in the query, or, for a WebSocket, the ones it subscribes to.
#[handler]
pub async fn streaming(
    req: &Request,
    ws: Option<WebSocket>,
    params: Params,
    Data(hub): Data<&Arc<LiveHub>>,
    Data(verifier): Data<&Arc<TokenVerifier>>,
    Data(revoked): Data<&Arc<dyn RevokedSessions>>,
) -> Response {
    let names: Vec<&str> = params.text("stream").into_iter().collect();
    if names.is_empty() && ws.is_none() {
        return MastodonError::bad_request("stream is missing").as_response_owned();
    }
    connect(req, ws, &params, &names, hub, verifier, revoked).await
}

/// `GET /api/v1/streaming/:stream` and `/api/v1/streaming/user/notification`.
#[handler]
pub async fn named(
    req: &Request,
    ws: Option<WebSocket>,
    Path(path): Path<String>,
    params: Params,
    Data(hub): Data<&Arc<LiveHub>>,
    Data(verifier): Data<&Arc<TokenVerifier>>,
    Data(revoked): Data<&Arc<dyn RevokedSessions>>,
) -> Response {
    let name = path.replace('/', ":");
    connect(req, ws, &params, &[&name], hub, verifier, revoked).await
}

trait OwnedResponse {
    fn as_response_owned(&self) -> Response;
}

impl OwnedResponse for MastodonError {
    fn as_response_owned(&self) -> Response {
        poem::error::ResponseError::as_response(self).into_response()
    }
}
