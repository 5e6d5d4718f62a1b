//! The whole pipeline on a Redis Cluster (`TEST_REDIS_CLUSTER_URL`, three
//! masters with a replica each, started by `deploy/stack test`): follows,
//! fan-out, paging across the hot feed and the durable store, hydration
//! from the object cache, deletes. Skipped, saying so, without a cluster.

use e2e::Stack;

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_runs_unchanged_on_a_redis_cluster() {
    let Some(cluster) = platform::testing::redis_cluster_url() else {
        eprintln!("skipped: TEST_REDIS_CLUSTER_URL is not set");
        return;
    };
    // A small hot feed, so pages continue from the durable store too.
    let overrides = [("REDIS_URL", cluster.as_str()), ("FEED_CACHE_SIZE", "4")];
    let (stack, http, [alice, bob, carol]) =
        Stack::with_accounts(&overrides, ["alice", "bob", "carol"]).await;
    stack.follow(&http, &carol.access, &alice.id, true).await;
    stack.follow(&http, &carol.access, &bob.id, true).await;
    stack.post_numbered(&http, &alice.access, "alice", 5).await;
    let last = stack.post_numbered(&http, &bob.access, "bob", 5).await;

    // Newest first: Bob posted after Alice.
    let expected: Vec<String> = ["bob", "alice"]
        .iter()
        .flat_map(|who| (0..5).rev().map(move |n| format!("{who} {n}")))
        .collect();
    // Twice: the first read warms the hot feed and the object cache, the
    // second is served from them (hydration by per-slot MGETs).
    for _ in 0..2 {
        for limit in [2, 3, 20] {
            let feed = stack.whole_feed(&http, &carol.access, &last, limit).await;
            assert_eq!(feed, expected, "limit {limit}");
        }
    }
    let page = e2e::json(
        http.get(stack.read("/v1/feed?limit=1"))
            .bearer_auth(&carol.access),
    )
    .await;
    assert_eq!(page["items"][0]["author"]["username"], "bob", "{page}");

    // A delete and an unfollow reach the clustered feed.
    let (doomed, _) = stack.post(&http, &bob.access, "doomed").await;
    let deleted = stack.delete_post(&http, &bob.access, &doomed).await;
    let feed = stack.whole_feed(&http, &carol.access, &deleted, 5).await;
    assert!(!feed.contains(&"doomed".to_owned()), "{feed:?}");
    let unfollowed = stack.follow(&http, &carol.access, &bob.id, false).await;
    let feed = stack.whole_feed(&http, &carol.access, &unfollowed, 5).await;
    assert!(feed.iter().all(|t| t.starts_with("alice")), "{feed:?}");
}
