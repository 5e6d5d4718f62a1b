//! `projector rebuild`: the read model rebuilt from PostgreSQL, the source
//! of truth, while the system serves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use e2e::Stack;
use fred::interfaces::{ClientLike, KeysInterface, SortedSetsInterface};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn read_db(stack: &Stack) -> sqlx::PgPool {
    sqlx::PgPool::connect(&stack.read_db).await.unwrap()
}

async fn redis() -> fred::clients::Client {
    let client = fred::clients::Client::new(
        fred::prelude::Config::from_url(&platform::testing::redis_url()).unwrap(),
        None,
        None,
        None,
    );
    client.init().await.unwrap();
    client
}

fn id(text: &str) -> i64 {
    text.parse().unwrap()
}

/// Notifications (native or Mastodon) as `type "username"`, in order.
fn who_did_what(notifications: &Value) -> Vec<String> {
    notifications
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{} {}",
                n["type"].as_str().unwrap(),
                n["account"]["username"]
            )
        })
        .collect()
}

#[tokio::test]
async fn a_rebuild_repairs_a_corrupted_read_model_from_postgres() {
    let stack = Stack::start().await;
    let http = Client::new();
    let [a, b, c, d] = [
        stack.account(&http, "reader").await,
        stack.account(&http, "bea").await,
        stack.account(&http, "cal").await,
        stack.account(&http, "dee").await,
    ];
    stack.follow(&http, &a.access, &b.id, true).await;
    stack.follow(&http, &a.access, &c.id, true).await;
    let (b1, _) = stack.post(&http, &b.access, "b1").await;
    stack.post(&http, &b.access, "b2").await;
    let (c1, _) = stack.post(&http, &c.access, "c1").await;
    stack.post(&http, &c.access, "c2").await;
    let (d1, _) = stack.post(&http, &d.access, "d1").await;
    let response = stack
        .acting(&http, &b.access)
        .patch(&format!("/v1/posts/{b1}"), json!({"text": "b1 edited"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let last = stack.delete_post(&http, &c.access, &c1).await;
    let expected = ["c2", "b2", "b1 edited"];
    assert_eq!(stack.whole_feed(&http, &a.access, &last, 2).await, expected);

    // Corrupt both tiers: a lost durable feed, lost and bogus follower
    // edges, a stale post text, and a warm hot feed with a post of an
    // author the reader does not follow.
    let db = read_db(&stack).await;
    for (sql, bind) in [
        ("DELETE FROM home_feed WHERE owner_id = $1", id(&a.id)),
        ("DELETE FROM followers WHERE followee_id = $1", id(&b.id)),
        ("UPDATE posts SET text = 'stale' WHERE id = $1", id(&b1)),
    ] {
        sqlx::query(sql).bind(bind).execute(&db).await.unwrap();
    }
    sqlx::query("INSERT INTO followers (followee_id, follower_id) VALUES ($1, $2)")
        .bind(id(&b.id))
        .bind(id(&d.id))
        .execute(&db)
        .await
        .unwrap();
    let (d1_ms,): (i64,) = sqlx::query_as(
        "SELECT (extract(epoch FROM created_at) * 1000)::bigint FROM posts WHERE id = $1",
    )
    .bind(id(&d1))
    .fetch_one(&db)
    .await
    .unwrap();
    let redis = redis().await;
    let prefix = &stack.redis_prefix;
    let _: () = redis
        .zadd(
            format!("{prefix}feed:{{{}}}", a.id),
            None,
            None,
            false,
            false,
            (d1_ms as f64, format!("{:020}", id(&d1))),
        )
        .await
        .unwrap();
    let _: () = redis.del(format!("{prefix}post:{b1}")).await.unwrap();
    let corrupted = stack.whole_feed(&http, &a.access, &last, 10).await;
    assert_eq!(corrupted, ["d1", "c2", "b2", "stale"], "the damage shows");

    let output = stack.run("projector", &["rebuild"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rebuilt 4 users"), "a summary: {stdout}");
    assert_eq!(stack.whole_feed(&http, &a.access, &last, 2).await, expected);

    // The follower edges are right again: a gets b's next post, d does not.
    let (_, last) = stack.post(&http, &b.access, "b3").await;
    assert_eq!(
        stack.whole_feed(&http, &a.access, &last, 10).await,
        ["b3", "c2", "b2", "b1 edited"]
    );
    assert_eq!(stack.whole_feed(&http, &d.access, &last, 10).await, ["d1"]);

    let output = stack.run("projector", &["rebuild", "--user", &a.id]).await;
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("rebuilt 1 users"));
    let output = stack
        .run("projector", &["rebuild", "--user", "999999"])
        .await;
    assert!(!output.status.success(), "an unknown user is an error");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no user 999999"));
}

#[tokio::test]
async fn a_rebuild_while_posts_flow_loses_nothing_and_never_shrinks_a_feed() {
    let (stack, http, [reader, author]) = Stack::with_accounts(&[], ["reader", "author"]).await;
    stack.follow(&http, &reader.access, &author.id, true).await;
    let last = stack
        .post_numbered(&http, &author.access, "before", 5)
        .await;
    assert_eq!(
        stack
            .whole_feed(&http, &reader.access, &last, 100)
            .await
            .len(),
        5
    );

    // Bulk-loaded users give the rebuild enough work to overlap the writes.
    let write_db = sqlx::PgPool::connect(&stack.write_db).await.unwrap();
    sqlx::query(
        "WITH u AS (
             INSERT INTO users (username, email, password_hash)
             SELECT 'bulk_' || g, 'bulk_' || g || '@example.com', 'x'
             FROM generate_series(1, 300) g RETURNING id),
         f AS (INSERT INTO follows (follower_id, followee_id) SELECT id, $1 FROM u)
         INSERT INTO posts (author_id, text) SELECT id, 'bulk ' || n FROM u, generate_series(1, 3) n",
    )
    .bind(id(&author.id))
    .execute(&write_db)
    .await
    .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn({
        let (http, url, token, done) = (
            http.clone(),
            stack.read("/v1/feed?limit=100"),
            reader.access.clone(),
            Arc::clone(&done),
        );
        async move {
            let mut sizes = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let page: Value = e2e::json(http.get(&url).bearer_auth(&token)).await;
                sizes.push(page["items"].as_array().unwrap().len());
            }
            sizes
        }
    });
    let writer = tokio::spawn({
        let (stack_write, http, token) = (
            stack.write("/v1/posts"),
            http.clone(),
            author.access.clone(),
        );
        async move {
            let mut last = String::new();
            for n in 0..20 {
                let response = e2e::send(
                    http.post(&stack_write)
                        .bearer_auth(&token)
                        .json(&json!({"text": format!("during {n}")})),
                )
                .await;
                assert_eq!(response.status(), StatusCode::CREATED);
                last = e2e::consistency_token(&response);
            }
            last
        }
    });
    let output = stack.run("projector", &["rebuild"]).await;
    let last = writer.await.unwrap();
    done.store(true, Ordering::Relaxed);
    let sizes = watcher.await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("rebuilt 302 users"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(sizes.len() > 1, "the feed was read during the rebuild");
    assert!(
        sizes.iter().all(|&n| n >= 5) && sizes.windows(2).all(|w| w[0] <= w[1]),
        "the feed never shrank while it was rebuilt: {sizes:?}"
    );
    let feed = stack.whole_feed(&http, &reader.access, &last, 100).await;
    let expected: Vec<String> = (0..20)
        .rev()
        .map(|n| format!("during {n}"))
        .chain((0..5).rev().map(|n| format!("before {n}")))
        .collect();
    assert_eq!(
        feed, expected,
        "no post written during the rebuild was lost"
    );
}

#[tokio::test]
async fn a_rebuild_repairs_threads_counts_likes_and_follow_lists() {
    let (stack, http, [a, b, c]) = Stack::with_accounts(&[], ["ann", "ben", "cyd"]).await;
    stack.follow(&http, &b.access, &a.id, true).await;
    stack.follow(&http, &c.access, &a.id, true).await;
    let (root, _) = stack.post(&http, &a.access, "root").await;
    let response = stack
        .acting(&http, &b.access)
        .post(
            "/v1/posts",
            json!({"text": "reply", "in_reply_to_id": root}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let reply: Value = response.json().await.unwrap();
    let reply = reply["id"].as_str().unwrap().to_owned();
    for who in [&b, &c] {
        let liked = stack
            .acting(&http, &who.access)
            .put(&format!("/v1/posts/{root}/like"))
            .await;
        assert_eq!(liked.status(), StatusCode::NO_CONTENT);
    }
    let last = stack.follow(&http, &c.access, &a.id, true).await;
    let post_url = stack.read(&format!("/v1/posts/{root}"));
    let healthy = |item: &Value| {
        item["counts"] == json!({"likes": 2, "replies": 1, "reposts": 0})
            && item["viewer"]["liked"] == true
    };
    stack
        .eventually(&http, &post_url, Some(&b.access), healthy)
        .await;
    let followers_url = stack.read("/v1/users/ann/followers");
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|p| p["username"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let both = |page: &Value| names(page) == ["cyd", "ben"];
    stack.eventually(&http, &followers_url, None, both).await;

    // Lose the thread link, the counts (both tiers), a like and a follow
    // edge; invent a like and a follow edge.
    let db = read_db(&stack).await;
    for sql in [
        "DELETE FROM replies",
        "DELETE FROM post_counts",
        "UPDATE likes SET liked = false",
        "DELETE FROM follow_edges",
    ] {
        sqlx::query(sql).execute(&db).await.unwrap();
    }
    sqlx::query("INSERT INTO likes (user_id, post_id, liked, version) VALUES ($1, $2, true, 0)")
        .bind(id(&a.id))
        .bind(id(&reply))
        .execute(&db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO follow_edges (follower_id, followee_id, followed_at_ms) VALUES ($1, $2, 1)",
    )
    .bind(id(&a.id))
    .bind(id(&b.id))
    .execute(&db)
    .await
    .unwrap();
    let redis = redis().await;
    let prefix = &stack.redis_prefix;
    for post in [&root, &reply] {
        let _: () = redis.del(format!("{prefix}counts:{post}")).await.unwrap();
    }
    let damaged: Value = e2e::json(http.get(&post_url).bearer_auth(&b.access)).await;
    assert!(!healthy(&damaged), "the damage shows: {damaged}");

    let output = stack.run("projector", &["rebuild"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let item = e2e::json(http.get(&post_url).bearer_auth(&b.access)).await;
    assert!(healthy(&item), "{item}");
    let context: Value = e2e::json(
        http.get(stack.read(&format!("/v1/posts/{root}/context")))
            .header("Consistency-Token", &last),
    )
    .await;
    assert_eq!(context["descendants"][0]["post"]["text"], "reply");
    let as_ann: Value = e2e::json(
        http.get(stack.read(&format!("/v1/posts/{reply}")))
            .bearer_auth(&a.access),
    )
    .await;
    assert_eq!(
        as_ann["viewer"]["liked"], false,
        "the invented like is gone"
    );
    let followers: Value = e2e::json(http.get(&followers_url)).await;
    assert_eq!(names(&followers), ["cyd", "ben"]);
    let following: Value = e2e::json(http.get(stack.read("/v1/users/ann/following"))).await;
    assert_eq!(
        names(&following),
        Vec::<String>::new(),
        "the invented edge is gone"
    );
}

#[tokio::test]
async fn a_rebuild_repairs_reposts_their_feeds_and_states() {
    let (stack, http, [a, b, c]) = Stack::with_accounts(&[], ["ann", "ben", "cyd"]).await;
    let followed = stack.follow(&http, &c.access, &b.id, true).await;
    stack.read_as(&http, "/v1/feed", &c.access, &followed).await;
    let (post, _) = stack.post(&http, &a.access, "shared").await;
    let response = stack
        .acting(&http, &b.access)
        .put(&format!("/v1/posts/{post}/repost"))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let reposted = e2e::consistency_token(&response);
    let shows_the_repost = |page: &Value| {
        page["items"][0]["post"]["text"] == "shared"
            && page["items"][0]["reposted_by"]["username"] == "ben"
            && page["items"][0]["counts"]["reposts"] == 1
    };
    let page = stack.read_as(&http, "/v1/feed", &c.access, &reposted).await;
    assert!(shows_the_repost(&page), "{page}");

    // Lose the repost (record, timeline and feed entries, offers, state,
    // count) in both tiers; invent a repost state.
    let write_db = sqlx::PgPool::connect(&stack.write_db).await.unwrap();
    let (repost_id,): (i64,) = sqlx::query_as("SELECT id FROM reposts")
        .fetch_one(&write_db)
        .await
        .unwrap();
    let db = read_db(&stack).await;
    for sql in [
        "DELETE FROM posts WHERE repost_of_id IS NOT NULL",
        "DELETE FROM home_feed",
        "DELETE FROM feed_offers",
        "UPDATE reposts SET reposted = false",
        "DELETE FROM post_counts",
    ] {
        sqlx::query(sql).execute(&db).await.unwrap();
    }
    sqlx::query("DELETE FROM timeline WHERE post_id = $1")
        .bind(repost_id)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO reposts (user_id, post_id, reposted, version) VALUES ($1, $2, true, 0)",
    )
    .bind(id(&c.id))
    .bind(id(&post))
    .execute(&db)
    .await
    .unwrap();
    let redis = redis().await;
    let prefix = &stack.redis_prefix;
    let keys = [
        format!("{prefix}post:{repost_id}"),
        format!("{prefix}counts:{post}"),
        format!("{prefix}reposted:{{{}}}:{post}", b.id),
        format!("{prefix}feed:{{{}}}", c.id),
        format!("{prefix}feed:{{{}}}:warm", c.id),
    ];
    for key in keys {
        let _: () = redis.del(key).await.unwrap();
    }
    let damaged = stack.read_as(&http, "/v1/feed", &c.access, &reposted).await;
    assert!(!shows_the_repost(&damaged), "the damage shows: {damaged}");

    let output = stack.run("projector", &["rebuild"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page = stack.read_as(&http, "/v1/feed", &c.access, &reposted).await;
    assert!(shows_the_repost(&page), "{page}");
    assert_eq!(page["items"][0]["viewer"]["reposted"], false, "invented");
    let profile = stack
        .read_as(&http, "/v1/users/ben/posts", &b.access, &reposted)
        .await;
    assert!(shows_the_repost(&profile), "{profile}");
    assert_eq!(profile["items"][0]["viewer"]["reposted"], true);
}

#[tokio::test]
async fn a_rebuild_restores_notifications_and_the_marker() {
    let (stack, http, [a, b]) = Stack::with_accounts(&[], ["amy", "bob"]).await;
    let (post, _) = stack.post(&http, &a.access, "likeable").await;
    stack.follow(&http, &b.access, &a.id, true).await;
    let response = stack
        .acting(&http, &b.access)
        .put(&format!("/v1/posts/{post}/like"))
        .await;
    let liked = e2e::consistency_token(&response);
    let summary = |page: &Value| who_did_what(&page["items"]);
    let page = stack
        .read_as(&http, "/v1/notifications", &a.access, &liked)
        .await;
    assert_eq!(summary(&page), ["like \"bob\"", "follow \"bob\""]);
    let follow_id = page["items"][1]["id"].as_str().unwrap().to_owned();
    let response = stack
        .acting(&http, &a.access)
        .put_with(
            "/v1/notifications/marker",
            json!({"last_read_id": follow_id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let marked = e2e::consistency_token(&response);
    stack
        .read_as(&http, "/v1/notifications/marker", &a.access, &marked)
        .await;

    // Lose both, and invent a notification nothing caused.
    let db = read_db(&stack).await;
    for sql in [
        "DELETE FROM notifications",
        "DELETE FROM notification_markers",
    ] {
        sqlx::query(sql).execute(&db).await.unwrap();
    }
    sqlx::query(
        "INSERT INTO notifications (recipient_id, id, kind, actor_id, post_id, created_at)
         VALUES ($1, 9999999, 'repost', $2, $3, now())",
    )
    .bind(id(&a.id))
    .bind(id(&b.id))
    .bind(id(&post))
    .execute(&db)
    .await
    .unwrap();
    let redis = redis().await;
    let prefix = &stack.redis_prefix;
    for suffix in ["", ":state"] {
        let key = format!("{prefix}inbox:{{{}}}{suffix}", a.id);
        let _: () = redis.del(key).await.unwrap();
    }
    let damaged = stack
        .read_as(&http, "/v1/notifications", &a.access, &marked)
        .await;
    assert_eq!(summary(&damaged), ["repost \"bob\""]);

    let output = stack.run("projector", &["rebuild"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page = stack
        .read_as(&http, "/v1/notifications", &a.access, &marked)
        .await;
    assert_eq!(summary(&page), ["like \"bob\"", "follow \"bob\""]);
    let marker = stack
        .read_as(&http, "/v1/notifications/marker", &a.access, &marked)
        .await;
    assert_eq!(
        marker,
        json!({"last_read_id": follow_id, "unread_count": 1})
    );
}

/// A Mastodon read on the read host as the holder of `token`; the caller's
/// own Mastodon writes are waited for without any header.
async fn mastodon_read(stack: &Stack, http: &Client, token: &str, path: &str) -> Value {
    let response = http
        .get(stack.read(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_rebuild_keeps_inbox_edits_and_restores_favourites_and_the_home_marker() {
    let (stack, http, [a, b, c]) = Stack::with_accounts(&[], ["amy", "bob", "cat"]).await;
    let (post, _) = stack.post(&http, &a.access, "likeable").await;
    for liker in [&b, &c] {
        let response = stack
            .acting(&http, &liker.access)
            .post(&format!("/api/v1/statuses/{post}/favourite"), json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    stack.follow(&http, &b.access, &a.id, true).await;
    let inbox = stack
        .eventually(
            &http,
            &stack.read("/api/v1/notifications"),
            Some(&a.access),
            |page| page.as_array().is_some_and(|n| n.len() == 3),
        )
        .await;
    let bobs_like = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "favourite" && n["account"]["username"] == "bob")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let amy = stack.acting(&http, &a.access);
    let dismissed = amy
        .post(
            &format!("/api/v1/notifications/{bobs_like}/dismiss"),
            json!({}),
        )
        .await;
    assert_eq!(dismissed.status(), StatusCode::OK);
    let marked = amy
        .post("/api/v1/markers", json!({"home": {"last_read_id": post}}))
        .await;
    assert_eq!(marked.status(), StatusCode::OK);
    let expected = ["follow \"bob\"", "favourite \"cat\""];
    let page = mastodon_read(&stack, &http, &a.access, "/api/v1/notifications").await;
    assert_eq!(who_did_what(&page), expected);
    let favourites = |token: String| {
        let (stack, http) = (&stack, &http);
        async move {
            let page = mastodon_read(stack, http, &token, "/api/v1/favourites").await;
            let ids: Vec<String> = page
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect();
            ids
        }
    };
    assert_eq!(favourites(b.access.clone()).await, [post.as_str()]);

    // Lose the inbox, its tombstones, the markers and the favourites.
    let db = read_db(&stack).await;
    for sql in [
        "DELETE FROM notifications",
        "DELETE FROM notification_tombstones",
        "DELETE FROM home_markers",
        "DELETE FROM favourites",
    ] {
        sqlx::query(sql).execute(&db).await.unwrap();
    }
    let redis = redis().await;
    for suffix in ["", ":state"] {
        let key = format!("{}inbox:{{{}}}{suffix}", stack.redis_prefix, a.id);
        let _: () = redis.del(key).await.unwrap();
    }
    assert!(favourites(b.access.clone()).await.is_empty());

    let rebuild = async || {
        let output = stack.run("projector", &["rebuild"]).await;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    rebuild().await;
    let page = mastodon_read(&stack, &http, &a.access, "/api/v1/notifications").await;
    assert_eq!(who_did_what(&page), expected, "the dismissed one stays out");
    let markers = mastodon_read(&stack, &http, &a.access, "/api/v1/markers?timeline[]=home").await;
    assert_eq!(markers["home"]["last_read_id"], json!(post));
    assert_eq!(favourites(b.access.clone()).await, [post.as_str()]);

    // A clear survives a rebuild too, even one that finds the clear's
    // record in the read model lost.
    let cleared = amy.post("/api/v1/notifications/clear", json!({})).await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let page = mastodon_read(&stack, &http, &a.access, "/api/v1/notifications").await;
    assert_eq!(page, json!([]));
    sqlx::query("DELETE FROM notifications_cleared")
        .execute(&db)
        .await
        .unwrap();
    rebuild().await;
    let page = mastodon_read(&stack, &http, &a.access, "/api/v1/notifications").await;
    assert_eq!(page, json!([]));
}
