//! `GET /v1/stream`: the caller's live events over a WebSocket (an upgrade
//! request) or Server-Sent Events (any other `GET`).
//!
//! The access token comes in the `Authorization` header, the
//! `access_token` query parameter, or as the WebSocket subprotocol
//! (`Sec-WebSocket-Protocol`, echoed back), in that order of preference.
//! Each message is `{event, data}` JSON. A WebSocket gets a ping and an SSE
//! stream a comment every `STREAM_HEARTBEAT_SECS`. The server closes with
//! 1001 when it shuts down, 4001 when the token expires and 4008 when the
//! client reads too slowly (SSE: a `close` event naming the reason). SSE
//! resumes after `Last-Event-ID` for the last two minutes of the caller's
//! own messages.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use platform::auth::{RevokedSessions, TokenVerifier};
use platform::error::ApiError;
use poem::web::sse::{Event as SseEvent, SSE};
use poem::web::websocket::{CloseCode, Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use readmodel::cache::{LiveMessage, log_position};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::stream::render::render;
use crate::stream::{CloseReason, Connection, LiveHub, RefuseReason};

#[derive(Deserialize)]
struct StreamQuery {
    access_token: Option<String>,
}

/// Where the token came from; a subprotocol one is echoed back.
enum TokenSource {
    Header,
    Subprotocol,
}

fn bearer(req: &Request, query: &StreamQuery) -> Option<(String, TokenSource)> {
    let header = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| (t.trim().to_owned(), TokenSource::Header));
    let from_query = || query.access_token.clone().map(|t| (t, TokenSource::Header));
    let from_protocol = || {
        req.header("sec-websocket-protocol").and_then(|p| {
            p.split(',')
                .map(str::trim)
                .find(|p| !p.is_empty())
                .map(|t| (t.to_owned(), TokenSource::Subprotocol))
        })
    };
    header.or_else(from_query).or_else(from_protocol)
}

#[handler]
pub async fn stream(
    req: &Request,
    ws: Option<WebSocket>,
    Query(query): Query<StreamQuery>,
    Data(hub): Data<&Arc<LiveHub>>,
    Data(verifier): Data<&Arc<TokenVerifier>>,
    Data(revoked): Data<&Arc<dyn RevokedSessions>>,
) -> Response {
    let Some((token, source)) = bearer(req, &query) else {
        return ApiError::unauthorized("send an access token").into_response();
    };
    let (principal, expires_at) = match verifier.authenticate_until(&token, revoked.as_ref()).await
    {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let connection = match hub.join(principal.user).await {
        Ok(connection) => connection,
        Err(refused) => return refusal(refused),
    };
    let hub = Arc::clone(hub);
    let until = expiry(expires_at);
    match ws {
        Some(ws) => {
            let ws = match source {
                TokenSource::Subprotocol => ws.protocols([token]),
                TokenSource::Header => ws,
            };
            let ws = ws.config(socket_config());
            ws.on_upgrade(move |socket| websocket(socket, connection, hub, until))
                .into_response()
        }
        None => {
            let last_event_id = req.header("last-event-id").map(str::to_owned);
            let heartbeat = hub.limits.heartbeat;
            let (events, rx) = mpsc::channel(16);
            tokio::spawn(server_sent(connection, hub, until, last_event_id, events));
            let body = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|event| (event, rx))
            });
            SSE::new(body)
                .keep_alive(heartbeat)
                .with_header("X-Accel-Buffering", "no")
                .into_response()
        }
    }
}

/// Small buffers: most streams are idle, and tungstenite's defaults (128
/// KiB to read and 128 KiB to write, each grown on first use, as by a
/// heartbeat) cost a replica gigabytes at 10,000 streams. Clients send
/// nothing but control frames, so their messages are capped too.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

fn refusal(refused: RefuseReason) -> Response {
    metrics::counter!("read_stream_refused_total", "reason" => match refused {
        RefuseReason::AccountLimit => "account_limit",
        RefuseReason::ReplicaLimit => "replica_limit",
        RefuseReason::Store(_) => "store",
    })
    .increment(1);
    match refused {
        RefuseReason::AccountLimit => ApiError::too_many_requests(5).into_response(),
        RefuseReason::ReplicaLimit => {
            ApiError::unavailable("this replica holds as many streams as it may", 1).into_response()
        }
        RefuseReason::Store(error) => ApiError::from(error).into_response(),
    }
}

/// When a token expiring at `expires_at` (unix seconds) stops being valid.
fn expiry(expires_at: i64) -> tokio::time::Instant {
    let now = chrono::Utc::now().timestamp();
    let left = expires_at.saturating_sub(now).max(0) as u64;
    tokio::time::Instant::now() + Duration::from_secs(left)
}

/// Messages rendered at once for one connection: the one received and
/// those already queued behind it. A client following busy authors gets
/// messages faster than one render's round trips; rendering the queued
/// ones together keeps it up without reordering them.
const RENDER_AT_ONCE: usize = 32;

