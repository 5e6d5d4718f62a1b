//! The read host: author timelines, single posts, scrolling back past what
//! Redis keeps, CORS, and serving feeds with Redis gone.

use std::process::Stdio;
use std::time::Duration;

use e2e::Stack;
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// Follows `next_cursor` from `first` to the end; returns every post text in order.
async fn walk(http: &Client, first: &str, token: Option<&str>, consistency: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut url = first.to_owned();
    loop {
        let mut request = http.get(&url).header("Consistency-Token", consistency);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let page: Value = response.json().await.unwrap();
        texts.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["post"]["text"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{}&cursor={cursor}", first),
            None => return texts,
        }
        assert!(texts.len() < 1_000, "the cursor chain ends");
    }
}

#[tokio::test]
async fn scrolling_back_continues_past_the_hot_cache_without_a_seam() {
    let (stack, http, [alice, bob]) =
        Stack::with_accounts(&[("FEED_CACHE_SIZE", "3")], ["alice", "bob"]).await;
    stack.follow(&http, &bob.access, &alice.id, true).await;
    let last = stack.post_numbered(&http, &alice.access, "post", 9).await;
    let expected: Vec<String> = (0..9).rev().map(|n| format!("post {n}")).collect();
    for limit in [1, 2, 4, 20] {
        let feed = walk(
            &http,
            &stack.read(&format!("/v1/feed?limit={limit}")),
            Some(&bob.access),
            &last,
        )
        .await;
        assert_eq!(feed, expected, "home feed, limit {limit}");
    }
    let timeline = walk(
        &http,
        &stack.read("/v1/users/alice/posts?limit=4"),
        None,
        &last,
    )
    .await;
    assert_eq!(timeline, expected, "the author's timeline");
}

#[tokio::test]
async fn timelines_and_single_posts_are_public_and_respect_deletes() {
    let (stack, http, [alice]) = Stack::with_accounts(&[], ["alice"]).await;
    let (kept, _) = stack.post(&http, &alice.access, "kept").await;
    let (gone, _) = stack.post(&http, &alice.access, "gone").await;
    let deleted = stack.delete_post(&http, &alice.access, &gone).await;

    // Public, but only an authenticated read waits for its consistency token.
    let timeline = walk(
        &http,
        &stack.read("/v1/users/alice/posts?limit=10"),
        Some(&alice.access),
        &deleted,
    )
    .await;
    assert_eq!(timeline, ["kept"]);
    let response = e2e::send(http.get(stack.read(&format!("/v1/posts/{kept}")))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let item: Value = response.json().await.unwrap();
    assert_eq!(item["post"]["text"], "kept");
    assert_eq!(item["author"]["username"], "alice");
    for id in [gone.as_str(), "987654321"] {
        let response = e2e::send(http.get(stack.read(&format!("/v1/posts/{id}")))).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
    assert_eq!(
        http.get(stack.read("/v1/users/nobody/posts"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // A home-feed cursor is foreign on a timeline.
    let foreign = contracts::cursor::Cursor {
        scope: contracts::cursor::Scope::HomeFeed(contracts::ids::UserId(
            alice.id.parse().unwrap(),
        )),
        after: contracts::cursor::FeedPosition {
            created_at_ms: i64::MAX,
            post_id: contracts::ids::PostId(1),
        },
    }
    .encode();
    let response =
        e2e::send(http.get(stack.read(&format!("/v1/users/alice/posts?cursor={foreign}")))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn browsers_may_call_both_hosts() {
    let stack = Stack::start().await;
    let http = Client::new();
    for host in [&stack.write_url, &stack.read_url] {
        let response = http
            .request(reqwest::Method::OPTIONS, format!("{host}/v1/posts"))
            .header("Origin", "https://app.example")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{host} preflight: {}",
            response.status()
        );
        assert!(
            response
                .headers()
                .contains_key("access-control-allow-origin"),
            "{host}"
        );
    }
    let response = e2e::send(
        http.get(stack.read("/v1/users/nobody"))
            .header("Origin", "https://app.example"),
    )
    .await;
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("consistency-token"), "{exposed}");
}

#[tokio::test]
async fn feeds_are_served_from_the_durable_store_when_redis_is_gone() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server is installed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = format!("redis://127.0.0.1:{port}");
    let (stack, http, [alice, bob]) =
        Stack::with_accounts(&[("REDIS_URL", url.as_str())], ["alice", "bob"]).await;
    stack.follow(&http, &bob.access, &alice.id, true).await;
    let last = stack.post_numbered(&http, &alice.access, "post", 3).await;
    assert_eq!(
        walk(
            &http,
            &stack.read("/v1/feed?limit=2"),
            Some(&bob.access),
            &last
        )
        .await
        .len(),
        3
    );

    redis.kill().await.unwrap();
    let response = e2e::send(http.get(stack.read("/v1/feed")).bearer_auth(&bob.access)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "still served without Redis"
    );
    let page: Value = response.json().await.unwrap();
    let texts: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["post"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["post 2", "post 1", "post 0"]);
    let response = e2e::send(http.get(stack.read("/v1/users/alice"))).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// With `READ_API_MAX_IN_FLIGHT=1` and no queue, a burst of reads (native
/// and Mastodon) is partly shed: each read is answered 200, or 503 with
/// `Retry-After` and an error body; `/health` is never shed.
#[tokio::test]
async fn reads_past_the_in_flight_bound_are_shed_with_retry_after() {
    let (stack, http, [alice]) = Stack::with_accounts(
        &[("READ_API_MAX_IN_FLIGHT", "1"), ("READ_API_QUEUE_MS", "0")],
        ["alice"],
    )
    .await;
    let mut shed = 0;
    // One place among a hundred simultaneous reads: a round in which none
    // overlaps another is all but impossible; a few rounds make sure.
    for _ in 0..5 {
        let reads = (0..100).map(|n| {
            let path = ["/v1/feed", "/api/v1/timelines/home", "/health"][n % 3];
            http.get(stack.read(path)).bearer_auth(&alice.access).send()
        });
        for (n, response) in futures::future::join_all(reads)
            .await
            .into_iter()
            .enumerate()
        {
            let response = response.unwrap();
            if n % 3 == 2 {
                assert_eq!(response.status(), StatusCode::OK, "/health");
                continue;
            }
            if response.status() == StatusCode::OK {
                continue;
            }
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()["retry-after"], "1");
            let body: Value = response.json().await.unwrap();
            let said = if n % 3 == 0 {
                &body["detail"]
            } else {
                &body["error"]
            };
            assert_eq!(said, "the server is at capacity; retry shortly", "{body}");
            shed += 1;
        }
        if shed > 0 {
            return;
        }
    }
    panic!("no read was shed");
}
