//! The Redis tier against a real Redis and, where `TEST_REDIS_CLUSTER_URL`
//! names one (`deploy/stack test` starts it), a real Redis Cluster; each
//! test under its own key prefix.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use contracts::ids::{NotificationId, PostId, UserId};
use readmodel::cache::{CacheSettings, HotCache, HotInbox, HotList, INBOX_CAP, Loaded};
use readmodel::{FeedPosition, NotificationKind, NotificationRecord, PostRecord, ProfileRecord};

/// A cache on the single Redis and one on the cluster, if there is one.
async fn caches(feed_cap: usize) -> Vec<HotCache> {
    let mut urls = vec![platform::testing::redis_url()];
    match platform::testing::redis_cluster_url() {
        Some(url) => urls.push(url),
        None => eprintln!("Redis Cluster run skipped: TEST_REDIS_CLUSTER_URL is not set"),
    }
    let mut caches = Vec::new();
    for url in urls {
        caches.push(cache(&url, feed_cap).await);
    }
    caches
}

async fn cache(url: &str, feed_cap: usize) -> HotCache {
    HotCache::connect(
        url,
        2,
        CacheSettings {
            prefix: format!("{}:", platform::testing::unique("test")),
            feed_cap,
            feed_ttl: Duration::from_secs(60),
            object_ttl: Duration::from_secs(60),
        },
    )
    .await
    .expect("the test Redis answers")
}

/// The entries of a page of `list`, or `None` while it is cold.
async fn hot_entries(
    cache: &HotCache,
    list: HotList,
    after: Option<FeedPosition>,
    limit: usize,
) -> Option<Vec<FeedPosition>> {
    let page = cache.list_page(list, after, limit).await.unwrap();
    page.map(|p| p.entries)
}

fn pos(ms: i64, id: i64) -> FeedPosition {
    FeedPosition {
        created_at_ms: ms,
        post_id: PostId(id),
    }
}

#[tokio::test]
async fn a_feed_is_trusted_only_once_warmed() {
    for cache in caches(10).await {
        let alice = UserId(1);
        cache.fan_out(&[alice], pos(5_000, 5)).await.unwrap();
        // Fan-out alone may have written a fragment of an expired feed.
        assert_eq!(
            hot_entries(&cache, HotList::Home(alice), None, 10).await,
            None
        );

        cache
            .warm(
                HotList::Home(alice),
                &[pos(1_000, 1), pos(2_000, 2)],
                Loaded::Newest,
            )
            .await
            .unwrap();
        // Warming adds to what fan-out wrote meanwhile instead of replacing it.
        assert_eq!(
            hot_entries(&cache, HotList::Home(alice), None, 10).await,
            Some(vec![pos(5_000, 5), pos(2_000, 2), pos(1_000, 1)])
        );
        // An empty warmed feed is a real answer, not a miss.
        cache
            .warm(HotList::Home(UserId(2)), &[], Loaded::Newest)
            .await
            .unwrap();
        assert_eq!(
            hot_entries(&cache, HotList::Home(UserId(2)), None, 10).await,
            Some(vec![])
        );
    }
}

#[tokio::test]
async fn pages_order_ties_by_id_and_start_strictly_after_the_cursor() {
    for cache in caches(100).await {
        let owner = UserId(1);
        let entries: Vec<FeedPosition> = (1..=30).map(|id| pos(1_000 + id / 10, id)).collect();
        cache
            .warm(HotList::Home(owner), &entries, Loaded::Newest)
            .await
            .unwrap();

        let mut expected = entries.clone();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = hot_entries(&cache, HotList::Home(owner), after, 4)
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().copied();
            seen.extend(page);
        }
        assert_eq!(seen, expected);
        // Ids are zero-padded members, so 10 sorts after 9 within one millisecond.
        assert_eq!(
            hot_entries(&cache, HotList::Home(owner), Some(pos(1_001, 11)), 2)
                .await
                .unwrap(),
            vec![pos(1_001, 10), pos(1_000, 9)]
        );
    }
}

