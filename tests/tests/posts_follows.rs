//! Posts and follows over HTTP: authorization, idempotency keys,
//! consistency tokens, and what each command does to feeds.

use e2e::Stack;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

fn items(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["post"]["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Reads the home feed once, waiting for `consistency` first.
async fn feed_after(stack: &Stack, http: &Client, token: &str, consistency: &str) -> Value {
    let response = e2e::send(
        http.get(stack.read("/v1/feed"))
            .bearer_auth(token)
            .header("Consistency-Token", consistency),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("consistency-token-timeout")
            .is_none(),
        "the write became visible in time"
    );
    response.json().await.unwrap()
}

async fn follow(
    stack: &Stack,
    http: &Client,
    token: &str,
    id: &str,
    on: bool,
) -> reqwest::Response {
    let url = stack.write(&format!("/v1/users/{id}/follow"));
    let request = if on { http.put(url) } else { http.delete(url) };
    request.bearer_auth(token).send().await.unwrap()
}

/// Follows (or unfollows) `times` times; returns each consistency token.
async fn follow_times(
    stack: &Stack,
    http: &Client,
    token: &str,
    id: &str,
    on: bool,
    times: usize,
) -> Vec<String> {
    let mut tokens = Vec::new();
    for _ in 0..times {
        let response = follow(stack, http, token, id, on).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        tokens.push(e2e::consistency_token(&response));
    }
    tokens
}

#[tokio::test]
async fn consistency_tokens_make_writes_visible_to_the_next_read() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(&[], ["alice", "bob"]).await;
    let response = follow(&stack, &http, &bob.access, &alice.id, true).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let followed = e2e::consistency_token(&response);
    feed_after(&stack, &http, &bob.access, &followed).await;

    for n in 0..5 {
        let (_, token) = stack.post(&http, &alice.access, &format!("post {n}")).await;
        let page = feed_after(&stack, &http, &bob.access, &token).await;
        assert_eq!(
            items(&page)[0],
            format!("post {n}"),
            "the follower sees it on the very next read"
        );
    }
    let response = e2e::send(
        http.get(stack.read("/v1/feed"))
            .bearer_auth(&bob.access)
            .header("Consistency-Token", "not-a-token"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn only_the_author_edits_or_deletes_and_feeds_follow() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(&[], ["alice", "bob"]).await;
    follow(&stack, &http, &bob.access, &alice.id, true).await;
    let (id, _) = stack.post(&http, &alice.access, "first draft").await;

    // Someone else's post is indistinguishable from a missing one.
    for request in [
        http.patch(stack.write(&format!("/v1/posts/{id}")))
            .json(&json!({"text": "hijacked"})),
        http.delete(stack.write(&format!("/v1/posts/{id}"))),
    ] {
        let response = request.bearer_auth(&bob.access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let response = stack
        .acting(&http, &alice.access)
        .patch("/v1/posts/999999", json!({"text": "nothing here"}))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = stack
        .acting(&http, &alice.access)
        .patch(&format!("/v1/posts/{id}"), json!({"text": "final text"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = e2e::consistency_token(&response);
    let edited: Value = response.json().await.unwrap();
    assert_eq!(edited["id"], id.as_str());
    let page = feed_after(&stack, &http, &bob.access, &token).await;
    assert_eq!(items(&page), ["final text"]);
    assert_eq!(page["items"][0]["post"]["edited_at"], edited["edited_at"]);

    let token = stack.delete_post(&http, &alice.access, &id).await;
    assert!(items(&feed_after(&stack, &http, &bob.access, &token).await).is_empty());
    assert!(items(&feed_after(&stack, &http, &alice.access, &token).await).is_empty());
    let again = stack
        .acting(&http, &alice.access)
        .delete(&format!("/v1/posts/{id}"))
        .await;
    assert_eq!(
        again.status(),
        StatusCode::NO_CONTENT,
        "deleting twice is harmless"
    );
    let response = stack
        .acting(&http, &alice.access)
        .patch(&format!("/v1/posts/{id}"), json!({"text": "too late"}))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let alice_profile = stack
        .eventually(&http, &stack.read("/v1/users/alice"), None, |p| {
            p["posts_count"] == 0
        })
        .await;
    assert_eq!(alice_profile["followers_count"], 1);
}

#[tokio::test]
async fn follows_are_idempotent_and_unfollow_empties_the_feed() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(&[], ["alice", "bob"]).await;
    stack.post(&http, &alice.access, "before the follow").await;

    assert_eq!(
        follow(&stack, &http, &bob.access, &bob.id, true)
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        follow(&stack, &http, &bob.access, "987654", true)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        follow(&stack, &http, &bob.access, "not-a-number", true)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    let tokens = follow_times(&stack, &http, &bob.access, &alice.id, true, 3).await;
    assert_eq!(tokens[1], tokens[2], "repeated follows change nothing");
    // A new follow brings the author's recent posts into the feed.
    let page = feed_after(&stack, &http, &bob.access, &tokens[0]).await;
    assert_eq!(items(&page), ["before the follow"]);
    let profile = stack
        .eventually(&http, &stack.read("/v1/users/alice"), None, |p| {
            p["followers_count"] == 1
        })
        .await;
    assert_eq!(profile["following_count"], 0);

    let tokens = follow_times(&stack, &http, &bob.access, &alice.id, false, 2).await;
    assert!(items(&feed_after(&stack, &http, &bob.access, &tokens[0]).await).is_empty());
    stack
        .eventually(&http, &stack.read("/v1/users/alice"), None, |p| {
            p["followers_count"] == 0
        })
        .await;
    stack
        .eventually(&http, &stack.read("/v1/users/bob"), None, |p| {
            p["following_count"] == 0
        })
        .await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response() {
    let (stack, http, [alice]) = Stack::with_accounts(&[], ["alice"]).await;
    let send = |text: &str, key: &str| {
        http.post(stack.write("/v1/posts"))
            .bearer_auth(&alice.access)
            .header("Idempotency-Key", key)
            .json(&json!({"text": text}))
            .send()
    };
    let first = send("once only", "key-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_token = e2e::consistency_token(&first);
    let first: Value = first.json().await.unwrap();

    let (a, b) = tokio::join!(send("once only", "key-1"), send("once only", "key-1"));
    for repeat in [a.unwrap(), b.unwrap()] {
        assert_eq!(repeat.status(), StatusCode::CREATED);
        assert_eq!(repeat.headers()["consistency-token"], first_token.as_str());
        let body: Value = repeat.json().await.unwrap();
        assert_eq!(body, first);
    }
    let other = send("a different text", "key-1").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let long_key = "k".repeat(65);
    assert_eq!(
        send("x", &long_key).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send("second post", "key-2").await.unwrap().status(),
        StatusCode::CREATED
    );

    let profile = stack
        .eventually(&http, &stack.read("/v1/users/alice"), None, |p| {
            p["posts_count"] == 2
        })
        .await;
    assert_eq!(profile["posts_count"], 2, "the repeats wrote nothing");
}

#[tokio::test]
async fn authors_turn_celebrity_at_the_threshold_and_back_below_ninety_percent() {
    let (stack, http, [star]) =
        Stack::with_accounts(&[("CELEBRITY_FOLLOWER_THRESHOLD", "2")], ["star"]).await;
    let fans = [
        stack.account(&http, "fan_one").await,
        stack.account(&http, "fan_two").await,
    ];
    for fan in &fans {
        follow(&stack, &http, &fan.access, &star.id, true).await;
    }
    assert!(
        celebrity(&stack, &star.id).await,
        "two followers reach the threshold of two"
    );
    follow(&stack, &http, &fans[0].access, &star.id, false).await;
    assert!(
        !celebrity(&stack, &star.id).await,
        "one follower is below 90% of two"
    );
    let events: Vec<(String,)> = sqlx::query_as(
        "SELECT event_type FROM outbox WHERE event_type = 'author.celebrity_changed' ORDER BY seq",
    )
    .fetch_all(&write_db(&stack).await)
    .await
    .unwrap();
    assert_eq!(events.len(), 2, "each change is itself an event");
    // Posts keep flowing to the remaining fan either way.
    let (_, token) = stack.post(&http, &star.access, "still here").await;
    assert_eq!(
        items(&feed_after(&stack, &http, &fans[1].access, &token).await),
        ["still here"]
    );
}

async fn write_db(stack: &Stack) -> sqlx::PgPool {
    sqlx::PgPool::connect(&stack.write_db).await.unwrap()
}

/// The author's celebrity flag in the write database (it is not public).
async fn celebrity(stack: &Stack, id: &str) -> bool {
    let (celebrity,): (bool,) = sqlx::query_as("SELECT celebrity FROM users WHERE id = $1")
        .bind(id.parse::<i64>().unwrap())
        .fetch_one(&write_db(stack).await)
        .await
        .unwrap();
    celebrity
}
