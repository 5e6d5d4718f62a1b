//! The live stream end to end: `GET /v1/stream` over WebSocket (each of
//! the three ways to send the token) and Server-Sent Events (with
//! `Last-Event-ID` resumption), on two read replicas at once, for a
//! celebrity's followers, and its close codes: 4001 when the token
//! expires, 1001 when the replica shuts down; connection limits answer 429.

use std::time::Duration;

use e2e::{Account, Stack};
use futures::{SinkExt, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a client sends its token.
#[derive(Clone, Copy, Debug)]
enum Auth {
    Header,
    Query,
    Subprotocol,
}

fn ws_url(base: &str) -> String {
    format!("{}/v1/stream", base.replacen("http://", "ws://", 1))
}

async fn connect(base: &str, token: &str, auth: Auth) -> Result<Socket, tungstenite::Error> {
    let url = match auth {
        Auth::Query => format!("{}?access_token={token}", ws_url(base)),
        _ => ws_url(base),
    };
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    match auth {
        Auth::Header => {
            headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Auth::Subprotocol => {
            headers.insert("sec-websocket-protocol", token.parse().unwrap());
        }
        Auth::Query => {}
    }
    let (socket, response) = tokio_tungstenite::connect_async(request).await?;
    if let Auth::Subprotocol = auth {
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            token,
            "the token is echoed as the chosen subprotocol"
        );
    }
    Ok(socket)
}

/// The next message of `event` on `socket` (others are skipped), within 10 s.
async fn next(socket: &mut Socket, event: &str) -> Value {
    let wait = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message["event"] == event {
                        return message["data"].clone();
                    }
                }
                Some(Ok(Message::Close(frame))) => panic!("closed while waiting: {frame:?}"),
                Some(Ok(_)) => {}
                other => panic!("the socket ended while waiting for {event}: {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {event} within 10 s"))
}

/// The close frame the server ends `socket` with, within `within`.
async fn closed(socket: &mut Socket, within: Duration) -> (CloseCode, String) {
    let wait = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (frame.code, frame.reason.to_string());
                }
                Some(Ok(_)) => {}
                other => panic!("the socket ended without a close frame: {other:?}"),
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .expect("the server closes the socket in time")
}

/// Follows `whom` as `who` and waits until the follow is applied.
async fn follow(stack: &Stack, http: &Client, who: &Account, whom: &Account) {
    let token = stack.follow(http, &who.access, &whom.id, true).await;
    stack.read_as(http, "/v1/feed", &who.access, &token).await;
}

#[tokio::test]
async fn a_websocket_delivers_feed_changes_and_notifications_whichever_way_it_authenticates() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(&[], ["alice", "bob"]).await;
    follow(&stack, &http, &bob, &alice).await;
    let mut sockets = Vec::new();
    for auth in [Auth::Header, Auth::Query, Auth::Subprotocol] {
        sockets.push(connect(&stack.read_url, &bob.access, auth).await.unwrap());
    }

    let (post, _) = stack.post(&http, &alice.access, "live hello").await;
    for socket in &mut sockets {
        let item = next(socket, "feed.item").await;
        assert_eq!(item["post"]["text"], "live hello", "{item}");
        assert_eq!(item["author"]["username"], "alice");
        assert_eq!(item["viewer"]["liked"], false);
    }
    stack.follow(&http, &alice.access, &bob.id, true).await;
    for socket in &mut sockets {
        let note = next(socket, "notification").await;
        assert_eq!(
            (&note["type"], &note["account"]["username"]),
            (&json!("follow"), &json!("alice"))
        );
    }
    let edited = stack
        .acting(&http, &alice.access)
        .patch(
            &format!("/v1/posts/{post}"),
            json!({"text": "live, edited"}),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    for socket in &mut sockets {
        let item = next(socket, "post.update").await;
        assert_eq!(item["post"]["text"], "live, edited");
    }
    stack.delete_post(&http, &alice.access, &post).await;
    for socket in &mut sockets {
        assert_eq!(next(socket, "feed.delete").await, json!({"id": post}));
    }

    for token in ["", "not-a-token"] {
        match connect(&stack.read_url, token, Auth::Query).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED.as_u16());
            }
            other => panic!("a bad token is refused: {:?}", other.map(|_| ())),
        }
    }
    for socket in &mut sockets {
        socket.send(Message::Close(None)).await.unwrap();
    }
}

/// A Server-Sent Events reader: `(id, event, data)` of each event.
struct Sse(reqwest::Response, String);

impl Sse {
    async fn open(stack: &Stack, http: &Client, token: &str, last_event_id: Option<&str>) -> Self {
        let mut request = http
            .get(stack.read("/v1/stream"))
            .bearer_auth(token)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self(response, String::new())
    }

    async fn next(&mut self) -> (Option<String>, String, Value) {
        let wait = async {
            loop {
                if let Some(end) = self.1.find("\n\n") {
                    let block: String = self.1.drain(..end + 2).collect();
                    let (mut id, mut event, mut data) = (None, String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = Some(v.trim().to_owned());
                        } else if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim());
                        }
                    }
                    if !data.is_empty() {
                        return (id, event, serde_json::from_str(&data).unwrap());
                    }
                    continue;
                }
                let chunk = self
                    .0
                    .chunk()
                    .await
                    .unwrap()
                    .expect("the stream stays open");
                self.1.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("an event within 10 s")
    }
}

