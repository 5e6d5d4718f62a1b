//! Fan-out on read: a celebrity's posts reach no feed by fan-out, and
//! followers' pages merge the celebrity's timeline in one order. Crossing
//! the threshold either way changes only what happens to new posts.

use e2e::Stack;

/// Durable home-feed entries of `owner`, from the read database.
async fn durable_feed_len(stack: &Stack, owner: &str) -> i64 {
    let db = sqlx::PgPool::connect(&stack.read_db).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM home_feed WHERE owner_id = $1")
        .bind(owner.parse::<i64>().unwrap())
        .fetch_one(&db)
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn celebrity_posts_are_merged_at_read_time_and_nothing_disappears_at_a_crossing() {
    let (stack, http, [star, pal, fan_a, fan_b]) = Stack::with_accounts(
        &[("CELEBRITY_FOLLOWER_THRESHOLD", "2")],
        ["star", "pal", "fan_a", "fan_b"],
    )
    .await;

    stack.post(&http, &star.access, "before fame").await;
    stack.follow(&http, &fan_a.access, &pal.id, true).await;
    stack.follow(&http, &fan_a.access, &star.id, true).await;
    stack.follow(&http, &fan_b.access, &star.id, true).await;

    stack.post(&http, &star.access, "famous 1").await;
    stack.post(&http, &pal.access, "pal 1").await;
    let (_, last) = stack.post(&http, &star.access, "famous 2").await;
    let expected = ["famous 2", "pal 1", "famous 1", "before fame"];
    for limit in [1, 2, 20] {
        assert_eq!(
            stack.whole_feed(&http, &fan_a.access, &last, limit).await,
            expected,
            "one order across pages of {limit}"
        );
    }
    assert_eq!(
        durable_feed_len(&stack, &fan_a.id).await,
        2,
        "fan_a's feed holds the backfilled post from before fame and pal's post, \
         so the merge removed a duplicate"
    );
    assert_eq!(
        durable_feed_len(&stack, &fan_b.id).await,
        0,
        "fan_b followed a celebrity: nothing was fanned out, everything is merged"
    );

    // Below 90% of the threshold the star is ordinary again: new posts fan
    // out, and the posts from the celebrity time stay visible.
    stack.follow(&http, &fan_a.access, &star.id, false).await;
    let (_, last) = stack.post(&http, &star.access, "ordinary again").await;
    assert_eq!(
        stack.whole_feed(&http, &fan_b.access, &last, 2).await,
        ["ordinary again", "famous 2", "famous 1", "before fame"]
    );
    assert_eq!(
        stack.whole_feed(&http, &fan_a.access, &last, 2).await,
        ["pal 1"],
        "an unfollow takes every post of the author out of the feed"
    );

    // A delete reaches merged feeds as well.
    let (famous_3, _) = stack.post(&http, &star.access, "famous 3").await;
    let last = stack.delete_post(&http, &star.access, &famous_3).await;
    assert_eq!(
        stack.whole_feed(&http, &fan_b.access, &last, 3).await,
        ["ordinary again", "famous 2", "famous 1", "before fame"]
    );
}

/// Each read replica merges a celebrity's timeline from its own copy for
/// `CELEBRITY_TIMELINE_COPY_MS`; a read carrying the celebrity's write
/// skips the copy and sees it.
#[tokio::test]
async fn a_read_carrying_a_celebritys_write_sees_past_the_replicas_copy() {
    let (stack, http, [star, fan_a, fan_b]) = Stack::with_accounts(
        &[
            ("CELEBRITY_FOLLOWER_THRESHOLD", "2"),
            ("CELEBRITY_TIMELINE_COPY_MS", "60000"),
        ],
        ["star", "fan_a", "fan_b"],
    )
    .await;
    // A token that names no write: the read waits for nothing.
    let no_write = format!("v1.{}", uuid::Uuid::nil().simple());
    stack.follow(&http, &fan_b.access, &star.id, true).await;
    stack.follow(&http, &fan_a.access, &star.id, true).await;
    let (_, first) = stack.post(&http, &star.access, "first").await;
    assert_eq!(
        stack.whole_feed(&http, &fan_a.access, &first, 20).await,
        ["first"]
    );
    assert_eq!(
        stack.whole_feed(&http, &fan_a.access, &no_write, 20).await,
        ["first"],
        "this read took the replica's copy"
    );

    let (_, second) = stack.post(&http, &star.access, "second").await;
    assert_eq!(
        stack.whole_feed(&http, &fan_a.access, &second, 20).await,
        ["second", "first"]
    );
    assert_eq!(
        stack.whole_feed(&http, &fan_b.access, &no_write, 20).await,
        ["first"],
        "without the token a page may lag by the copy's lifetime"
    );
}
