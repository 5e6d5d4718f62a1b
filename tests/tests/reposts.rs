//! Reposts end to end: a repost reaches the reposter's followers once, is
//! marked with its reposter, counts and shows to the reposter, and leaves
//! with its undoing (another repost that was passed over taking its place)
//! or the post's deletion; a celebrity's reposts are merged at read time
//! like their posts.

use e2e::{Account, Stack};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// The reposter of each item of a page, by post text.
fn reposters(page: &Value) -> Vec<(String, Option<String>)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let text = item["post"]["text"].as_str().unwrap().to_owned();
            let by = item["reposted_by"]["username"].as_str().map(str::to_owned);
            (text, by)
        })
        .collect()
}

fn shown(text: &str, by: Option<&str>) -> (String, Option<String>) {
    (text.to_owned(), by.map(str::to_owned))
}

/// Sets `who`'s repost of `post`; asserts a 204 and returns its token.
async fn repost(stack: &Stack, http: &Client, who: &Account, post: &str, on: bool) -> String {
    let path = format!("/v1/posts/{post}/repost");
    let acting = stack.acting(http, &who.access);
    let response = if on {
        acting.put(&path).await
    } else {
        acting.delete(&path).await
    };
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
    e2e::consistency_token(&response)
}

async fn feed(stack: &Stack, http: &Client, who: &Account, consistency: &str) -> Value {
    stack
        .read_as(http, "/v1/feed", &who.access, consistency)
        .await
}

#[tokio::test]
async fn a_repost_reaches_followers_once_and_leaves_with_its_undoing_or_the_post() {
    let (stack, http, [alice, bob, carol, dave, erin]) =
        Stack::with_accounts(&[], ["alice", "bob", "carol", "dave", "erin"]).await;
    // Each follow visible before anything is reposted: follows and reposts
    // travel on different partitions.
    for (who, whom) in [
        (&dave, &bob),
        (&dave, &carol),
        (&erin, &alice),
        (&erin, &bob),
    ] {
        let token = stack.follow(&http, &who.access, &whom.id, true).await;
        feed(&stack, &http, who, &token).await;
    }
    let (post, _) = stack.post(&http, &alice.access, "worth sharing").await;

    let own = stack
        .acting(&http, &alice.access)
        .put(&format!("/v1/posts/{post}/repost"))
        .await;
    assert_eq!(own.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = own.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "id");
    let missing = stack
        .acting(&http, &bob.access)
        .put("/v1/posts/999999999/repost")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let bobs = repost(&stack, &http, &bob, &post, true).await;
    repost(&stack, &http, &bob, &post, true).await;
    feed(&stack, &http, &dave, &bobs).await;
    let carols = repost(&stack, &http, &carol, &post, true).await;

    // dave follows both reposters and sees the post once, through bob's.
    let page = feed(&stack, &http, &dave, &carols).await;
    assert_eq!(reposters(&page), [shown("worth sharing", Some("bob"))]);
    assert_eq!(
        page["items"][0]["counts"],
        json!({"likes": 0, "replies": 0, "reposts": 2})
    );
    assert_eq!(page["items"][0]["author"]["username"], "alice");
    assert_eq!(page["items"][0]["post"]["id"], post.as_str());
    // erin follows the author: the post is already in her feed.
    let page = feed(&stack, &http, &erin, &bobs).await;
    assert_eq!(reposters(&page), [shown("worth sharing", None)]);
    // The reposter sees it reposted, in their feed and on their profile.
    let item = stack
        .read_as(&http, &format!("/v1/posts/{post}"), &bob.access, &bobs)
        .await;
    assert_eq!(item["viewer"], json!({"liked": false, "reposted": true}));
    let page = feed(&stack, &http, &bob, &bobs).await;
    assert_eq!(reposters(&page), [shown("worth sharing", Some("bob"))]);
    let profile = stack
        .read_as(&http, "/v1/users/bob/posts", &bob.access, &bobs)
        .await;
    assert_eq!(reposters(&profile), [shown("worth sharing", Some("bob"))]);

    // Undoing is idempotent and takes the repost out at once for bob.
    let undone = repost(&stack, &http, &bob, &post, false).await;
    repost(&stack, &http, &bob, &post, false).await;
    let item = stack
        .read_as(&http, &format!("/v1/posts/{post}"), &bob.access, &undone)
        .await;
    assert_eq!(item["viewer"]["reposted"], false);
    assert_eq!(item["counts"]["reposts"], 1);
    assert!(reposters(&feed(&stack, &http, &bob, &undone).await).is_empty());
    // dave follows carol, whose repost was passed over: it takes the place.
    let page = feed(&stack, &http, &dave, &undone).await;
    assert_eq!(reposters(&page), [shown("worth sharing", Some("carol"))]);

    // A later follow of carol brings her repost in by backfill; deleting
    // the post takes it out.
    let frank = stack.account(&http, "frank").await;
    let followed = stack.follow(&http, &frank.access, &carol.id, true).await;
    let page = feed(&stack, &http, &frank, &followed).await;
    assert_eq!(reposters(&page), [shown("worth sharing", Some("carol"))]);
    let deleted = stack.delete_post(&http, &alice.access, &post).await;
    for who in [&frank, &erin, &carol] {
        let page = feed(&stack, &http, who, &deleted).await;
        assert!(reposters(&page).is_empty(), "{}: {page}", who.username);
    }
    let gone = stack
        .acting(&http, &carol.access)
        .put(&format!("/v1/posts/{post}/repost"))
        .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    // Undoing a repost of a deleted post has nothing left to undo.
    repost(&stack, &http, &carol, &post, false).await;
}