/// `first` and the messages queued behind it, up to [`RENDER_AT_ONCE`],
/// those `wanted` each with its event name and text if it is sent, in
/// order.
async fn next_texts(
    hub: &LiveHub,
    connection: &mut Connection,
    first: Arc<LiveMessage>,
    wanted: impl Fn(&LiveMessage) -> bool,
) -> Vec<(Arc<LiveMessage>, Option<(&'static str, String)>)> {
    let mut batch = vec![first];
    while batch.len() < RENDER_AT_ONCE {
        match connection.messages.try_recv() {
            Ok(message) => batch.push(message),
            Err(_) => break,
        }
    }
    batch.retain(|m| wanted(m));
    texts(hub, connection, batch).await
}

/// `messages` rendered at once for the connection's viewer, in order.
async fn texts(
    hub: &LiveHub,
    connection: &Connection,
    messages: Vec<Arc<LiveMessage>>,
) -> Vec<(Arc<LiveMessage>, Option<(&'static str, String)>)> {
    let rendered =
        futures::future::join_all(messages.iter().map(|m| text(hub, connection, m))).await;
    messages.into_iter().zip(rendered).collect()
}

/// The event name and text of a message for the connection's viewer, if
/// it is sent.
async fn text(
    hub: &LiveHub,
    connection: &Connection,
    message: &LiveMessage,
) -> Option<(&'static str, String)> {
    match render(hub.feeds(), connection.user, message).await {
        Ok(Some((event, data))) => Some((event, json!({"event": event, "data": data}).to_string())),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%error, "cannot render a live message");
            None
        }
    }
}

fn ended(reason: Option<CloseReason>) {
    let reason = reason.map_or("client", CloseReason::as_str);
    metrics::counter!("read_stream_disconnects_total", "reason" => reason).increment(1);
}

async fn websocket(
    socket: WebSocketStream,
    mut connection: Connection,
    hub: Arc<LiveHub>,
    until: tokio::time::Instant,
) {
    let (mut sink, mut incoming) = socket.split();
    let mut heartbeat = tokio::time::interval(hub.limits.heartbeat);
    heartbeat.tick().await;
    let expired = tokio::time::sleep_until(until);
    tokio::pin!(expired);
    let mut shutdown = connection.shutdown();
    let reason = 'stream: loop {
        tokio::select! {
            message = connection.messages.recv() => match message {
                Some(first) => {
                    for (_, rendered) in next_texts(&hub, &mut connection, first, |_| true).await {
                        let Some((_, text)) = rendered else { continue };
                        if sink.send(Message::Text(text)).await.is_err() {
                            break 'stream None;
                        }
                        delivered();
                    }
                }
                None => break Some(connection.ended()),
            },
            _ = heartbeat.tick() => {
                if sink.send(Message::Ping(Vec::new())).await.is_err() {
                    break None;
                }
            }
            () = &mut expired => break Some(CloseReason::TokenExpired),
            _ = shutdown.changed() => break Some(CloseReason::GoingAway),
            frame = incoming.next() => match frame {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                Some(Ok(_)) => {}
            },
        }
    };
    if let Some(reason) = reason {
        let close = Message::Close(Some((
            CloseCode::from(reason.code()),
            reason.as_str().into(),
        )));
        let _ = sink.send(close).await;
    }
    ended(reason);
}

fn delivered() {
    metrics::counter!("read_stream_messages_total", "result" => "delivered").increment(1);
}

async fn server_sent(
    mut connection: Connection,
    hub: Arc<LiveHub>,
    until: tokio::time::Instant,
    last_event_id: Option<String>,
    events: mpsc::Sender<SseEvent>,
) {
    let sse = |id: Option<&str>, name: &str, text: String| {
        let event = SseEvent::message(text).event_type(name);
        match id {
            Some(id) => event.id(id),
            None => event,
        }
    };
    let mut replayed_to = None;
    if let Some(after) = last_event_id.as_deref() {
        match hub.feeds().cache().replay(connection.user, after).await {
            Ok(missed) => {
                let missed: Vec<Arc<LiveMessage>> = missed
                    .into_iter()
                    .map(|(id, event)| {
                        Arc::new(LiveMessage {
                            channel: readmodel::cache::Channel::User(connection.user),
                            id: Some(id),
                            event,
                        })
                    })
                    .collect();
                for chunk in missed.chunks(RENDER_AT_ONCE) {
                    for (message, rendered) in texts(&hub, &connection, chunk.to_vec()).await {
                        let id = message.id.as_deref();
                        if let Some((name, text)) = rendered
                            && events.send(sse(id, name, text)).await.is_err()
                        {
                            return ended(None);
                        }
                        replayed_to = id.and_then(log_position);
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot replay a live stream"),
        }
    }
    let expired = tokio::time::sleep_until(until);
    tokio::pin!(expired);
    let mut shutdown = connection.shutdown();
    // What the replay sent may also arrive live; it is sent once.
    let new = |message: &LiveMessage| {
        let position = message.id.as_deref().and_then(log_position);
        position.is_none() || position > replayed_to
    };
    let reason = 'stream: loop {
        tokio::select! {
            message = connection.messages.recv() => match message {
                Some(first) => {
                    for (message, rendered) in next_texts(&hub, &mut connection, first, new).await {
                        let Some((name, text)) = rendered else { continue };
                        if events.send(sse(message.id.as_deref(), name, text)).await.is_err() {
                            break 'stream None;
                        }
                        delivered();
                    }
                }
                None => break Some(connection.ended()),
            },
            () = &mut expired => break Some(CloseReason::TokenExpired),
            _ = shutdown.changed() => break Some(CloseReason::GoingAway),
            () = events.closed() => break None,
        }
    };
    if let Some(reason) = reason {
        let data =
            json!({"event": "close", "data": {"reason": reason.as_str(), "code": reason.code()}});
        let _ = events.send(sse(None, "close", data.to_string())).await;
    }
    ended(reason);
}
