//! Counts, likes and reposts are exact under any delivery: likes, unlikes,
//! reposts and their undoing, replies and deletions are written through the
//! write side's own domain functions, then their events are projected
//! duplicated and in any order (as redelivery and partitions may), and the
//! read model's counts (both tiers), likes and repost states equal the
//! write database's.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contracts::events::{Decoded, Envelope, Event};
use contracts::ids::{PostId, UserId};
use projector::effects::Effects;
use proptest::prelude::*;
use readmodel::cache::{CacheSettings, HotCache};
use readmodel::postgres::PgFeedStore;
use readmodel::{Engagement, FeedWriter, PostCounts};
use sqlx::PgPool;

const USERS: usize = 3;
const POSTS: usize = 2;

#[derive(Debug, Clone, Copy)]
enum Op {
    Like(usize, usize),
    Unlike(usize, usize),
    Repost(usize, usize),
    Unrepost(usize, usize),
    Reply(usize, usize),
    DeleteReply(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..USERS, 0..POSTS).prop_map(|(u, p)| Op::Like(u, p)),
        2 => (0..USERS, 0..POSTS).prop_map(|(u, p)| Op::Unlike(u, p)),
        3 => (0..USERS, 0..POSTS).prop_map(|(u, p)| Op::Repost(u, p)),
        2 => (0..USERS, 0..POSTS).prop_map(|(u, p)| Op::Unrepost(u, p)),
        1 => (0..USERS, 0..POSTS).prop_map(|(u, p)| Op::Reply(u, p)),
        1 => (0..8usize).prop_map(Op::DeleteReply),
    ]
}

async fn in_tx(db: &PgPool, key: UserId, f: impl AsyncFnOnce(&mut sqlx::PgConnection)) {
    let mut tx = db.begin().await.unwrap();
    write_api::idempotency::lock_key(&mut tx, key)
        .await
        .unwrap();
    f(&mut tx).await;
    tx.commit().await.unwrap();
}

