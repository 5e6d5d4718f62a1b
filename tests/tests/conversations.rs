//! Replies and threads, likes with counts and viewer state, follow lists
//! and user search, end to end on the real stack.

use e2e::{Account, Stack};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// Posts `text` as a reply to `parent`; returns (id, consistency token).
async fn reply(
    stack: &Stack,
    http: &Client,
    who: &Account,
    parent: &str,
    text: &str,
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

/// GET on the read host as `who`, once the write behind `consistency` is
/// visible.
async fn read(stack: &Stack, http: &Client, path: &str, who: &Account, consistency: &str) -> Value {
    stack.read_as(http, path, &who.access, consistency).await
}

/// An anonymous GET on the read host.
async fn read_anonymously(stack: &Stack, http: &Client, path: &str) -> Value {
    let response = http.get(stack.read(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

fn texts(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["post"]["text"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn replies_form_threads_that_survive_deleted_posts() {
    let (stack, http, [alice, bob]) = Stack::with_accounts(&[], ["alice", "bob"]).await;
    let bad = stack
        .acting(&http, &alice.access)
        .post("/v1/posts", json!({"text": "hi", "in_reply_to_id": "nope"}))
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "in_reply_to_id");
    let missing = stack
        .acting(&http, &alice.access)
        .post(
            "/v1/posts",
            json!({"text": "hi", "in_reply_to_id": "999999999"}),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // root ─┬─ a1 ── b2 ── a3
    //       └─ b1
    let (root, _) = stack.post(&http, &alice.access, "root").await;
    let (a1, _) = reply(&stack, &http, &alice, &root, "a1").await;
    let (b1, _) = reply(&stack, &http, &bob, &root, "b1").await;
    let (b2, bobs_last) = reply(&stack, &http, &bob, &a1, "b2").await;
    let (a3, token) = reply(&stack, &http, &alice, &b2, "a3").await;
    // A token names its writer's event only: bob's replies travel apart
    // from alice's, so the thread is whole once his last one is read too.
    read(&stack, &http, &format!("/v1/posts/{b2}"), &bob, &bobs_last).await;

    let leaf = read(
        &stack,
        &http,
        &format!("/v1/posts/{a3}/context"),
        &alice,
        &token,
    )
    .await;
    assert_eq!(texts(&leaf["ancestors"]), ["root", "a1", "b2"]);
    assert_eq!(texts(&leaf["descendants"]), Vec::<&str>::new());
    let top = read(
        &stack,
        &http,
        &format!("/v1/posts/{root}/context"),
        &alice,
        &token,
    )
    .await;
    assert_eq!(texts(&top["descendants"]), ["a1", "b2", "a3", "b1"]);
    assert_eq!(top["ancestors"], json!([]));

    let item = read(&stack, &http, &format!("/v1/posts/{b2}"), &alice, &token).await;
    assert_eq!(item["in_reply_to_id"], a1.as_str());
    assert_eq!(item["counts"]["replies"], 1);
    assert_eq!(item["viewer"]["liked"], false);
    let anonymous = read_anonymously(&stack, &http, &format!("/v1/posts/{b2}")).await;
    assert!(
        anonymous.get("viewer").is_none(),
        "anonymous reads have no viewer state"
    );
    let root_item = read(&stack, &http, &format!("/v1/posts/{root}"), &alice, &token).await;
    assert_eq!(root_item["counts"]["replies"], 2);
    assert_eq!(root_item["in_reply_to_id"], Value::Null);

    // Direct replies, oldest first, page by page.
    let first = read(
        &stack,
        &http,
        &format!("/v1/posts/{root}/replies?limit=1"),
        &alice,
        &token,
    )
    .await;
    assert_eq!(texts(&first["items"]), ["a1"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = read(
        &stack,
        &http,
        &format!("/v1/posts/{root}/replies?limit=1&cursor={cursor}"),
        &alice,
        &token,
    )
    .await;
    assert_eq!(texts(&second["items"]), ["b1"]);
    assert!(second.get("next_cursor").is_none());
    let foreign = http
        .get(stack.read(&format!("/v1/posts/{a1}/replies?cursor={cursor}")))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);

    // Deleting the middle of the thread leaves a gap, not a cut.
    let deleted = stack.delete_post(&http, &bob.access, &b2).await;
    let leaf = read(
        &stack,
        &http,
        &format!("/v1/posts/{a3}/context"),
        &alice,
        &deleted,
    )
    .await;
    assert_eq!(texts(&leaf["ancestors"]), ["root", "a1"]);
    let top = read(
        &stack,
        &http,
        &format!("/v1/posts/{root}/context"),
        &alice,
        &deleted,
    )
    .await;
    assert_eq!(texts(&top["descendants"]), ["a1", "a3", "b1"]);
    let a1_item = read(&stack, &http, &format!("/v1/posts/{a1}"), &alice, &deleted).await;
    assert_eq!(a1_item["counts"]["replies"], 0);
    let gone = http
        .get(stack.read(&format!("/v1/posts/{b2}/context")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let reply_to_deleted = stack
        .acting(&http, &alice.access)
        .post("/v1/posts", json!({"text": "late", "in_reply_to_id": b2}))
        .await;
    assert_eq!(reply_to_deleted.status(), StatusCode::NOT_FOUND);
    let _ = b1;
}

#[tokio::test]
async fn a_reply_reaches_only_followers_who_follow_the_account_it_answers() {
    let (stack, http, [alice, bob, dave, erin]) =
        Stack::with_accounts(&[], ["alice", "bob", "dave", "erin"]).await;
    // Follows and posts travel on different partitions: the rule applies
    // the follows the read model knows when the reply arrives, so each
    // follow is visible before anything is posted.
    for (who, whom) in [
        (&dave, &alice),
        (&erin, &alice),
        (&erin, &bob),
        (&bob, &alice),
    ] {
        let token = stack.follow(&http, &who.access, &whom.id, true).await;
        read(&stack, &http, "/v1/feed", who, &token).await;
    }
    let (bobs, _) = stack.post(&http, &bob.access, "bob's post").await;
    let (own, _) = stack.post(&http, &alice.access, "alice's post").await;
    reply(&stack, &http, &alice, &bobs, "to bob").await;
    let (_, token) = reply(&stack, &http, &alice, &own, "to herself").await;

    let feed = async |who: &Account| stack.whole_feed(&http, &who.access, &token, 20).await;
    let dave_sees = feed(&dave).await;
    assert_eq!(
        dave_sees,
        ["to herself", "alice's post"],
        "dave follows only alice"
    );
    let erin_sees = feed(&erin).await;
    assert_eq!(
        erin_sees,
        ["to herself", "to bob", "alice's post", "bob's post"]
    );
    let bob_sees = feed(&bob).await;
    assert!(
        bob_sees.contains(&"to bob".to_owned()),
        "the account answered sees it: {bob_sees:?}"
    );
    let alice_sees = feed(&alice).await;
    assert!(alice_sees.contains(&"to bob".to_owned()));

    // A later follow's backfill keeps to the same rule.
    let frank = stack.account(&http, "frank").await;
    let followed = stack.follow(&http, &frank.access, &alice.id, true).await;
    let frank_sees = stack.whole_feed(&http, &frank.access, &followed, 20).await;
    assert_eq!(frank_sees, ["to herself", "alice's post"]);
}

#[tokio::test]
async fn likes_are_idempotent_counted_and_shown_to_the_liker() {
    let (stack, http, [alice, bob, carol]) =
        Stack::with_accounts(&[], ["alice", "bob", "carol"]).await;
    let (post, _) = stack.post(&http, &alice.access, "like me").await;
    let missing = stack
        .acting(&http, &bob.access)
        .put("/v1/posts/999999999/like")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let path = format!("/v1/posts/{post}/like");
    for _ in 0..2 {
        let response = stack.acting(&http, &bob.access).put(&path).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let response = stack.acting(&http, &carol.access).put(&path).await;
    let token = e2e::consistency_token(&response);
    let as_bob = read(&stack, &http, &format!("/v1/posts/{post}"), &bob, &token).await;
    assert_eq!(
        as_bob["counts"],
        json!({"likes": 2, "replies": 0, "reposts": 0})
    );
    assert_eq!(as_bob["viewer"], json!({"liked": true, "reposted": false}));
    let as_alice = read(&stack, &http, &format!("/v1/posts/{post}"), &alice, &token).await;
    assert_eq!(as_alice["viewer"]["liked"], false);

    // The liker's own unlike shows on their next read.
    let response = stack.acting(&http, &bob.access).delete(&path).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let token = e2e::consistency_token(&response);
    let again = stack.acting(&http, &bob.access).delete(&path).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    let timeline = read(&stack, &http, "/v1/users/alice/posts", &bob, &token).await;
    assert_eq!(timeline["items"][0]["viewer"]["liked"], false);
    assert_eq!(timeline["items"][0]["counts"]["likes"], 1);
    let feed = read(&stack, &http, "/v1/feed", &alice, &token).await;
    assert_eq!(feed["items"][0]["counts"]["likes"], 1);
    assert_eq!(feed["items"][0]["viewer"]["liked"], false);

    // A deleted post cannot be liked.
    stack.delete_post(&http, &alice.access, &post).await;
    let gone = stack.acting(&http, &carol.access).put(&path).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn follow_lists_page_newest_first_and_search_finds_by_prefix() {
    let (stack, http, [star, a, b, c]) =
        Stack::with_accounts(&[], ["star", "fan_a", "fan_b", "stargazer"]).await;
    // Each follow travels on its followee's partition: wait for every one.
    let mut token = String::new();
    for (who, whom) in [(&a, &star), (&b, &star), (&c, &star), (&c, &a)] {
        token = stack.follow(&http, &who.access, &whom.id, true).await;
        read(&stack, &http, "/v1/feed", who, &token).await;
    }

    let first = read(
        &stack,
        &http,
        "/v1/users/star/followers?limit=2",
        &star,
        &token,
    )
    .await;
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["stargazer", "fan_b"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = read(
        &stack,
        &http,
        &format!("/v1/users/star/followers?limit=2&cursor={cursor}"),
        &star,
        &token,
    )
    .await;
    assert_eq!(names(&second), ["fan_a"]);
    assert!(second.get("next_cursor").is_none());
    let following = read(
        &stack,
        &http,
        "/v1/users/stargazer/following",
        &star,
        &token,
    )
    .await;
    assert_eq!(names(&following), ["fan_a", "star"]);

    let token = stack.follow(&http, &b.access, &star.id, false).await;
    let after = read(&stack, &http, "/v1/users/star/followers", &star, &token).await;
    assert_eq!(names(&after), ["stargazer", "fan_a"]);
    let unknown = http
        .get(stack.read("/v1/users/nobody/followers"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // Most followed first; prefixes match usernames case-insensitively.
    let found = read(&stack, &http, "/v1/search/users?q=STA", &star, &token).await;
    assert_eq!(names(&found), ["star", "stargazer"]);
    let none = read(&stack, &http, "/v1/search/users?q=st%25", &star, &token).await;
    assert_eq!(names(&none), Vec::<String>::new(), "% matches itself only");
    let renamed = stack
        .acting(&http, &a.access)
        .patch("/v1/accounts/me", json!({"display_name": "Stellar Fan"}))
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let token = e2e::consistency_token(&renamed);
    let by_name = read(
        &stack,
        &http,
        "/v1/search/users?q=stellar%20f",
        &star,
        &token,
    )
    .await;
    assert_eq!(names(&by_name), ["fan_a"]);
    let control = http
        .get(stack.read("/v1/search/users?q=a%00"))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let empty = http
        .get(stack.read("/v1/search/users?q=%20"))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = empty.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "q");
}