#[tokio::test]
async fn server_sent_events_deliver_and_resume_after_the_last_event_id() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(&[], ["alice", "bob"]).await;
    follow(&stack, &http, &bob, &alice).await;
    let mut sse = Sse::open(&stack, &http, &bob.access, None).await;
    stack.post(&http, &alice.access, "first").await;
    let (id, event, message) = sse.next().await;
    assert_eq!(event, "feed.item");
    assert_eq!(message["event"], "feed.item");
    assert_eq!(message["data"]["post"]["text"], "first");
    let id = id.expect("events carry ids");
    drop(sse);

    // Missed while away, replayed on return.
    let (_, posted) = stack.post(&http, &alice.access, "while away").await;
    stack.read_as(&http, "/v1/feed", &bob.access, &posted).await;
    let mut sse = Sse::open(&stack, &http, &bob.access, Some(&id)).await;
    let (replayed, _, message) = sse.next().await;
    assert_eq!(message["data"]["post"]["text"], "while away");
    assert_ne!(replayed, Some(id));
    stack.post(&http, &alice.access, "after").await;
    let (_, _, message) = sse.next().await;
    assert_eq!(message["data"]["post"]["text"], "after");
}

#[tokio::test]
async fn every_replica_delivers_every_event_and_celebrities_reach_connected_followers() {
    let (mut stack, http, [alice, bob, carol, star]) = Stack::with_accounts(
        &[("CELEBRITY_FOLLOWER_THRESHOLD", "2")],
        ["alice", "bob", "carol", "star"],
    )
    .await;
    let second = stack
        .add_replica("read-api", "read-api-2")
        .await
        .url
        .clone();
    follow(&stack, &http, &bob, &alice).await;
    follow(&stack, &http, &carol, &alice).await;
    follow(&stack, &http, &bob, &star).await;
    follow(&stack, &http, &carol, &star).await;
    let mut on_first = connect(&stack.read_url, &bob.access, Auth::Header)
        .await
        .unwrap();
    let mut on_second = connect(&second, &carol.access, Auth::Header).await.unwrap();

    stack.post(&http, &alice.access, "to both replicas").await;
    for socket in [&mut on_first, &mut on_second] {
        assert_eq!(
            next(socket, "feed.item").await["post"]["text"],
            "to both replicas"
        );
    }
    // star has two followers: a celebrity, whose posts reach no feed by
    // fan-out, and reach connected followers through its channel.
    stack.post(&http, &star.access, "from the stage").await;
    for socket in [&mut on_first, &mut on_second] {
        let item = next(socket, "feed.item").await;
        assert_eq!(item["post"]["text"], "from the stage");
        assert_eq!(item["author"]["username"], "star");
    }
}

#[tokio::test]
async fn streams_close_with_documented_codes_and_limits_are_enforced() {
    let (mut stack, http, [alice, bob]) = Stack::with_accounts(
        &[
            ("STREAM_MAX_PER_ACCOUNT", "2"),
            ("STREAM_HEARTBEAT_SECS", "1"),
        ],
        ["alice", "bob"],
    )
    .await;
    let issuer = Stack::token_issuer_for(Duration::from_secs(2));
    let bob_id = contracts::ids::UserId(bob.id.parse().unwrap());
    let short = issuer.access_token(bob_id, uuid::Uuid::new_v4());
    let mut expiring = connect(&stack.read_url, &short, Auth::Query).await.unwrap();
    let (code, reason) = closed(&mut expiring, Duration::from_secs(15)).await;
    assert_eq!((u16::from(code), reason.as_str()), (4001, "token_expired"));

    let _one = connect(&stack.read_url, &alice.access, Auth::Header)
        .await
        .unwrap();
    let mut two = connect(&stack.read_url, &alice.access, Auth::Header)
        .await
        .unwrap();
    match connect(&stack.read_url, &alice.access, Auth::Header).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS.as_u16());
        }
        other => panic!("a third stream is refused: {:?}", other.map(|_| ())),
    }
    let sse = http
        .get(stack.read("/v1/stream"))
        .bearer_auth(&alice.access)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::TOO_MANY_REQUESTS);

    stack.terminate("read-api").await;
    let (code, _) = closed(&mut two, Duration::from_secs(10)).await;
    assert_eq!(code, CloseCode::Away, "1001: reconnect elsewhere");
}

/// A stream holds its request for hours, so open streams take no place
/// under `READ_API_MAX_IN_FLIGHT`: with one place, pages are still served
/// beside a WebSocket, an SSE stream and a Mastodon stream.
#[tokio::test]
async fn open_streams_take_no_place_among_the_requests_in_progress() {
    let (stack, http, [alice]) = Stack::with_accounts(
        &[("READ_API_MAX_IN_FLIGHT", "1"), ("READ_API_QUEUE_MS", "0")],
        ["alice"],
    )
    .await;
    let _socket = connect(&stack.read_url, &alice.access, Auth::Header)
        .await
        .unwrap();
    // Every response is kept, so the streams stay open behind the pages.
    let mut open = Vec::new();
    for path in [
        "/v1/stream",
        "/api/v1/streaming/user",
        "/v1/feed",
        "/api/v1/timelines/home",
        "/health",
    ] {
        let response = http
            .get(stack.read(path))
            .bearer_auth(&alice.access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        open.push(response);
    }
}
