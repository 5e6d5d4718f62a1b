//! One contract, every durable store: each case below runs against the
//! PostgreSQL read store and, when `CASSANDRA_NODES` names a cluster,
//! against Cassandra / ScyllaDB (each test in its own keyspace). Without it
//! the Cassandra cases print that they were skipped and pass.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use contracts::ids::{PostId, UserId};
use readmodel::cassandra::CassandraStore;
use readmodel::postgres::{MIGRATOR, PgFeedStore};
use readmodel::{FeedPosition, FeedWriter, PostRecord, ProfileRecord};

async fn postgres() -> Arc<dyn FeedWriter> {
    let (pool, _) = platform::testing::fresh_database(&MIGRATOR).await;
    Arc::new(PgFeedStore::new(pool))
}

async fn cassandra() -> Option<Arc<dyn FeedWriter>> {
    let Ok(nodes) = std::env::var("CASSANDRA_NODES") else {
        eprintln!("SKIPPED: CASSANDRA_NODES is not set, so the Cassandra contract run is skipped");
        return None;
    };
    let nodes: Vec<String> = nodes.split(',').map(str::to_owned).collect();
    let keyspace = platform::testing::unique("contract");
    let store = CassandraStore::connect(
        &nodes,
        &keyspace,
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        true,
    )
    .await
    .expect("the Cassandra cluster named by CASSANDRA_NODES answers");
    Some(Arc::new(store))
}

fn pos(ms: i64, id: i64) -> FeedPosition {
    FeedPosition {
        created_at_ms: ms,
        post_id: PostId(id),
    }
}

fn post(id: i64, author: i64, ms: i64) -> PostRecord {
    PostRecord {
        id: PostId(id),
        author_id: UserId(author),
        text: format!("post {id}"),
        created_at: Utc.timestamp_millis_opt(ms).unwrap(),
        edited_at: None,
    }
}

async fn posts_round_trip_and_upsert(store: Arc<dyn FeedWriter>) {
    store.put_post(&post(1, 10, 1_000)).await.unwrap();
    store.put_post(&post(2, 10, 2_000)).await.unwrap();
    let mut edited = post(1, 10, 1_000);
    edited.text = "edited".into();
    edited.edited_at = Some(Utc.timestamp_millis_opt(5_000).unwrap());
    store.put_post(&edited).await.unwrap();
    store.put_post(&edited).await.unwrap();

    let mut got = store
        .posts(&[PostId(1), PostId(2), PostId(99)])
        .await
        .unwrap();
    got.sort_by_key(|p| p.id);
    assert_eq!(got, vec![edited, post(2, 10, 2_000)]);
    assert!(store.posts(&[]).await.unwrap().is_empty());
}

fn profile(id: i64, name: &str, version: i64) -> ProfileRecord {
    ProfileRecord {
        id: UserId(id),
        username: name.to_owned(),
        display_name: format!("{name} v{version}"),
        bio: String::new(),
        followers_count: version,
        following_count: 0,
        posts_count: 0,
        celebrity: false,
        created_at: Utc.timestamp_millis_opt(1_000).unwrap(),
        version,
    }
}

async fn profiles_round_trip(store: Arc<dyn FeedWriter>) {
    let alice = profile(1, "alice", 1);
    store.put_profile(&alice).await.unwrap();
    store.put_profile(&alice).await.unwrap();
    assert_eq!(
        store.profiles(&[UserId(1), UserId(2)]).await.unwrap(),
        vec![alice.clone()]
    );
    assert_eq!(
        store.profile_by_username("alice").await.unwrap(),
        Some(alice)
    );
    assert_eq!(store.profile_by_username("bob").await.unwrap(), None);
}

async fn profiles_keep_the_newest_version(store: Arc<dyn FeedWriter>) {
    store.put_profile(&profile(1, "alice", 3)).await.unwrap();
    store.put_profile(&profile(1, "alice", 2)).await.unwrap();
    store.put_profile(&profile(1, "alice", 3)).await.unwrap();
    assert_eq!(
        store.profiles(&[UserId(1)]).await.unwrap(),
        vec![profile(1, "alice", 3)]
    );
    store.put_profile(&profile(1, "alice", 5)).await.unwrap();
    assert_eq!(
        store.profile_by_username("alice").await.unwrap(),
        Some(profile(1, "alice", 5))
    );
}

