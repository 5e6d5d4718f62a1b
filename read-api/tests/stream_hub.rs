//! The live stream's hub against a real Redis (and, where the harness
//! starts one, a Redis Cluster) and a real read database: messages
//! published for a connected user reach each of their connections, and a
//! connection that lets its queue overflow is dropped as too slow while the
//! others keep receiving.

use std::sync::Arc;
use std::time::Duration;

use contracts::ids::{PostId, UserId};
use read_api::config::StreamLimits;
use read_api::feed::FeedService;
use read_api::stream::{CloseReason, LiveHub, RefuseReason};
use readmodel::cache::{CacheSettings, HotCache, LiveEvent};
use readmodel::postgres::{MIGRATOR, PgFeedStore};

async fn hub(redis_url: &str, limits: StreamLimits) -> (Arc<LiveHub>, HotCache) {
    let (pool, _) = platform::testing::fresh_database(&MIGRATOR).await;
    let cache = HotCache::connect(
        redis_url,
        2,
        CacheSettings {
            prefix: format!("{}:", platform::testing::unique("hub")),
            feed_cap: 100,
            feed_ttl: Duration::from_secs(60),
            object_ttl: Duration::from_secs(60),
        },
    )
    .await
    .expect("the test Redis answers");
    let feeds = Arc::new(FeedService::new(
        Arc::new(PgFeedStore::new(pool)),
        cache.clone(),
    ));
    (LiveHub::start(feeds, limits).await.unwrap(), cache)
}

fn limits(queue: usize) -> StreamLimits {
    StreamLimits {
        per_replica: 3,
        per_account: 2,
        queue,
        heartbeat: Duration::from_secs(30),
    }
}

fn urls() -> Vec<String> {
    let mut urls = vec![platform::testing::redis_url()];
    match platform::testing::redis_cluster_url() {
        Some(url) => urls.push(url),
        None => eprintln!("Redis Cluster run skipped: TEST_REDIS_CLUSTER_URL is not set"),
    }
    urls
}

#[tokio::test]
async fn a_client_that_falls_behind_is_dropped_and_the_others_keep_up() {
    for url in urls() {
        let (hub, cache) = hub(&url, limits(2)).await;
        let user = UserId(7);
        let mut slow = hub.join(user).await.unwrap();
        let mut keen = hub.join(user).await.unwrap();
        assert!(matches!(
            hub.join(user).await,
            Err(RefuseReason::AccountLimit)
        ));
        for n in 1..=3 {
            let event = LiveEvent::FeedDelete { id: PostId(n) };
            cache.push(&[user], &event).await.unwrap();
            let got = tokio::time::timeout(Duration::from_secs(5), keen.messages.recv())
                .await
                .expect("the keen client hears each message")
                .unwrap();
            assert_eq!(got.event, event);
            assert!(got.id.is_some(), "messages carry their replay id");
        }
        // Two fitted the slow client's queue; the third overflowed it.
        let mut queued = 0;
        while let Some(_message) = slow.messages.recv().await {
            queued += 1;
        }
        assert_eq!(queued, 2);
        assert_eq!(slow.ended(), CloseReason::TooSlow);
        drop(slow);
        // Its place is free again; the replica's limit still holds.
        let _again = hub.join(user).await.unwrap();
        let _other = hub.join(UserId(8)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(matches!(
            hub.join(UserId(9)).await,
            Err(RefuseReason::ReplicaLimit)
        ));
    }
}

#[tokio::test]
async fn nothing_is_published_to_users_nobody_watches() {
    for url in urls() {
        let (hub, cache) = hub(&url, limits(8)).await;
        let (watched, unwatched) = (UserId(1), UserId(2));
        assert!(
            cache
                .online_among(&[watched, unwatched])
                .await
                .unwrap()
                .is_empty()
        );
        let connection = hub.join(watched).await.unwrap();
        assert_eq!(
            cache.online_among(&[watched, unwatched]).await.unwrap(),
            [watched]
        );
        let event = LiveEvent::PostUpdate { id: PostId(3) };
        cache.push(&[watched, unwatched], &event).await.unwrap();
        let logged = cache.replay(unwatched, "0-0").await.unwrap();
        assert!(logged.is_empty(), "no log for a user nobody watches");
        let logged = cache.replay(watched, "0-0").await.unwrap();
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].1, event);
        assert!(
            cache
                .replay(watched, &logged[0].0)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(cache.replay(watched, "not-an-id").await.unwrap().is_empty());
        drop(connection);
    }
}
