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

use crate::stream::render::{Dialect, render};
use crate::stream::{CloseReason, Connection, LiveHub, RefuseReason};

/// How long a socket closed by the server waits for the client's answering
/// close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
pub struct StreamQuery {
    pub access_token: Option<String>,
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
    let streams = Streams::everything();
    open(
        req,
        ws,
        &query,
        hub,
        verifier,
        revoked,
        Wire::Native,
        streams,
    )
    .await
}

/// How messages go on the wire, by route and transport.
#[derive(Debug, Clone)]
pub enum Wire {
    /// `/v1/stream`: `{event, data}` JSON, SSE and WebSocket alike.
    Native,
    /// Mastodon's streaming API over a WebSocket: `{stream, event,
    /// payload}`, the payload a string.
    MastodonSocket { origin: String },
    /// Mastodon's streaming API over SSE: the event's name, the payload as
    /// the data.
    MastodonEvents { origin: String },
}

impl Wire {
    fn dialect(&self) -> Dialect {
        match self {
            Wire::Native => Dialect::Native,
            Wire::MastodonSocket { origin } | Wire::MastodonEvents { origin } => {
                Dialect::Mastodon {
                    origin: origin.clone(),
                }
            }
        }
    }
}

/// Which of Mastodon's streams a connection has subscribed to: `user`
/// (everything) or `user:notification` (notifications only). Native
/// streams get everything from the start.
#[derive(Debug, Clone, Default)]
pub struct Streams {
    user: bool,
    notifications: bool,
}

impl Streams {
    pub fn everything() -> Self {
        Self {
            user: true,
            notifications: false,
        }
    }

    /// The subscription a Mastodon stream name asks for; `false` for a
    /// stream this system does not have (public, hashtag, list…).
    pub fn subscribe(&mut self, name: &str, on: bool) -> bool {
        match name {
            "user" => self.user = on,
            "user:notification" => self.notifications = on,
            _ => return false,
        }
        true
    }

    /// The stream a message of `event` goes out on, if subscribed.
    fn carrying(&self, event: &str) -> Option<&'static str> {
        if self.user {
            Some("user")
        } else if self.notifications && event == "notification" {
            Some("user:notification")
        } else {
            None
        }
    }
}

/// Opens a live stream in the given wire format, from the given
/// subscriptions on.
#[allow(clippy::too_many_arguments)]
pub async fn open(
    req: &Request,
    ws: Option<WebSocket>,
    query: &StreamQuery,
    hub: &Arc<LiveHub>,
    verifier: &Arc<TokenVerifier>,
    revoked: &Arc<dyn RevokedSessions>,
    wire: Wire,
    streams: Streams,
) -> Response {
    let Some((token, source)) = bearer(req, query) else {
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
            ws.on_upgrade(move |socket| websocket(socket, connection, hub, until, wire, streams))
                .into_response()
        }
        None => {
            let last_event_id = req.header("last-event-id").map(str::to_owned);
            let heartbeat = hub.limits.heartbeat;
            let (events, rx) = mpsc::channel(16);
            let format = Stream { wire, streams };
            tokio::spawn(server_sent(
                connection,
                hub,
                until,
                last_event_id,
                events,
                format,
            ));
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
    format: &Stream,
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
    texts(hub, connection, format, batch).await
}

/// A connection's wire format and subscriptions.
struct Stream {
    wire: Wire,
    streams: Streams,
}

/// `messages` rendered at once for the connection's viewer, in order.
async fn texts(
    hub: &LiveHub,
    connection: &Connection,
    format: &Stream,
    messages: Vec<Arc<LiveMessage>>,
) -> Vec<(Arc<LiveMessage>, Option<(&'static str, String)>)> {
    let rendered =
        futures::future::join_all(messages.iter().map(|m| text(hub, connection, format, m))).await;
    messages.into_iter().zip(rendered).collect()
}

/// The event name and text of a message for the connection's viewer, if
/// it is sent.
async fn text(
    hub: &LiveHub,
    connection: &Connection,
    format: &Stream,
    message: &LiveMessage,
) -> Option<(&'static str, String)> {
    match render(hub.feeds(), connection.user, message).await {
        Ok(Some(rendered)) => {
            let (event, data) = rendered.event(&format.wire.dialect());
            let carried_on = format.streams.carrying(event)?;
            let text = match (&format.wire, data) {
                (Wire::Native, data) => json!({"event": event, "data": data}).to_string(),
                (Wire::MastodonSocket { .. }, payload) => {
                    json!({"stream": [carried_on], "event": event, "payload": payload}).to_string()
                }
                (Wire::MastodonEvents { .. }, serde_json::Value::String(payload)) => payload,
                (Wire::MastodonEvents { .. }, payload) => payload.to_string(),
            };
            Some((event, text))
        }
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
    wire: Wire,
    streams: Streams,
) {
    let mut format = Stream { wire, streams };
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
                    for (_, rendered) in next_texts(&hub, &mut connection, &format, first, |_| true).await {
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
                Some(Ok(Message::Text(text))) => {
                    if let Some(error) = subscription(&mut format, &text)
                        && sink.send(Message::Text(error)).await.is_err()
                    {
                        break None;
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    };
    if let Some(reason) = reason {
        let close = Message::Close(Some((
            CloseCode::from(reason.code()),
            reason.as_str().into(),
        )));
        if sink.send(close).await.is_ok() {
            // The closing handshake: the client answers with its own close
            // frame. Ending the TCP connection before that may reset it and
            // lose the frame that tells the client why.
            let answered = async { while let Some(Ok(_)) = incoming.next().await {} };
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE, answered).await;
        }
    }
    ended(reason);
}

/// A Mastodon client's `{"type": "subscribe" | "unsubscribe", "stream"}`
/// message applied; an error message to send back for one this system
/// cannot follow. Native streams ignore what clients send.
fn subscription(format: &mut Stream, text: &str) -> Option<String> {
    if matches!(format.wire, Wire::Native) {
        return None;
    }
    let message: serde_json::Value = serde_json::from_str(text).ok()?;
    let on = match message.get("type")?.as_str()? {
        "subscribe" => true,
        "unsubscribe" => false,
        _ => return None,
    };
    let name = message.get("stream")?.as_str()?;
    if format.streams.subscribe(name, on) {
        None
    } else {
        Some(json!({"error": format!("Unknown stream type: {name}"), "status": 400}).to_string())
    }
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
    format: Stream,
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
                    for (message, rendered) in
                        texts(&hub, &connection, &format, chunk.to_vec()).await
                    {
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
                    for (message, rendered) in next_texts(&hub, &mut connection, &format, first, new).await {
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