/// The world and the ops, written; returns the users, the posts and every
/// event the outbox holds, in commit order.
async fn write(db: &PgPool, ops: &[Op]) -> (Vec<UserId>, Vec<(PostId, UserId)>, Vec<Event>) {
    let mut users = Vec::new();
    for n in 0..USERS {
        let name = format!("user{n}");
        let account = write_api::accounts::validate(
            &name,
            &format!("{name}@example.com"),
            "a long passphrase",
        )
        .unwrap();
        let (user, _) = write_api::accounts::create(db, &account, "hash")
            .await
            .unwrap();
        users.push(user.id);
    }
    let mut posts = Vec::new();
    for n in 0..POSTS {
        let author = users[n % USERS];
        in_tx(db, author, async |tx| {
            let (id, _, _) = write_api::posts::create(tx, author, "a post", None)
                .await
                .unwrap();
            posts.push((id, author));
        })
        .await;
    }
    let mut replies: Vec<(PostId, UserId)> = Vec::new();
    for &op in ops {
        match op {
            Op::Like(u, p) | Op::Unlike(u, p) => {
                let (post, author) = posts[p];
                in_tx(db, author, async |tx| {
                    write_api::likes::set(tx, users[u], post, matches!(op, Op::Like(..)))
                        .await
                        .unwrap();
                })
                .await;
            }
            Op::Repost(u, p) | Op::Unrepost(u, p) => {
                let reposted = matches!(op, Op::Repost(..));
                in_tx(db, users[u], async |tx| {
                    match write_api::reposts::set(tx, users[u], posts[p].0, reposted).await {
                        Ok(_) | Err(write_api::reposts::RepostError::OwnPost) => {}
                        Err(e) => panic!("{op:?}: {e}"),
                    }
                })
                .await;
            }
            Op::Reply(u, p) => {
                in_tx(db, users[u], async |tx| {
                    let (id, _, _) = write_api::posts::create(tx, users[u], "re", Some(posts[p].0))
                        .await
                        .unwrap();
                    replies.push((id, users[u]));
                })
                .await;
            }
            Op::DeleteReply(n) if !replies.is_empty() => {
                let (reply, author) = replies.remove(n % replies.len());
                in_tx(db, author, async |tx| {
                    write_api::posts::delete(tx, author, reply).await.unwrap();
                })
                .await;
            }
            Op::DeleteReply(_) => {}
        }
    }
    // Straight from the outbox: the relay's reading waits for every older
    // transaction on the server, and other tests' run meanwhile.
    type OutboxRow = (uuid::Uuid, String, i16, DateTime<Utc>, serde_json::Value);
    let rows: Vec<OutboxRow> = sqlx::query_as(
        "SELECT event_id, event_type, event_version, created_at, payload FROM outbox
             ORDER BY seq",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let events = rows
        .into_iter()
        .map(|(id, event_type, version, occurred_at, data)| {
            let envelope = Envelope {
                id,
                event_type,
                version: version as u16,
                occurred_at,
                data,
            };
            match Envelope::decode(&envelope.to_bytes()) {
                Ok(Decoded::Known { event, .. }) => *event,
                other => panic!("undecodable row: {other:?}"),
            }
        })
        .collect();
    (users, posts, events)
}

async fn read_model() -> (Arc<dyn FeedWriter>, HotCache, Effects) {
    let (pool, _) = platform::testing::fresh_database(&readmodel::postgres::MIGRATOR).await;
    let store: Arc<dyn FeedWriter> = Arc::new(PgFeedStore::new(pool));
    let cache = HotCache::connect(
        &platform::testing::redis_url(),
        2,
        CacheSettings {
            prefix: format!("{}:", platform::testing::unique("engagement")),
            feed_cap: 100,
            feed_ttl: Duration::from_secs(300),
            object_ttl: Duration::from_secs(300),
        },
    )
    .await
    .unwrap();
    (store.clone(), cache.clone(), Effects::new(store, cache, 2))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn counts_likes_and_reposts_equal_the_write_database_under_any_delivery(
        ops in prop::collection::vec(op(), 1..24),
        extra in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        seed in any::<u64>(),
    ) {
        runtime().block_on(async {
            let (db, _) = platform::testing::fresh_database(&write_api::MIGRATOR).await;
            let (users, posts, events) = write(&db, &ops).await;
            // Every event at least once, some twice, in a shuffled order.
            let mut delivery: Vec<usize> = (0..events.len()).collect();
            delivery.extend(extra.iter().map(|i| i.index(events.len())));
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
            rand::seq::SliceRandom::shuffle(delivery.as_mut_slice(), &mut rng);
            let (store, cache, effects) = read_model().await;
            for i in delivery {
                effects.apply(&events[i]).await.unwrap();
            }

            let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT id, likes_count, replies_count, reposts_count, counts_version FROM posts",
            )
            .fetch_all(&db)
            .await
            .unwrap();
            let truth: HashMap<PostId, PostCounts> = rows
                .into_iter()
                .filter(|r| r.4 > 0)
                .map(|(id, likes, replies, reposts, version)| {
                    (PostId(id), PostCounts { likes, replies, reposts, version })
                })
                .collect();
            let ids: Vec<PostId> = truth.keys().copied().collect();
            let stored: HashMap<PostId, PostCounts> =
                store.counts(&ids).await.unwrap().into_iter().collect();
            assert_eq!(stored, truth, "the durable counts after {ops:?}");
            let cached: HashMap<PostId, PostCounts> = ids
                .iter()
                .copied()
                .zip(cache.counts(&ids).await.unwrap())
                .filter_map(|(id, c)| c.map(|c| (id, c)))
                .collect();
            assert_eq!(cached, truth, "the cached counts after {ops:?}");

            let post_ids: Vec<PostId> = posts.iter().map(|(p, _)| *p).collect();
            for kind in [Engagement::Like, Engagement::Repost] {
                let table = match kind {
                    Engagement::Like => "SELECT user_id, post_id FROM likes",
                    Engagement::Repost => "SELECT user_id, post_id FROM reposts",
                };
                let truth: HashSet<(i64, i64)> =
                    sqlx::query_as(table).fetch_all(&db).await.unwrap().into_iter().collect();
                for &user in &users {
                    let mut shown = store.engaged_among(kind, user, &post_ids).await.unwrap();
                    shown.sort_unstable();
                    let mut expected: Vec<PostId> = post_ids
                        .iter()
                        .copied()
                        .filter(|p| truth.contains(&(user.0, p.0)))
                        .collect();
                    expected.sort_unstable();
                    assert_eq!(shown, expected, "{user:?}'s {kind:?} after {ops:?}");
                    let objects = cache.page_objects(&post_ids, Some(user), &[]).await.unwrap();
                    let cached = match kind {
                        Engagement::Like => objects.likes,
                        Engagement::Repost => objects.reposts,
                    };
                    for (post, state) in post_ids.iter().zip(cached) {
                        if let Some(state) = state {
                            assert_eq!(
                                state.active,
                                truth.contains(&(user.0, post.0)),
                                "{user:?}'s cached {kind:?} of {post:?} after {ops:?}"
                            );
                        }
                    }
                }
            }
        });
    }
}
