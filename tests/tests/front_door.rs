//! The front door and the metrics, for real: nginx with `deploy/nginx/`
//! routes by host name to a stack with two read-api replicas, Prometheus
//! with `deploy/prometheus/` scrapes every process, and after some traffic
//! through the host names every pipeline metric is non-zero in Prometheus.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e::Stack;
use e2e::front_door::{addr, free_port, root, spawn, start_nginx, wait_port};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Child;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Waits (bounded) until `path` holds `needle`: nginx writes an access-log
/// line after it has answered.
async fn wait_for_line(path: &Path, needle: &str) {
    let what = format!("a line with {needle} in {}", path.display());
    e2e::until(&what, Duration::from_secs(10), async || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.contains(needle).then_some(())
    })
    .await;
}

/// Sends `request` as raw bytes to the front door and returns the answer.
async fn raw_exchange(port: u16, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("nginx closes a connection after a malformed request")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Prometheus with the committed configuration and rules, scraping every
/// second, its targets this stack's processes.
async fn start_prometheus(stack: &Stack, dir: &Path) -> (Child, u16) {
    let committed =
        std::fs::read_to_string(root().join("deploy/prometheus/prometheus.yml")).unwrap();
    for setting in [
        "scrape_interval: 5s",
        "scrape_timeout: 4s",
        "evaluation_interval: 5s",
    ] {
        assert!(committed.contains(setting), "the test speeds up {setting}");
    }
    let config = committed
        .replace("scrape_interval: 5s", "scrape_interval: 1s")
        .replace("scrape_timeout: 4s", "scrape_timeout: 1s")
        .replace("evaluation_interval: 5s", "evaluation_interval: 1s");
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/rules.yml"))
        .unwrap()
        .replace("interval: 15s", "interval: 1s");
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let port = free_port();
    std::fs::create_dir_all(dir.join("targets")).unwrap();
    for (job, targets) in [
        ("write-api", vec![addr(stack, "write-api")]),
        ("relay", vec![addr(stack, "relay")]),
        ("projector", vec![addr(stack, "projector")]),
        (
            "read-api",
            vec![addr(stack, "read-api"), addr(stack, "read-api-2")],
        ),
        ("prometheus", vec![format!("127.0.0.1:{port}")]),
    ] {
        std::fs::write(
            dir.join(format!("targets/{job}.json")),
            json!([{ "targets": targets }]).to_string(),
        )
        .unwrap();
    }
    let log = dir.join("prometheus.log");
    let child = spawn(
        "prometheus",
        &[
            &format!("--config.file={}", dir.join("prometheus.yml").display()),
            &format!("--storage.tsdb.path={}", dir.join("data").display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &log,
    );
    wait_port(port, "prometheus", &log).await;
    (child, port)
}

/// The value of the first sample `query` returns, if any.
async fn sample(http: &reqwest::Client, prometheus: u16, query: &str) -> Option<f64> {
    let body: Value = http
        .get(format!("http://127.0.0.1:{prometheus}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    assert_eq!(body["status"], "success", "{query}: {body}");
    body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

fn is_problem(response: &reqwest::Response) -> bool {
    response.headers()["content-type"] == "application/problem+json"
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_routes_both_hosts_and_prometheus_sees_the_pipeline() {
    // The projector logs each applied event at debug, with its request id.
    let mut stack = Stack::start_with(&[("RUST_LOG", "info,projector=debug")]).await;
    stack.add_replica("read-api", "read-api-2").await;
    let dir = root()
        .join("target/e2e-logs")
        .join(platform::testing::unique("front-door"));
    std::fs::create_dir_all(&dir).unwrap();
    let (_nginx, front) = start_nginx(&stack, &dir).await;
    let (_prometheus, prometheus) = start_prometheus(&stack, &dir).await;

    // Clients know two host names; both resolve to the front door.
    let door = SocketAddr::from(([127, 0, 0, 1], front));
    let http = reqwest::Client::builder()
        .resolve("write.localhost", door)
        .resolve("read.localhost", door)
        .build()
        .unwrap();
    stack.write_url = format!("http://write.localhost:{front}");
    stack.read_url = format!("http://read.localhost:{front}");

    // Some traffic through the front door: a follow, posts fanned out, feed reads.
    let alice = stack.account(&http, "alice").await;
    let bob = stack.account(&http, "bob").await;
    stack.follow(&http, &bob.access, &alice.id, true).await;
    let consistency = stack.post_numbered(&http, &alice.access, "post", 3).await;
    for _ in 0..10 {
        let feed = stack.whole_feed(&http, &bob.access, &consistency, 10).await;
        assert_eq!(feed, ["post 2", "post 1", "post 0"]);
    }

    // The live stream through the front door: a WebSocket upgrade and
    // unbuffered Server-Sent Events, each on whichever replica nginx picks.
    let mut request = format!("ws://read.localhost:{front}/v1/stream")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", bob.access).parse().unwrap(),
    );
    let tcp = tokio::net::TcpStream::connect(door).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("nginx passes the upgrade on");
    let mut sse = http
        .get(format!("{}/v1/stream", stack.read_url))
        .bearer_auth(&bob.access)
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    stack.post(&http, &alice.access, "through the door").await;
    let live = async {
        loop {
            match socket.next().await {
                Some(Ok(WsMessage::Text(text))) if text.contains("through the door") => break,
                Some(Ok(_)) => {}
                other => panic!("the socket ended: {other:?}"),
            }
        }
        let mut seen = String::new();
        while !seen.contains("through the door") {
            let chunk = sse
                .chunk()
                .await
                .unwrap()
                .expect("the event stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), live)
        .await
        .expect("both streams hear the post through nginx at once");

    // Request ids: a client's is kept end to end, one is made when absent,
    // and an implausible one is replaced.
    let sent = "front-door-test-1";
    let response = e2e::send(
        http.get(format!("{}/health", stack.write_url))
            .header("X-Request-Id", sent),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], sent);
    for header in [None, Some("x".repeat(200))] {
        let mut request = http.get(format!("{}/health", stack.read_url));
        if let Some(h) = &header {
            request = request.header("X-Request-Id", h);
        }
        let response = request.send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert!(
            id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
    }
    // The id is on the service's own log lines for that request.
    let reuse_id = "front-door-reuse-1";
    let stale = alice.refresh.clone();
    for id in ["front-door-refresh-1", reuse_id] {
        http.post(format!("{}/v1/sessions/refresh", stack.write_url))
            .header("X-Request-Id", id)
            .json(&json!({"refresh_token": stale}))
            .send()
            .await
            .unwrap();
    }
    let write_log = std::fs::read_to_string(stack.service("write-api").log_path()).unwrap();
    let line = write_log
        .lines()
        .find(|l| l.contains("refresh token reuse"))
        .expect("the reuse is logged");
    let line: Value = serde_json::from_str(line).expect("logs are JSON lines");
    assert_eq!(line["span"]["request_id"], reuse_id, "{line}");
    wait_for_line(
        &dir.join("nginx.log"),
        &format!("\"request_id\":\"{reuse_id}\""),
    )
    .await;
    // A command's id travels with its event through the outbox, the relay
    // and the broker to the projector's log line for it. (The reuse above
    // revoked Alice's session: she logs in again.)
    let tokens: Value = stack
        .login(&http, "alice", e2e::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let alice_access = tokens["access_token"].as_str().unwrap().to_owned();
    let post_id = "front-door-post-1";
    let response = e2e::send(
        http.post(format!("{}/v1/posts", stack.write_url))
            .bearer_auth(&alice_access)
            .header("X-Request-Id", post_id)
            .json(&json!({"text": "traced"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let consistency = e2e::consistency_token(&response);
    stack.whole_feed(&http, &bob.access, &consistency, 10).await;
    let projector_log = std::fs::read_to_string(stack.service("projector").log_path()).unwrap();
    let applied: Vec<Value> = projector_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["span"]["request_id"] == post_id)
        .collect();
    assert!(
        applied
            .iter()
            .any(|l| l["fields"]["message"] == "applied"
                && l["fields"]["event_type"] == "post.created"),
        "{applied:?}"
    );

    // Unknown hosts and oversized bodies get problem bodies from nginx itself.
    let response = e2e::send(http.get(format!("http://127.0.0.1:{front}/v1/feed"))).await;
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    assert!(is_problem(&response));
    let response = http
        .post(format!("{}/v1/posts", stack.write_url))
        .bearer_auth(&alice_access)
        .header("content-type", "application/json")
        .body(vec![b' '; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(is_problem(&response));

    // Operational endpoints are not public: Prometheus scrapes the services
    // directly. Every answer, nginx's own included, says nosniff once.
    for host in [&stack.write_url, &stack.read_url] {
        for path in ["/metrics", "/ready"] {
            let response = http.get(format!("{host}{path}")).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{host}{path}");
            assert!(is_problem(&response), "{host}{path}");
            let nosniff: Vec<_> = response
                .headers()
                .get_all("x-content-type-options")
                .iter()
                .collect();
            assert_eq!(nosniff, ["nosniff"], "{host}{path}");
        }
    }
    let response = e2e::send(http.get(format!("{}/v1/users/alice", stack.read_url))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get_all("x-content-type-options")
            .iter()
            .count(),
        1
    );
    // Requests nginx cannot take get problem bodies too.
    for (request, status) in [
        (
            "GET /v1/feed HTTP/1.1\r\nHost: read.localhost\r\nContent-Length: abc\r\n\r\n",
            "400",
        ),
        (
            "POST /v1/posts HTTP/1.1\r\nHost: write.localhost\r\nTransfer-Encoding: gzip\r\n\r\n",
            "501",
        ),
    ] {
        let answer = raw_exchange(front, request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        assert!(
            answer.contains("application/problem+json") && answer.contains("\"status\":"),
            "{answer}"
        );
    }

    // Prometheus: every target up, every stage of the pipeline non-zero,
    // reads spread over both replicas, the recording rules evaluated.
    let expectations = [
        ("count(up == 1)", 6.0),
        (
            "sum(http_requests_total{job=\"write-api\",route=\"/v1/posts\",status=\"201\"})",
            3.0,
        ),
        (
            "count(sum by (instance) (http_requests_total{job=\"read-api\",route=\"/v1/feed\"}) > 0)",
            2.0,
        ),
        ("sum(relay_published_total)", 1.0),
        ("sum(relay_commit_to_publish_seconds_count)", 1.0),
        (
            "sum(projector_events_total{type=\"post.created\",outcome=\"applied\"})",
            3.0,
        ),
        ("sum(projector_write_to_read_seconds_count)", 1.0),
        ("sum(projector_posts_total{delivery=\"on_write\"})", 3.0),
        ("sum(projector_fanout_size_count)", 3.0),
        ("sum(projector_fanout_duration_seconds_count)", 3.0),
        ("count(projector_consumer_lag_events)", 1.0),
        ("sum(projector_assigned_partitions)", 3.0),
        ("count(outbox_oldest_unpublished_age_seconds)", 1.0),
        ("sum(read_feed_source_total)", 10.0),
        ("min(process_resident_memory_bytes)", 1.0),
        ("count(job:http_request_duration_seconds:p99_5m)", 2.0),
        ("count(read:feed_cache_hit:ratio_rate5m)", 1.0),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut missing = Vec::new();
        for (query, at_least) in expectations {
            let value = sample(&http, prometheus, query).await;
            if value.is_none_or(|v| v < at_least) {
                missing.push(format!("{query} = {value:?}, want >= {at_least}"));
            }
        }
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 60 s, Prometheus still lacks:\n{}",
            missing.join("\n")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Anonymous requests are limited per address (a burst of 100, then
    // 20 per second); signed-in ones are not.
    let mut statuses = Vec::new();
    for _ in 0..150 {
        let response = e2e::send(http.get(format!("{}/v1/users/alice", stack.read_url))).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(is_problem(&response));
            assert_eq!(response.headers()["retry-after"], "1");
        }
        statuses.push(response.status());
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    for _ in 0..150 {
        let response = e2e::send(
            http.get(format!("{}/v1/users/me", stack.read_url))
                .bearer_auth(&bob.access),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    // A replica goes down: nginx passes reads to the other one.
    stack.kill("read-api-2").await;
    for _ in 0..6 {
        let feed = stack.whole_feed(&http, &bob.access, &consistency, 10).await;
        assert_eq!(feed.len(), 5);
    }
}