async fn followers_page_in_id_order(store: Arc<dyn FeedWriter>) {
    for follower in [5, 3, 9, 7, 3] {
        store
            .add_followers(UserId(1), &[UserId(follower)])
            .await
            .unwrap();
    }
    store
        .add_followers(UserId(2), &[UserId(4), UserId(4)])
        .await
        .unwrap();
    let first = store.followers(UserId(1), None, 2).await.unwrap();
    assert_eq!(first, vec![UserId(3), UserId(5)]);
    let second = store
        .followers(UserId(1), first.last().copied(), 2)
        .await
        .unwrap();
    assert_eq!(second, vec![UserId(7), UserId(9)]);
    assert!(
        store
            .followers(UserId(1), Some(UserId(9)), 2)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn feed_pages_are_newest_first_and_strictly_after(store: Arc<dyn FeedWriter>) {
    let owners = [UserId(1), UserId(2)];
    // Two entries share a millisecond: the id breaks the tie.
    for entry in [
        pos(1_000, 1),
        pos(3_000, 3),
        pos(2_000, 2),
        pos(2_000, 4),
        pos(3_000, 3),
    ] {
        store.add_to_feeds(&owners, entry).await.unwrap();
    }
    store
        .add_to_feeds(&[UserId(3)], pos(9_000, 9))
        .await
        .unwrap();

    let all = vec![pos(3_000, 3), pos(2_000, 4), pos(2_000, 2), pos(1_000, 1)];
    assert_eq!(store.feed_page(UserId(1), None, 10).await.unwrap(), all);
    assert_eq!(store.feed_page(UserId(2), None, 10).await.unwrap(), all);

    let first = store.feed_page(UserId(1), None, 2).await.unwrap();
    assert_eq!(first, all[..2]);
    let rest = store
        .feed_page(UserId(1), first.last().copied(), 10)
        .await
        .unwrap();
    assert_eq!(rest, all[2..]);
    // A position that is not itself an entry still pages correctly.
    assert_eq!(
        store
            .feed_page(UserId(1), Some(pos(2_000, 3)), 10)
            .await
            .unwrap(),
        vec![pos(2_000, 2), pos(1_000, 1)]
    );
    assert!(
        store
            .feed_page(UserId(4), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn timelines_page_like_feeds(store: Arc<dyn FeedWriter>) {
    for entry in [pos(1_000, 1), pos(2_000, 2), pos(2_000, 2)] {
        store.add_to_timeline(UserId(7), entry).await.unwrap();
    }
    assert_eq!(
        store.timeline_page(UserId(7), None, 10).await.unwrap(),
        vec![pos(2_000, 2), pos(1_000, 1)]
    );
    assert_eq!(
        store
            .timeline_page(UserId(7), Some(pos(2_000, 2)), 10)
            .await
            .unwrap(),
        vec![pos(1_000, 1)]
    );
}

async fn an_older_post_version_never_overwrites_an_edit(store: Arc<dyn FeedWriter>) {
    let mut edited = post(1, 10, 1_000);
    edited.text = "second edit".into();
    edited.edited_at = Some(Utc.timestamp_millis_opt(9_000).unwrap());
    store.put_post(&edited).await.unwrap();
    let mut first_edit = post(1, 10, 1_000);
    first_edit.text = "first edit".into();
    first_edit.edited_at = Some(Utc.timestamp_millis_opt(5_000).unwrap());
    store.put_post(&first_edit).await.unwrap();
    store.put_post(&post(1, 10, 1_000)).await.unwrap();
    assert_eq!(store.posts(&[PostId(1)]).await.unwrap(), vec![edited]);
}

async fn deleted_posts_are_gone(store: Arc<dyn FeedWriter>) {
    store.put_post(&post(1, 10, 1_000)).await.unwrap();
    let deleted_at = Utc.timestamp_millis_opt(2_000).unwrap();
    store.delete_post(PostId(1), deleted_at).await.unwrap();
    store.delete_post(PostId(1), deleted_at).await.unwrap();
    assert!(store.posts(&[PostId(1)]).await.unwrap().is_empty());
}

async fn celebrity_follows_are_a_set(store: Arc<dyn FeedWriter>) {
    store
        .add_celebrity_follows(&[UserId(1), UserId(2)], UserId(50))
        .await
        .unwrap();
    store
        .add_celebrity_follows(&[UserId(1)], UserId(40))
        .await
        .unwrap();
    store
        .add_celebrity_follows(&[UserId(1)], UserId(50))
        .await
        .unwrap();
    assert_eq!(
        store.celebrity_follows(UserId(1)).await.unwrap(),
        vec![UserId(40), UserId(50)]
    );
    store
        .remove_celebrity_follow(UserId(1), UserId(50))
        .await
        .unwrap();
    store
        .remove_celebrity_follow(UserId(1), UserId(50))
        .await
        .unwrap();
    assert_eq!(
        store.celebrity_follows(UserId(1)).await.unwrap(),
        vec![UserId(40)]
    );
    assert_eq!(
        store.celebrity_follows(UserId(2)).await.unwrap(),
        vec![UserId(50)]
    );
    assert!(store.celebrity_follows(UserId(3)).await.unwrap().is_empty());
}

async fn ping_answers(store: Arc<dyn FeedWriter>) {
    store.ping().await.unwrap();
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::postgres().await).await;
                }
            )*
        }
        mod on_cassandra {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(store) = super::cassandra().await {
                        super::$case(store).await;
                    }
                }
            )*
        }
    };
}

contract!(
    posts_round_trip_and_upsert,
    profiles_round_trip,
    profiles_keep_the_newest_version,
    followers_page_in_id_order,
    feed_pages_are_newest_first_and_strictly_after,
    timelines_page_like_feeds,
    an_older_post_version_never_overwrites_an_edit,
    deleted_posts_are_gone,
    celebrity_follows_are_a_set,
    ping_answers,
);
