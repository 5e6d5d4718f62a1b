//! The thin slice, end to end over HTTP against separately started
//! binaries: register, log in, follow, post on the write host; the post
//! travels outbox → relay → broker → projector → Redis and the durable
//! store; the follower's home feed on the read host shows it hydrated.

use std::time::{Duration, Instant};

use e2e::Stack;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn register(http: &Client, stack: &Stack, username: &str) -> (String, String) {
    let response = http
        .post(format!("{}/v1/accounts", stack.write_url))
        .json(&json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": "a long enough passphrase",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().expect("ids are strings").to_owned();
    assert_eq!(body["username"], username);

    let response = http
        .post(format!("{}/v1/sessions", stack.write_url))
        .json(&json!({"username": username, "password": "a long enough passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(
        tokens["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 43)
    );
    (id, tokens["access_token"].as_str().unwrap().to_owned())
}

async fn feed(http: &Client, stack: &Stack, token: &str) -> Value {
    let response = http
        .get(format!("{}/v1/feed", stack.read_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn wait_for_items(http: &Client, stack: &Stack, token: &str, count: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = feed(http, stack, token).await;
        if page["items"]
            .as_array()
            .is_some_and(|items| items.len() >= count)
        {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "the feed did not get {count} item(s): {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_post_reaches_a_followers_home_feed_hydrated() {
    let stack = Stack::start().await;
    let http = Client::new();
    let (alice_id, alice) = register(&http, &stack, "alice").await;
    let (_, bob) = register(&http, &stack, "bob").await;

    let response = http
        .put(format!("{}/v1/users/{alice_id}/follow", stack.write_url))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let posted_at = Instant::now();
    let response = http
        .post(format!("{}/v1/posts", stack.write_url))
        .bearer_auth(&alice)
        .json(&json!({"text": "  hello, followers  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let post_id = created["id"].as_str().unwrap().to_owned();

    let page = wait_for_items(&http, &stack, &bob, 1).await;
    eprintln!(
        "post visible in the follower's feed after {:?}",
        posted_at.elapsed()
    );
    let item = &page["items"][0];
    assert_eq!(item["post"]["id"], post_id.as_str());
    assert_eq!(item["post"]["text"], "hello, followers");
    assert_eq!(item["post"]["created_at"], created["created_at"]);
    assert_eq!(item["post"]["edited_at"], Value::Null);
    assert_eq!(item["author"]["id"], alice_id.as_str());
    assert_eq!(item["author"]["username"], "alice");
    assert_eq!(item["author"]["display_name"], "");
    assert!(page.get("next_cursor").is_none_or(Value::is_null));

    // The author sees their own post too.
    let own = wait_for_items(&http, &stack, &alice, 1).await;
    assert_eq!(own["items"][0]["post"]["id"], post_id.as_str());
}

#[tokio::test]
async fn every_service_serves_its_operational_routes() {
    let stack = Stack::start().await;
    let http = Client::new();
    for service in &stack.services {
        for path in ["/health", "/ready", "/metrics"] {
            let response = http
                .get(format!("{}{path}", service.url))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{} {path}", service.name);
        }
    }
    for host in [&stack.write_url, &stack.read_url] {
        let spec: Value = http
            .get(format!("{host}/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
        let docs = http.get(format!("{host}/docs")).send().await.unwrap();
        assert_eq!(docs.status(), StatusCode::OK);
        assert!(docs.text().await.unwrap().contains("swagger"));
    }
    let metrics = http
        .get(format!("{}/metrics", stack.write_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
}

#[tokio::test]
async fn bad_requests_get_problem_bodies_naming_the_field() {
    let stack = Stack::start().await;
    let http = Client::new();

    let response = http
        .post(format!("{}/v1/accounts", stack.write_url))
        .json(&json!({"username": "x", "email": "nope", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "email", "password"]);

    let response = http
        .post(format!("{}/v1/accounts", stack.write_url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let response = http
        .get(format!("{}/v1/feed", stack.read_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let response = http
        .get(format!("{}/v1/feed", stack.read_url))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let (_, token) = register(&http, &stack, "carol").await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "cursor=garbage!",
        "cursor=AAAA",
    ] {
        let response = http
            .get(format!("{}/v1/feed?{query}", stack.read_url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let problem: Value = response.json().await.unwrap();
        let field = problem["errors"][0]["field"]
            .as_str()
            .unwrap_or_else(|| panic!("{query}: no field named in {problem}"));
        assert!(query.starts_with(field), "{query} names {field}");
    }

    let response = http
        .get(format!("{}/nowhere", stack.write_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let response = http
        .post(format!("{}/v1/posts", stack.write_url))
        .bearer_auth(&token)
        .json(&json!({"text": "x".repeat(20_000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