#[tokio::test]
async fn feeds_keep_only_the_newest_entries() {
    for cache in caches(3).await {
        let owner = UserId(1);
        cache
            .warm(HotList::Home(owner), &[pos(1_000, 1)], Loaded::Newest)
            .await
            .unwrap();
        for id in 2..=5 {
            cache
                .fan_out(&[owner, UserId(2)], pos(id * 1_000, id))
                .await
                .unwrap();
        }
        assert_eq!(
            hot_entries(&cache, HotList::Home(owner), None, 10).await,
            Some(vec![pos(5_000, 5), pos(4_000, 4), pos(3_000, 3)])
        );
    }
}

#[tokio::test]
async fn a_feed_never_takes_an_entry_that_would_leave_a_gap() {
    for cache in caches(3).await {
        let owner = UserId(1);
        // The durable feed holds 1..=5; the hot set its newest three.
        cache
            .warm(
                HotList::Home(owner),
                &[pos(5_000, 5), pos(4_000, 4), pos(3_000, 3)],
                Loaded::Newest,
            )
            .await
            .unwrap();
        cache
            .remove_from_list(HotList::Home(owner), &[pos(5_000, 5)])
            .await
            .unwrap();
        // A backfilled entry older than the oldest kept one stays durable-only:
        // in the set it would sit below 3 with 2 missing in between.
        cache
            .add_to_list(HotList::Home(owner), &[pos(1_500, 7), pos(3_500, 8)])
            .await
            .unwrap();
        assert_eq!(
            hot_entries(&cache, HotList::Home(owner), None, 10).await,
            Some(vec![pos(4_000, 4), pos(3_500, 8), pos(3_000, 3)])
        );
        // An emptied set no longer knows where it ends: the next entry makes it
        // cold, so the next read goes to the durable store and re-warms it.
        cache
            .remove_from_list(
                HotList::Home(owner),
                &[pos(4_000, 4), pos(3_500, 8), pos(3_000, 3)],
            )
            .await
            .unwrap();
        assert_eq!(
            hot_entries(&cache, HotList::Home(owner), None, 10).await,
            Some(vec![])
        );
        cache.fan_out(&[owner], pos(9_000, 9)).await.unwrap();
        assert_eq!(
            hot_entries(&cache, HotList::Home(owner), None, 10).await,
            None
        );
    }
}

#[tokio::test]
async fn an_authors_timeline_is_a_list_of_its_own_beside_their_home_feed() {
    for cache in caches(3).await {
        let user = UserId(1);
        let (home, timeline) = (HotList::Home(user), HotList::Timeline(user));
        cache
            .warm(home, &[pos(1_000, 1)], Loaded::Newest)
            .await
            .unwrap();
        assert_eq!(hot_entries(&cache, timeline, None, 10).await, None);
        cache
            .warm(timeline, &[pos(3_000, 3), pos(2_000, 2)], Loaded::Newest)
            .await
            .unwrap();
        cache
            .add_to_list(timeline, &[pos(4_000, 4), pos(5_000, 5)])
            .await
            .unwrap();
        cache
            .remove_from_list(timeline, &[pos(4_000, 4)])
            .await
            .unwrap();
        assert_eq!(
            hot_entries(&cache, timeline, None, 10).await,
            Some(vec![pos(5_000, 5), pos(3_000, 3)]),
            "trimmed to the cap, then one removed"
        );
        assert_eq!(
            hot_entries(&cache, home, None, 10).await,
            Some(vec![pos(1_000, 1)])
        );
        cache.forget_list(timeline).await.unwrap();
        assert_eq!(hot_entries(&cache, timeline, None, 10).await, None);
        assert!(hot_entries(&cache, home, None, 10).await.is_some());
    }
}

