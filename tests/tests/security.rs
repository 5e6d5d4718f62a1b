//! Regressions of the security review's findings, against the real
//! services: no request can hang the write service, metrics labels and
//! consistency waits stay bounded whatever clients send, registration and
//! login limits hold, a revoked session's tokens fail on both hosts, and
//! the headers a browser or cache acts on are right.

use std::time::{Duration, Instant};

use e2e::{PASSWORD, Stack};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

async fn connect(url: &str) -> sqlx::PgConnection {
    <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap()
}

/// Every request here must answer well within this, or it is a hang.
const PROMPT: Duration = Duration::from_secs(10);

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    tokio::time::timeout(PROMPT, request.send())
        .await
        .expect("the service answers promptly instead of hanging")
        .unwrap()
}

/// The relay's former leader-lock key ("outbox" in ASCII), which shared
/// the single-bigint advisory lock space with the partition keys.
const RELAY_LOCK_AS_ID: i64 = 0x6f75_7462_6f78;

#[tokio::test(flavor = "multi_thread")]
async fn no_request_can_hold_the_write_service_or_a_read_replica() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(
        &[
            ("DATABASE_LOCK_TIMEOUT_MS", "300"),
            ("READ_YOUR_WRITES_TIMEOUT_MS", "30000"),
        ],
        ["alice", "bob"],
    )
    .await;

    // A made-up id, even the relay's old lock key while the relay leads,
    // is a prompt 404 and takes no lock.
    for id in [RELAY_LOCK_AS_ID, 999_999] {
        let response = send(
            http.put(stack.write(&format!("/v1/users/{id}/follow")))
                .bearer_auth(&bob.access),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }

    // A key lock held elsewhere: the command gives up at lock_timeout with
    // 503 and Retry-After, and its pool connection is free again.
    let mut holder = connect(&stack.write_db).await;
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    let alice_id: i64 = alice.id.parse().unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(2, $1)")
        .bind(alice_id as i32)
        .execute(&mut holder)
        .await
        .unwrap();
    let response = send(
        http.put(stack.write(&format!("/v1/users/{}/follow", alice.id)))
            .bearer_auth(&bob.access),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let response = send(
        http.put(stack.write(&format!("/v1/users/{}/follow", alice.id)))
            .bearer_auth(&bob.access),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Made-up methods share one label value.
    let long = "X".repeat(300);
    for method in ["SECPROBEX", long.as_str()] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        send(http.request(method, stack.write("/v1/posts"))).await;
    }
    let metrics = send(http.get(stack.write("/metrics")))
        .await
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("SECPROBEX") && !metrics.contains(&long));
    assert!(metrics.contains("method=\"other\""));

    // A forged consistency token holds nothing but an authenticated read
    // of a read route: not an anonymous read, not an unknown route.
    let forged = format!("v1.{}", uuid::Uuid::new_v4().simple());
    for (path, token) in [
        ("/v1/users/alice", None),
        ("/v1/nothing/here", Some(&bob.access)),
    ] {
        let mut request = http
            .get(stack.read(path))
            .header("Consistency-Token", &forged);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = send(request).await;
        assert!(
            !response.headers().contains_key("consistency-token-timeout"),
            "{path} did not wait"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_beyond_the_waiter_cap_are_answered_at_once() {
    let (stack, http, [bob]) = Stack::with_accounts(
        &[
            ("READ_YOUR_WRITES_TIMEOUT_MS", "30000"),
            ("READ_YOUR_WRITES_MAX_WAITERS", "0"),
        ],
        ["bob"],
    )
    .await;
    let forged = format!("v1.{}", uuid::Uuid::new_v4().simple());
    let response = send(
        http.get(stack.read("/v1/feed"))
            .bearer_auth(&bob.access)
            .header("Consistency-Token", &forged),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["consistency-token-timeout"], "true");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_sessions_tokens_fail_on_every_host() {
    let (stack, http, [alice]) = Stack::with_accounts(&[], ["alice"]).await;
    let second = stack.login(&http, "alice", PASSWORD).await;
    let second: Value = second.json().await.unwrap();
    let (second_access, second_refresh) = (
        second["access_token"].as_str().unwrap().to_owned(),
        second["refresh_token"].as_str().unwrap().to_owned(),
    );
    let me = |token: &str| http.get(stack.read("/v1/users/me")).bearer_auth(token);
    let edit = |token: &str| {
        http.patch(stack.write("/v1/accounts/me"))
            .bearer_auth(token)
            .json(&json!({"bio": "still here"}))
    };
    stack
        .eventually(
            &http,
            &stack.read("/v1/users/me"),
            Some(&alice.access),
            |_| true,
        )
        .await;
    assert_eq!(send(edit(&alice.access)).await.status(), StatusCode::OK);

    // Logout revokes the first session: the write host refuses its access
    // token at once, the read host as soon as the revocation arrives.
    let response = send(
        http.delete(stack.write("/v1/sessions"))
            .bearer_auth(&alice.access)
            .json(&json!({"refresh_token": alice.refresh})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        send(edit(&alice.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let revoked_at = Instant::now();
    wait_for_status(me(&alice.access), StatusCode::UNAUTHORIZED).await;
    eprintln!(
        "the read host refused the revoked token after {:?}",
        revoked_at.elapsed()
    );
    // The other session is untouched.
    assert_eq!(send(me(&second_access)).await.status(), StatusCode::OK);

    // Refresh-token reuse revokes the whole family, access tokens included.
    for expected in [StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let response = send(
            http.post(stack.write("/v1/sessions/refresh"))
                .json(&json!({"refresh_token": second_refresh})),
        )
        .await;
        assert_eq!(response.status(), expected);
    }
    assert_eq!(
        send(edit(&second_access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    wait_for_status(me(&second_access), StatusCode::UNAUTHORIZED).await;
}

/// Repeats `request` until it answers `status`, for at most 10 s.
async fn wait_for_status(request: reqwest::RequestBuilder, status: StatusCode) {
    e2e::until(&format!("status {status}"), PROMPT, async || {
        let response = send(request.try_clone().unwrap()).await;
        (response.status() == status).then_some(())
    })
    .await;
}

async fn hashes(stack: &Stack, http: &Client) -> f64 {
    let metrics = send(http.get(stack.write("/metrics")))
        .await
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .find(|l| l.starts_with("password_hashes_total{") && l.contains("operation=\"hash\""))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

fn register(http: &Client, stack: &Stack, from: &str, username: &str) -> reqwest::RequestBuilder {
    http.post(stack.write("/v1/accounts"))
        .header("X-Forwarded-For", from)
        .json(&json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": PASSWORD,
        }))
}

fn login(http: &Client, stack: &Stack, from: &str, password: &str) -> reqwest::RequestBuilder {
    http.post(stack.write("/v1/sessions"))
        .header("X-Forwarded-For", from)
        .json(&json!({"username": "alice", "password": password}))
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_logins_and_sessions_are_limited() {
    let stack = Stack::start_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("REGISTRATIONS_PER_HOUR", "3"),
        ("LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR", "3"),
        ("SESSION_MAX_LIFETIME_SECS", "2"),
    ])
    .await;
    let http = Client::new();
    let client = "198.51.100.1";

    // A taken name is refused before any password is hashed; a client
    // address registers at most three times an hour.
    assert_eq!(
        send(register(&http, &stack, client, "alice"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let hashed = hashes(&stack, &http).await;
    assert!(hashed >= 1.0, "the registration's hash is counted");
    assert_eq!(
        send(register(&http, &stack, client, "alice"))
            .await
            .status(),
        StatusCode::CONFLICT
    );
    assert_eq!(hashes(&stack, &http).await, hashed, "a 409 hashes nothing");
    assert_eq!(
        send(register(&http, &stack, client, "bob")).await.status(),
        StatusCode::CREATED
    );
    let limited = send(register(&http, &stack, client, "carol")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(
        send(register(&http, &stack, "198.51.100.2", "carol"))
            .await
            .status(),
        StatusCode::CREATED,
        "another address is not limited"
    );

    // A session ends at its absolute lifetime, refreshed or not.
    let tokens: Value = send(login(&http, &stack, "203.0.113.9", PASSWORD))
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let response = send(
        http.post(stack.write("/v1/sessions/refresh"))
            .json(&json!({"refresh_token": tokens["refresh_token"]})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Guesses spread over many addresses still count against the account.
    for n in 1..=3 {
        let response = send(login(
            &http,
            &stack,
            &format!("203.0.113.{n}"),
            "not the password at all",
        ))
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = send(login(&http, &stack, "203.0.113.4", PASSWORD)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // X-Forwarded-For is parsed as addresses: garbage is never a key.
    send(login(&http, &stack, &"x".repeat(8000), PASSWORD)).await;
    let mut db = connect(&stack.write_db).await;
    let (longest,): (Option<i32>,) = sqlx::query_as(
        "SELECT max(length(subject)) FROM rate_windows WHERE action <> 'login_failures'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(longest.unwrap_or(0) <= 43, "{longest:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_tell_browsers_and_caches_what_they_may_do() {
    let (stack, http, [bob]) = Stack::with_accounts(&[], ["bob"]).await;

    let tokens = send(
        http.post(stack.write("/v1/sessions"))
            .json(&json!({"username": "bob", "password": PASSWORD})),
    )
    .await;
    assert_eq!(tokens.headers()["cache-control"], "no-store");
    let me = send(
        http.get(stack.read("/v1/users/me"))
            .bearer_auth(&bob.access),
    )
    .await;
    assert_eq!(me.headers()["cache-control"], "no-store");
    for response in [&tokens, &me] {
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let missing = send(http.get(stack.read("/v1/nothing"))).await;
    assert_eq!(missing.headers()["x-content-type-options"], "nosniff");

    // CORS answers vary by origin, and the opaque `null` origin is never allowed.
    for host in [stack.write("/health"), stack.read("/v1/users/bob")] {
        let allowed = send(http.get(&host).header("Origin", "https://app.example")).await;
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://app.example"
        );
        assert!(
            allowed
                .headers()
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().contains("Origin")),
            "{host}"
        );
        let null = send(http.get(&host).header("Origin", "null")).await;
        assert!(
            !null.headers().contains_key("access-control-allow-origin"),
            "{host}"
        );
    }

    // Path parameters are named as the contract names them.
    let response = send(
        http.put(stack.write("/v1/users/abc/follow"))
            .bearer_auth(&bob.access),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "id", "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_limited_per_account() {
    let overrides = [("POSTS_PER_MINUTE", "3"), ("FOLLOWS_PER_MINUTE", "2")];
    let (stack, http, [alice, bob]) = Stack::with_accounts(&overrides, ["alice", "bob"]).await;
    // Eight attempts touch at most two fixed one-minute windows, so at most
    // six pass and at least one is refused.
    let mut created = 0;
    let mut refused = 0;
    for n in 0..8 {
        let response = stack
            .acting(&http, &alice.access)
            .post("/v1/posts", json!({"text": format!("post {n}")}))
            .await;
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                let problem: Value = response.json().await.unwrap();
                assert_eq!(problem["status"], 429);
                refused += 1;
            }
            other => panic!("post {n}: {other}"),
        }
    }
    assert!(
        created <= 6 && refused >= 2,
        "{created} created, {refused} refused"
    );
    stack.post(&http, &bob.access, "another account").await;

    let mut follows = Vec::new();
    for n in 0..6 {
        let path = format!("/v1/users/{}/follow", alice.id);
        let acting = stack.acting(&http, &bob.access);
        let response = if n % 2 == 0 {
            acting.put(&path).await
        } else {
            acting.delete(&path).await
        };
        follows.push(response.status());
    }
    assert!(
        follows.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{follows:?}"
    );
}
