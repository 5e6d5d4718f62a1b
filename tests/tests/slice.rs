//! The thin slice, end to end over HTTP against separately started
//! binaries: register, log in, follow, post on the write host; the post
//! travels outbox → relay → broker → projector → Redis and the durable
//! store; the follower's home feed on the read host shows it hydrated.

use std::time::Instant;

use e2e::Stack;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

fn has_items(count: usize) -> impl Fn(&Value) -> bool {
    move |page| {
        page["items"]
            .as_array()
            .is_some_and(|items| items.len() >= count)
    }
}

#[tokio::test]
async fn a_post_reaches_a_followers_home_feed_hydrated() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(&[], ["alice", "bob"]).await;

    let response = stack
        .acting(&http, &bob.access)
        .put(&format!("/v1/users/{}/follow", alice.id))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let posted_at = Instant::now();
    let response = stack
        .acting(&http, &alice.access)
        .post("/v1/posts", json!({"text": "  hello, followers  "}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let post_id = created["id"].as_str().unwrap().to_owned();

    let page = stack
        .eventually(
            &http,
            &stack.read("/v1/feed"),
            Some(&bob.access),
            has_items(1),
        )
        .await;
    eprintln!(
        "post visible in the follower's feed after {:?}",
        posted_at.elapsed()
    );
    let item = &page["items"][0];
    assert_eq!(item["post"]["id"], post_id.as_str());
    assert_eq!(item["post"]["text"], "hello, followers");
    assert_eq!(item["post"]["created_at"], created["created_at"]);
    assert_eq!(item["post"]["edited_at"], Value::Null);
    assert_eq!(item["author"]["id"], alice.id.as_str());
    assert_eq!(item["author"]["username"], "alice");
    assert_eq!(item["author"]["display_name"], "");
    assert!(page.get("next_cursor").is_none_or(Value::is_null));

    // The author sees their own post too.
    let own = stack
        .eventually(
            &http,
            &stack.read("/v1/feed"),
            Some(&alice.access),
            has_items(1),
        )
        .await;
    assert_eq!(own["items"][0]["post"]["id"], post_id.as_str());
}

#[tokio::test]
async fn every_service_serves_its_operational_routes() {
    let stack = Stack::start().await;
    let http = Client::new();
    for service in &stack.services {
        for path in ["/health", "/ready", "/metrics"] {
            let response = e2e::send(http.get(format!("{}{path}", service.url))).await;
            assert_eq!(response.status(), StatusCode::OK, "{} {path}", service.name);
        }
    }
    for host in [&stack.write_url, &stack.read_url] {
        let spec: Value = e2e::json(http.get(format!("{host}/openapi.json"))).await;
        assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
        let docs = http.get(format!("{host}/docs")).send().await.unwrap();
        assert_eq!(docs.status(), StatusCode::OK);
        assert!(docs.text().await.unwrap().contains("swagger"));
    }
    let metrics = e2e::send(http.get(stack.write("/metrics")))
        .await
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
}

#[tokio::test]
async fn bad_requests_get_problem_bodies_naming_the_field() {
    let stack = Stack::start().await;
    let http = Client::new();

    let response = e2e::send(
        http.post(stack.write("/v1/accounts"))
            .json(&json!({"username": "x", "email": "nope", "password": "short"})),
    )
    .await;
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

    for body in [
        "{not json",
        r#"{"username": "alice"}"#,
        r#"{"username": {"a": 1}, "email": "a@b.co", "password": "x"}"#,
    ] {
        let response = http
            .post(stack.write("/v1/accounts"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }

    let response = http.get(stack.read("/v1/feed")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let carol = stack.account(&http, "carol").await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "cursor=garbage!",
        "cursor=AAAA",
    ] {
        let response = e2e::send(
            http.get(stack.read(&format!("/v1/feed?{query}")))
                .bearer_auth(&carol.access),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let problem: Value = response.json().await.unwrap();
        let field = problem["errors"][0]["field"]
            .as_str()
            .unwrap_or_else(|| panic!("{query}: no field named in {problem}"));
        assert!(query.starts_with(field), "{query} names {field}");
    }

    let response = http.get(stack.write("/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let response = stack
        .acting(&http, &carol.access)
        .post("/v1/posts", json!({"text": "x".repeat(20_000)}))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

/// Resolves a `$ref` to its schema in the document.
fn schema<'a>(spec: &'a Value, reference: &'a Value) -> &'a Value {
    match reference["$ref"].as_str() {
        Some(r) => &spec["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => reference,
    }
}

#[tokio::test]
async fn the_openapi_documents_have_examples_and_the_security_scheme() {
    let stack = Stack::start().await;
    let http = Client::new();
    for host in [&stack.write_url, &stack.read_url] {
        let spec: Value = e2e::json(http.get(format!("{host}/openapi.json"))).await;
        assert_eq!(
            spec["components"]["securitySchemes"]["BearerAuth"]["scheme"], "bearer",
            "{host}"
        );
        let mut operations = 0;
        for (path, methods) in spec["paths"].as_object().unwrap() {
            for (method, operation) in methods.as_object().unwrap() {
                operations += 1;
                let name = format!("{host} {method} {path}");
                if let Some(content) = operation["requestBody"]["content"].as_object() {
                    for media in content.values() {
                        assert!(
                            !schema(&spec, &media["schema"])["example"].is_null(),
                            "{name}: request example"
                        );
                    }
                }
                for (status, response) in operation["responses"].as_object().unwrap() {
                    for media in response["content"]
                        .as_object()
                        .into_iter()
                        .flat_map(|c| c.values())
                    {
                        let body = schema(&spec, &media["schema"]);
                        assert!(
                            !body["example"].is_null(),
                            "{name} {status}: response example"
                        );
                    }
                }
            }
        }
        assert!(operations >= 3, "{host} documents its routes");
    }
}
