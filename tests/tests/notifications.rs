//! Notifications end to end: every kind arrives once, never for one's own
//! action, is filtered and paged, and is withdrawn with its cause; the read
//! marker travels the outbox and counts what is unread.

use e2e::{Account, Stack};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// (type, actor's username, item's text) of each notification of a page.
fn summary(page: &Value) -> Vec<(String, String, Option<String>)> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|n| {
            (
                n["type"].as_str().unwrap().to_owned(),
                n["account"]["username"].as_str().unwrap().to_owned(),
                n["item"]["post"]["text"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn note(kind: &str, actor: &str, text: Option<&str>) -> (String, String, Option<String>) {
    (kind.to_owned(), actor.to_owned(), text.map(str::to_owned))
}

async fn inbox(stack: &Stack, http: &Client, who: &Account, query: &str, token: &str) -> Value {
    let path = format!("/v1/notifications{query}");
    stack.read_as(http, &path, &who.access, token).await
}

/// Waits until the writes behind every one of `tokens` are visible: they
/// travel different partitions, and a token names one write only.
async fn settle(stack: &Stack, http: &Client, who: &Account, tokens: &mut Vec<String>) {
    for token in tokens.drain(..) {
        stack
            .read_as(http, "/v1/notifications/marker", &who.access, &token)
            .await;
    }
}

/// Sends a command; asserts a 204 and returns its consistency token.
async fn command(stack: &Stack, http: &Client, who: &Account, method: &str, path: &str) -> String {
    let acting = stack.acting(http, &who.access);
    let response = match method {
        "PUT" => acting.put(path).await,
        _ => acting.delete(path).await,
    };
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "{method} {path}");
    e2e::consistency_token(&response)
}

/// Posts `text` (a reply to `parent`, if given); returns (id, token).
async fn post(
    stack: &Stack,
    http: &Client,
    who: &Account,
    text: &str,
    parent: Option<&str>,
) -> (String, String) {
    let response = stack
        .acting(http, &who.access)
        .post("/v1/posts", json!({"text": text, "in_reply_to_id": parent}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let token = e2e::consistency_token(&response);
    let body: Value = response.json().await.unwrap();
    (body["id"].as_str().unwrap().to_owned(), token)
}

#[tokio::test]
async fn every_kind_notifies_once_and_leaves_with_its_cause() {
    let (stack, http, [alice, bob, carol]) =
        Stack::with_accounts(&[], ["alice", "bob", "carol"]).await;
    let mut tokens = vec![
        command(
            &stack,
            &http,
            &bob,
            "PUT",
            &format!("/v1/users/{}/follow", alice.id),
        )
        .await,
    ];
    let (hello, _) = post(&stack, &http, &alice, "hello", None).await;
    let like = format!("/v1/posts/{hello}/like");
    tokens.push(command(&stack, &http, &bob, "PUT", &like).await);
    command(&stack, &http, &bob, "PUT", &like).await;
    tokens.push(command(&stack, &http, &alice, "PUT", &like).await);
    let repost = format!("/v1/posts/{hello}/repost");
    tokens.push(command(&stack, &http, &bob, "PUT", &repost).await);
    post(&stack, &http, &alice, "note to @alice self", None).await;
    let (reply, replied) = post(
        &stack,
        &http,
        &carol,
        "@alice @Bob and @nobody_here: hi",
        Some(&hello),
    )
    .await;
    settle(&stack, &http, &alice, &mut tokens).await;

    let page = inbox(&stack, &http, &alice, "", &replied).await;
    let text = Some("@alice @Bob and @nobody_here: hi");
    assert_eq!(
        summary(&page),
        [
            note("reply", "carol", text),
            note("repost", "bob", Some("hello")),
            note("like", "bob", Some("hello")),
            note("follow", "bob", None),
        ],
        "answered and mentioned, alice is notified of the reply only: {page}"
    );
    let first = &page["items"][0];
    assert_eq!(first["item"]["in_reply_to_id"], hello.as_str());
    assert_eq!(first["item"]["viewer"]["liked"], false);
    assert!(first["id"].as_str().unwrap().parse::<i64>().is_ok());
    assert!(first.get("item").is_some() && page["items"][3].get("item").is_none());
    let bobs = inbox(&stack, &http, &bob, "", &replied).await;
    assert_eq!(summary(&bobs), [note("mention", "carol", text)]);
    let carols = inbox(&stack, &http, &carol, "", &replied).await;
    assert_eq!(summary(&carols), []);

    let filtered = inbox(&stack, &http, &alice, "?types=follow,like", &replied).await;
    assert_eq!(
        summary(&filtered),
        [
            note("like", "bob", Some("hello")),
            note("follow", "bob", None)
        ]
    );
    let mut seen = Vec::new();
    let mut query = "?limit=3".to_owned();
    loop {
        let page = inbox(&stack, &http, &alice, &query, &replied).await;
        seen.extend(summary(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, summary(&page), "pages cover the inbox once");
    for bad in ["?types=favourite", "?cursor=nonsense", "?limit=0"] {
        let response = http
            .get(stack.read(&format!("/v1/notifications{bad}")))
            .bearer_auth(&alice.access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let response = http
        .get(stack.read("/v1/notifications?types=favourite"))
        .bearer_auth(&alice.access)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "types", "{body}");
    let anonymous = http
        .get(stack.read("/v1/notifications"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Undoing withdraws; deleting a post withdraws what it caused and what
    // was about it.
    tokens.push(command(&stack, &http, &bob, "DELETE", &like).await);
    tokens.push(command(&stack, &http, &bob, "DELETE", &repost).await);
    let unfollow = format!("/v1/users/{}/follow", alice.id);
    tokens.push(command(&stack, &http, &bob, "DELETE", &unfollow).await);
    settle(&stack, &http, &alice, &mut tokens).await;
    let deleted = stack.delete_post(&http, &carol.access, &reply).await;
    assert_eq!(
        summary(&inbox(&stack, &http, &alice, "", &deleted).await),
        []
    );
    assert_eq!(summary(&inbox(&stack, &http, &bob, "", &deleted).await), []);

    let liked = command(&stack, &http, &carol, "PUT", &like).await;
    let page = inbox(&stack, &http, &alice, "", &liked).await;
    assert_eq!(summary(&page), [note("like", "carol", Some("hello"))]);
    let gone = stack.delete_post(&http, &alice.access, &hello).await;
    assert_eq!(summary(&inbox(&stack, &http, &alice, "", &gone).await), []);
}

#[tokio::test]
async fn a_post_notifies_at_most_ten_of_the_accounts_it_mentions() {
    let names: [&str; 12] = [
        "writer", "m00", "m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08", "m09", "m10",
    ];
    let (stack, http, accounts) = Stack::with_accounts(&[], names).await;
    let text: String = names[1..].iter().map(|n| format!("@{n} ")).collect();
    let (_, token) = post(&stack, &http, &accounts[0], &text, None).await;
    for (i, account) in accounts.iter().enumerate().skip(1) {
        let page = inbox(&stack, &http, account, "", &token).await;
        let expected = if i <= 10 { 1 } else { 0 };
        assert_eq!(
            summary(&page).len(),
            expected,
            "{}: {page}",
            account.username
        );
    }
}

#[tokio::test]
async fn the_marker_counts_what_is_unread_and_travels_the_outbox() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(&[], ["alice", "bob"]).await;
    let (hello, _) = post(&stack, &http, &alice, "hello", None).await;
    let mut tokens = vec![
        command(
            &stack,
            &http,
            &bob,
            "PUT",
            &format!("/v1/users/{}/follow", alice.id),
        )
        .await,
        command(
            &stack,
            &http,
            &bob,
            "PUT",
            &format!("/v1/posts/{hello}/like"),
        )
        .await,
    ];
    let last = command(
        &stack,
        &http,
        &bob,
        "PUT",
        &format!("/v1/posts/{hello}/repost"),
    )
    .await;
    settle(&stack, &http, &alice, &mut tokens).await;
    let page = inbox(&stack, &http, &alice, "", &last).await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);

    let marker = stack
        .read_as(&http, "/v1/notifications/marker", &alice.access, &last)
        .await;
    assert_eq!(marker, json!({"last_read_id": "0", "unread_count": 3}));

    let set = |id: Value| {
        let acting = stack.acting(&http, &alice.access);
        async move {
            let response = acting
                .put_with("/v1/notifications/marker", json!({ "last_read_id": id }))
                .await;
            let status = response.status();
            let token = response
                .headers()
                .get("consistency-token")
                .map(|t| t.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap_or_default();
            (status, token, body)
        }
    };
    let (status, token, _) = set(json!(ids[1])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let marker = stack
        .read_as(
            &http,
            "/v1/notifications/marker",
            &alice.access,
            &token.unwrap(),
        )
        .await;
    assert_eq!(marker, json!({"last_read_id": ids[1], "unread_count": 1}));
    let (status, _, _) = set(json!(ids[1])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "setting it again is fine");

    for bad in [json!("abc"), json!("-5"), json!("1".repeat(25))] {
        let (status, _, body) = set(bad.clone()).await;
        assert!(status.is_client_error(), "{bad}: {status}");
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(body["errors"][0]["field"], "last_read_id", "{body}");
        }
    }
    let bobs = stack
        .read_as(&http, "/v1/notifications/marker", &bob.access, &last)
        .await;
    assert_eq!(bobs, json!({"last_read_id": "0", "unread_count": 0}));
}