#[tokio::test]
async fn a_celebritys_reposts_are_merged_at_read_time() {
    let (stack, http, [star, alice, fan_a, fan_b]) = Stack::with_accounts(
        &[("CELEBRITY_FOLLOWER_THRESHOLD", "2")],
        ["star", "alice", "fan_a", "fan_b"],
    )
    .await;
    for fan in [&fan_a, &fan_b] {
        let token = stack.follow(&http, &fan.access, &star.id, true).await;
        feed(&stack, &http, fan, &token).await;
    }
    let (post, _) = stack.post(&http, &alice.access, "noticed by a star").await;
    let (_, older) = stack.post(&http, &star.access, "the star's own").await;
    feed(&stack, &http, &fan_a, &older).await;
    let shared = repost(&stack, &http, &star, &post, true).await;
    let page = feed(&stack, &http, &fan_a, &shared).await;
    assert_eq!(
        reposters(&page),
        [
            shown("noticed by a star", Some("star")),
            shown("the star's own", None)
        ]
    );
    let db = sqlx::PgPool::connect(&stack.read_db).await.unwrap();
    let (fanned_out,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM home_feed WHERE owner_id = ANY($1)")
            .bind(vec![
                fan_a.id.parse::<i64>().unwrap(),
                fan_b.id.parse::<i64>().unwrap(),
            ])
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(fanned_out, 0, "nothing of the star's reached a fan's feed");

    let undone = repost(&stack, &http, &star, &post, false).await;
    let page = feed(&stack, &http, &fan_b, &undone).await;
    assert_eq!(reposters(&page), [shown("the star's own", None)]);
}

/// A post reaches a reader through the merge and through fan-out at once
/// (a celebrity's repost of a post the reader follows, a followed
/// account's repost of a followed celebrity's post) and still shows once,
/// at its own place, even when its entries fall on different pages.
#[tokio::test]
async fn a_post_merged_at_read_time_shows_once_across_pages() {
    let (stack, http, [star, ally, fan, other]) = Stack::with_accounts(
        &[("CELEBRITY_FOLLOWER_THRESHOLD", "2")],
        ["star", "ally", "fan", "other"],
    )
    .await;
    for (who, whom) in [(&fan, &star), (&other, &star), (&fan, &ally)] {
        let token = stack.follow(&http, &who.access, &whom.id, true).await;
        feed(&stack, &http, who, &token).await;
    }
    let (star_post, token) = stack.post(&http, &star.access, "the star's").await;
    feed(&stack, &http, &fan, &token).await;
    let token = repost(&stack, &http, &ally, &star_post, true).await;
    feed(&stack, &http, &fan, &token).await;
    let (own, token) = stack.post(&http, &fan.access, "the fan's").await;
    feed(&stack, &http, &fan, &token).await;
    let token = repost(&stack, &http, &star, &own, true).await;
    feed(&stack, &http, &fan, &token).await;
    let (ally_post, token) = stack.post(&http, &ally.access, "the ally's").await;
    feed(&stack, &http, &fan, &token).await;
    let last = repost(&stack, &http, &star, &ally_post, true).await;
    for limit in [1, 20] {
        let items = stack
            .whole_feed_items(&http, &fan.access, &last, limit)
            .await;
        let whole = reposters(&json!({ "items": items }));
        assert_eq!(
            whole,
            [
                shown("the ally's", None),
                shown("the fan's", None),
                shown("the star's", None)
            ],
            "pages of {limit}"
        );
    }
}

#[tokio::test]
async fn unfollowing_a_reposter_hands_the_place_to_another_repost() {
    let (stack, http, [alice, bob, carol, dave]) =
        Stack::with_accounts(&[], ["alice", "bob", "carol", "dave"]).await;
    for whom in [&bob, &carol] {
        let token = stack.follow(&http, &dave.access, &whom.id, true).await;
        feed(&stack, &http, &dave, &token).await;
    }
    let (post, _) = stack.post(&http, &alice.access, "passed around").await;
    let bobs = repost(&stack, &http, &bob, &post, true).await;
    feed(&stack, &http, &dave, &bobs).await;
    let carols = repost(&stack, &http, &carol, &post, true).await;
    let page = feed(&stack, &http, &dave, &carols).await;
    assert_eq!(reposters(&page), [shown("passed around", Some("bob"))]);

    let unfollowed = stack.follow(&http, &dave.access, &bob.id, false).await;
    let page = feed(&stack, &http, &dave, &unfollowed).await;
    assert_eq!(reposters(&page), [shown("passed around", Some("carol"))]);
    let unfollowed = stack.follow(&http, &dave.access, &carol.id, false).await;
    let page = feed(&stack, &http, &dave, &unfollowed).await;
    assert!(reposters(&page).is_empty(), "{page}");
}
