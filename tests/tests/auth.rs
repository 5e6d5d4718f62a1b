//! Accounts and authentication over HTTP against the real services:
//! registration rules, login, refresh rotation with reuse detection,
//! logout, throttling, token misuse, and profile changes reaching the read
//! host through the outbox and the projector.

use e2e::{PASSWORD, Stack};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn refresh(stack: &Stack, http: &Client, token: &str) -> reqwest::Response {
    http.post(stack.write("/v1/sessions/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn usernames_and_emails_are_unique_regardless_of_case() {
    let stack = Stack::start().await;
    let http = Client::new();
    stack.account(&http, "alice").await;
    for (username, email, field) in [
        ("ALICE", "other@example.com", "username"),
        ("alice2", "Alice@Example.com", "email"),
    ] {
        let response = e2e::send(
            http.post(stack.write("/v1/accounts"))
                .json(&json!({"username": username, "email": email, "password": PASSWORD})),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::CONFLICT,
            "{username} {email}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let response = e2e::send(http.post(stack.write("/v1/accounts")).json(
        &json!({"username": "dave", "email": "dave@example.com", "password": "password123"}),
    ))
    .await;
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "common passwords are refused"
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let stack = Stack::start().await;
    let http = Client::new();
    stack.account(&http, "alice").await;
    let wrong = stack.login(&http, "alice", "not the password at all").await;
    let unknown = stack
        .login(&http, "nobody_here", "not the password at all")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().contains_key("www-authenticate"));
    let (wrong, unknown): (Value, Value) =
        (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(
        stack.login(&http, "ALICE", PASSWORD).await.status(),
        StatusCode::OK
    );
    // Names no account can have (PostgreSQL refuses NUL in text) are just unknown.
    let response = stack
        .login(&http, "a\u{0}b", "not the password at all")
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for path in [
        "/v1/users/a%00b",
        "/v1/users/a%00b/posts",
        "/v1/users/%E2%80%AE",
    ] {
        let response = http.get(stack.read(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let (stack, http, [alice]) = Stack::with_accounts(&[], ["alice"]).await;

    let response = refresh(&stack, &http, &alice.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: Value = response.json().await.unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, alice.refresh);
    let response = e2e::send(
        http.get(stack.read("/v1/feed"))
            .bearer_auth(second["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the new access token works on the read host"
    );

    // Replaying the spent token revokes the whole family, the fresh token included.
    assert_eq!(
        refresh(&stack, &http, &alice.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&stack, &http, &second_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Another login starts an independent family.
    let response = stack.login(&http, "alice", PASSWORD).await;
    let third: Value = response.json().await.unwrap();
    assert_eq!(
        refresh(&stack, &http, third["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        refresh(&stack, &http, "made-up").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let (stack, http, [alice]) = Stack::with_accounts(&[], ["alice"]).await;
    let response = stack
        .acting(&http, &alice.access)
        .delete_with("/v1/sessions", json!({"refresh_token": alice.refresh}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        refresh(&stack, &http, &alice.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let (stack, http, [alice]) = Stack::with_accounts(&[], ["alice"]).await;
    for url in [stack.read("/v1/feed"), stack.read("/v1/users/me")] {
        let response = e2e::send(http.get(&url).bearer_auth(&alice.refresh)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{url}");
    }
    let response = stack
        .acting(&http, &alice.refresh)
        .post("/v1/posts", json!({"text": "hi"}))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let stack = Stack::start_with(&[("LOGIN_FAILURE_THRESHOLD", "3")]).await;
    let http = Client::new();
    stack.account(&http, "alice").await;
    for _ in 0..3 {
        assert_eq!(
            stack
                .login(&http, "alice", "wrong password!")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = stack.login(&http, "alice", PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after));
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    // Unknown accounts are throttled the same way.
    for _ in 0..3 {
        stack.login(&http, "ghost_user", "wrong password!").await;
    }
    assert_eq!(
        stack
            .login(&http, "ghost_user", "wrong password!")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn too_many_attempts_from_one_address_are_throttled() {
    let stack = Stack::start_with(&[("LOGIN_ATTEMPTS_PER_MINUTE", "4")]).await;
    let http = Client::new();
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(
            stack
                .login(&http, &format!("user{i}"), "whatever it is")
                .await
                .status(),
        );
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn profile_changes_reach_the_read_host() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(&[], ["alice", "bob"]).await;

    let response = stack
        .acting(&http, &alice.access)
        .patch(
            "/v1/accounts/me",
            json!({"display_name": "  Alice A.  ", "bio": "Hello\nthere"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["display_name"], "Alice A.");
    assert_eq!(profile["username"], "alice");

    let response = stack
        .acting(&http, &alice.access)
        .patch(
            "/v1/accounts/me",
            json!({"display_name": "x".repeat(51), "bio": "y".repeat(161)}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let response = stack
        .acting(&http, &bob.access)
        .put(&format!("/v1/users/{}/follow", alice.id))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let public = stack
        .eventually(&http, &stack.read("/v1/users/alice"), None, |p| {
            p["display_name"] == "Alice A." && p["followers_count"] == 1
        })
        .await;
    assert_eq!(public["bio"], "Hello\nthere");
    assert_eq!(public["id"], alice.id.as_str());
    assert_eq!(public["following_count"], 0);
    let me = stack
        .eventually(&http, &stack.read("/v1/users/me"), Some(&bob.access), |p| {
            p["following_count"] == 1
        })
        .await;
    assert_eq!(me["username"], "bob");
    let response = e2e::send(http.get(stack.read("/v1/users/nobody"))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