#[tokio::test]
async fn a_list_loaded_whole_ends_its_pages_until_the_cap_cuts_it() {
    for cache in caches(3).await {
        let list = HotList::Timeline(UserId(1));
        let at_end = |after, limit| {
            let cache = cache.clone();
            async move {
                let page = cache.list_page(list, after, limit).await.unwrap();
                page.expect("warm").at_end
            }
        };
        cache
            .warm(list, &[pos(2_000, 2), pos(1_000, 1)], Loaded::Whole)
            .await
            .unwrap();
        assert!(
            at_end(None, 10).await,
            "a short page of a whole list ends it"
        );
        assert!(!at_end(None, 2).await, "a full page does not know");
        assert!(at_end(Some(pos(2_000, 2)), 2).await);
        // A whole list takes entries older than its oldest: there is no gap.
        cache.add_to_list(list, &[pos(500, 7)]).await.unwrap();
        assert_eq!(
            hot_entries(&cache, list, None, 10).await,
            Some(vec![pos(2_000, 2), pos(1_000, 1), pos(500, 7)])
        );
        assert!(at_end(None, 10).await);
        // Trimmed to the cap, it holds the newest entries only.
        cache.add_to_list(list, &[pos(3_000, 3)]).await.unwrap();
        assert!(!at_end(None, 10).await);

        // An emptied whole list is an empty list, and stays warm.
        let other = HotList::Timeline(UserId(2));
        cache
            .warm(other, &[pos(1_000, 1)], Loaded::Whole)
            .await
            .unwrap();
        cache
            .remove_from_list(other, &[pos(1_000, 1)])
            .await
            .unwrap();
        cache.add_to_list(other, &[pos(2_000, 2)]).await.unwrap();
        let page = cache.list_page(other, None, 10).await.unwrap().unwrap();
        assert_eq!((page.entries, page.at_end), (vec![pos(2_000, 2)], true));

        // A warm that finds more than the cap (fan-out added meanwhile)
        // keeps the newest and says so.
        let busy = HotList::Home(UserId(3));
        cache.fan_out(&[UserId(3)], pos(8_000, 8)).await.unwrap();
        cache.fan_out(&[UserId(3)], pos(9_000, 9)).await.unwrap();
        cache
            .warm(busy, &[pos(2_000, 2), pos(1_000, 1)], Loaded::Whole)
            .await
            .unwrap();
        let page = cache.list_page(busy, None, 10).await.unwrap().unwrap();
        assert_eq!(
            (page.entries, page.at_end),
            (vec![pos(9_000, 9), pos(8_000, 8), pos(2_000, 2)], false)
        );
    }
}

fn profile(version: i64) -> ProfileRecord {
    ProfileRecord {
        id: UserId(1),
        username: "alice".into(),
        display_name: format!("Alice v{version}"),
        bio: String::new(),
        followers_count: 0,
        following_count: 0,
        posts_count: 0,
        celebrity: false,
        created_at: Utc.timestamp_millis_opt(1_000).unwrap(),
        version,
    }
}

#[tokio::test]
async fn a_cached_profile_never_goes_back_to_an_older_version() {
    for cache in caches(10).await {
        cache.put_profiles(&[profile(3)]).await.unwrap();
        cache.put_profiles(&[profile(2)]).await.unwrap();
        assert_eq!(
            cache.profiles(&[UserId(1)]).await.unwrap(),
            vec![Some(profile(3))]
        );
        cache.put_profiles(&[profile(4)]).await.unwrap();
        assert_eq!(
            cache.profiles(&[UserId(1)]).await.unwrap(),
            vec![Some(profile(4))]
        );
    }
}

#[tokio::test]
async fn posts_and_profiles_come_back_slot_for_slot() {
    for cache in caches(10).await {
        let post = PostRecord {
            id: PostId(7),
            author_id: UserId(1),
            text: "hello".into(),
            created_at: Utc.timestamp_millis_opt(1_000).unwrap(),
            edited_at: None,
            in_reply_to_id: None,
            in_reply_to_author_id: None,
            repost_of: None,
        };
        let profile = profile(2);
        cache.put_posts(std::slice::from_ref(&post)).await.unwrap();
        cache
            .put_profiles(std::slice::from_ref(&profile))
            .await
            .unwrap();
        assert_eq!(
            cache.posts(&[PostId(8), PostId(7)]).await.unwrap(),
            vec![None, Some(post)]
        );
        assert_eq!(
            cache.profiles(&[UserId(1)]).await.unwrap(),
            vec![Some(profile)]
        );
        assert!(cache.posts(&[]).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_celebrity_list_loaded_before_a_change_is_never_cached_after_it() {
    for cache in caches(10).await {
        let reader = UserId(7);
        let (cached, version) = cache.celebrity_follows(reader).await.unwrap();
        assert_eq!(cached, None);
        // A reader loads the durable list; the projector changes it before
        // the reader's refill lands: the refill is refused.
        cache.celebrity_follows_changed(&[reader]).await.unwrap();
        cache
            .put_celebrity_follows(reader, &[UserId(1)], &version)
            .await
            .unwrap();
        let (cached, version) = cache.celebrity_follows(reader).await.unwrap();
        assert_eq!(cached, None, "the stale refill did not land");
        // A refill quoting the current version lands, empty lists included.
        cache
            .put_celebrity_follows(reader, &[], &version)
            .await
            .unwrap();
        assert_eq!(
            cache.celebrity_follows(reader).await.unwrap().0,
            Some(vec![])
        );
        cache.celebrity_follows_changed(&[reader]).await.unwrap();
        let (cached, version) = cache.celebrity_follows(reader).await.unwrap();
        assert_eq!(cached, None, "a change drops the cached list");
        cache
            .put_celebrity_follows(reader, &[UserId(1), UserId(2)], &version)
            .await
            .unwrap();
        assert_eq!(
            cache.celebrity_follows(reader).await.unwrap().0,
            Some(vec![UserId(1), UserId(2)])
        );
    }
}

fn note(id: i64) -> NotificationRecord {
    NotificationRecord {
        id: NotificationId(id),
        kind: NotificationKind::Like,
        actor: UserId(9),
        post: Some(PostId(id)),
        created_at: Utc.timestamp_millis_opt(id * 1_000).unwrap(),
    }
}

fn warm_ids(inbox: HotInbox) -> (Vec<i64>, bool) {
    match inbox {
        HotInbox::Warm {
            notifications,
            complete,
        } => (notifications.iter().map(|n| n.id.0).collect(), complete),
        HotInbox::Cold { .. } => panic!("the inbox is cold"),
    }
}

async fn cold_version(cache: &HotCache, user: UserId) -> String {
    match cache.inbox(user, None, 10).await.unwrap() {
        HotInbox::Cold { version } => version,
        warm => panic!("expected a cold inbox, got {warm:?}"),
    }
}

#[tokio::test]
async fn an_inbox_warms_only_if_nothing_changed_since_its_load() {
    for cache in caches(10).await {
        let me = UserId(1);
        let version = cold_version(&cache, me).await;
        // The projector writes while the reader loads: the stale load is refused.
        cache.add_notification(me, &note(3)).await.unwrap();
        cache
            .warm_inbox(me, &version, &[note(2), note(1)], true)
            .await
            .unwrap();
        let version = cold_version(&cache, me).await;
        cache
            .warm_inbox(me, &version, &[note(3), note(2), note(1)], true)
            .await
            .unwrap();
        let read = cache.inbox(me, None, 10).await.unwrap();
        assert_eq!(warm_ids(read), (vec![3, 2, 1], true));

        cache.add_notification(me, &note(4)).await.unwrap();
        cache.add_notification(me, &note(4)).await.unwrap();
        cache
            .remove_notification(me, NotificationId(2))
            .await
            .unwrap();
        let read = cache.inbox(me, None, 10).await.unwrap();
        assert_eq!(warm_ids(read), (vec![4, 3, 1], true));
        let read = cache.inbox(me, Some(NotificationId(4)), 1).await.unwrap();
        assert_eq!(warm_ids(read), (vec![3], true));

        cache.forget_inbox(me).await.unwrap();
        cold_version(&cache, me).await;
    }
}

#[tokio::test]
async fn a_full_inbox_drops_the_oldest_and_stops_being_complete() {
    for cache in caches(10).await {
        let me = UserId(1);
        let version = cold_version(&cache, me).await;
        let newest: Vec<NotificationRecord> = (1..=INBOX_CAP as i64).rev().map(note).collect();
        cache.warm_inbox(me, &version, &newest, true).await.unwrap();
        cache
            .add_notification(me, &note(INBOX_CAP as i64 + 1))
            .await
            .unwrap();
        let (ids, complete) = warm_ids(cache.inbox(me, None, 1_000).await.unwrap());
        assert_eq!(ids.len(), INBOX_CAP);
        assert_eq!(ids.last(), Some(&2));
        assert!(!complete);
        // One older than a partial set's oldest stays in the durable store
        // only, room or not: the set would have a gap above it.
        cache
            .remove_notification(me, NotificationId(50))
            .await
            .unwrap();
        cache.add_notification(me, &note(1)).await.unwrap();
        let (ids, _) = warm_ids(cache.inbox(me, None, 1_000).await.unwrap());
        assert_eq!((ids.len(), ids.last()), (INBOX_CAP - 1, Some(&2)));
    }
}

#[tokio::test]
async fn a_cold_set_keeps_an_older_entry_for_the_warm_that_read_before_it() {
    for cache in caches(10).await {
        let owner = HotList::Home(UserId(1));
        // A reader found the durable feed holding 1 and 2; then the
        // projector stored 5 and, a late event, 3, and added both to the
        // cold set before the reader warmed it.
        cache.fan_out(&[UserId(1)], pos(5_000, 5)).await.unwrap();
        cache.add_to_list(owner, &[pos(3_000, 3)]).await.unwrap();
        cache
            .warm(owner, &[pos(2_000, 2), pos(1_000, 1)], Loaded::Whole)
            .await
            .unwrap();
        assert_eq!(
            hot_entries(&cache, owner, None, 10).await,
            Some(vec![
                pos(5_000, 5),
                pos(3_000, 3),
                pos(2_000, 2),
                pos(1_000, 1)
            ])
        );
    }
}

/// A rebuild drops a list (set and marker at once) while readers page it:
/// a reader must see the list whole or not at all (cold), never the
/// marker of one moment with the set of another.
#[tokio::test]
async fn a_page_never_sees_a_dropped_set_under_its_old_marker() {
    for cache in caches(50).await {
        let list = HotList::Home(UserId(1));
        let entries: Vec<FeedPosition> = (1..=10).rev().map(|n| pos(n * 1_000, n)).collect();
        cache.warm(list, &entries, Loaded::Whole).await.unwrap();
        let dropper = tokio::spawn({
            let (cache, entries) = (cache.clone(), entries.clone());
            async move {
                for _ in 0..2_000 {
                    cache.forget_list(list).await.unwrap();
                    cache.warm(list, &entries, Loaded::Whole).await.unwrap();
                }
            }
        });
        let mut warm_pages = 0;
        while !dropper.is_finished() {
            if let Some(page) = cache.list_page(list, None, 20).await.unwrap() {
                assert_eq!(page.entries, entries, "a warm page holds the whole list");
                warm_pages += 1;
            }
        }
        dropper.await.unwrap();
        assert!(warm_pages > 0, "some pages were read warm");
    }
}

/// Fan-out adds one entry to many feeds a batch of feeds per script: each
/// feed still follows the rules on its own.
#[tokio::test]
async fn a_fan_out_to_many_feeds_treats_each_feed_by_its_own_marker() {
    for cache in caches(3).await {
        // More feeds than one script takes, over many slots of a cluster.
        let owners: Vec<UserId> = (1..=250).map(UserId).collect();
        for owner in &owners {
            let loaded = match owner.0 % 10 {
                0 => Loaded::Newest,
                1 => Loaded::Whole,
                _ => continue,
            };
            cache
                .warm(HotList::Home(*owner), &[pos(5_000, 5)], loaded)
                .await
                .unwrap();
        }
        cache.fan_out(&owners, pos(1_000, 1)).await.unwrap();
        for owner in &owners {
            let list = HotList::Home(*owner);
            let page = hot_entries(&cache, list, None, 10).await;
            match owner.0 % 10 {
                // Older than a warm set's oldest: left to the durable store.
                0 => assert_eq!(page, Some(vec![pos(5_000, 5)]), "{owner:?}"),
                1 => assert_eq!(page, Some(vec![pos(5_000, 5), pos(1_000, 1)])),
                _ => {
                    assert_eq!(page, None, "a cold feed stays untrusted");
                    cache.warm(list, &[], Loaded::Whole).await.unwrap();
                    let page = hot_entries(&cache, list, None, 10).await;
                    assert_eq!(page, Some(vec![pos(1_000, 1)]), "kept for the warm");
                }
            }
        }
    }
}
