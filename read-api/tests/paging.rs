//! Property: scrolling a home feed while posts are inserted and deleted
//! between pages never shows a post twice, never shows a deleted post,
//! keeps one newest-first order, and never skips a post that was live the
//! whole time, across the Redis/durable boundary and the celebrity merge.
//! Runs against the real stores: a PostgreSQL read database and Redis.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use read_api::feed::FeedService;

use contracts::ids::{PostId, UserId};
use readmodel::cache::{CacheSettings, HotCache, HotList};
use readmodel::postgres::{MIGRATOR, PgFeedStore};
use readmodel::{FeedPosition, FeedWriter, PostRecord, ProfileRecord};

/// Entries the hot feed keeps: small, so scrolling crosses into the durable store.
const FEED_CAP: usize = 6;
const ORDINARY: UserId = UserId(1);
const CELEBRITY: UserId = UserId(2);

#[derive(Debug, Clone)]
enum Op {
    Page(usize),
    /// A new post, newest of all; by the celebrity if `true`.
    Post(bool),
    /// A post merged in with an older time, as a follow's backfill does.
    Backfill(i64),
    /// Deletes the n-th live post (modulo their number).
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..6).prop_map(Op::Page),
        2 => any::<bool>().prop_map(Op::Post),
        1 => (0i64..40).prop_map(Op::Backfill),
        2 => any::<usize>().prop_map(Op::Delete),
    ]
}

struct World {
    store: Arc<dyn FeedWriter>,
    cache: HotCache,
    owner: UserId,
    next_id: i64,
    /// Live posts: id -> (position, by the celebrity, in the precomputed feed).
    live: BTreeMap<i64, (FeedPosition, bool, bool)>,
}

impl World {
    /// A post by the celebrity is fanned out too if it was written before
    /// they became one, so the merge sees it twice.
    async fn add(&mut self, ms: i64, celebrity: bool, fanned_out: bool) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        let author = if celebrity { CELEBRITY } else { ORDINARY };
        let post = PostRecord {
            id: PostId(id),
            author_id: author,
            text: format!("post {id}"),
            created_at: Utc.timestamp_millis_opt(ms).unwrap(),
            edited_at: None,
            in_reply_to_id: None,
            in_reply_to_author_id: None,
            repost_of: None,
        };
        let position = post.position();
        self.store.put_post(&post).await.unwrap();
        self.store.add_to_timeline(author, position).await.unwrap();
        self.cache
            .add_to_list(HotList::Timeline(author), &[position])
            .await
            .unwrap();
        if fanned_out {
            self.store
                .add_to_feeds(&[self.owner], post.feed_entry(), post.created_at)
                .await
                .unwrap();
            self.cache.fan_out(&[self.owner], position).await.unwrap();
        }
        self.live.insert(id, (position, celebrity, fanned_out));
        id
    }

    async fn delete(&mut self, nth: usize) -> Option<i64> {
        if self.live.is_empty() {
            return None;
        }
        let id = *self.live.keys().nth(nth % self.live.len())?;
        let (position, celebrity, fanned_out) = self.live.remove(&id)?;
        let deleted_at = Utc::now();
        self.store
            .delete_post(PostId(id), deleted_at)
            .await
            .unwrap();
        self.cache.delete_post(PostId(id)).await.unwrap();
        if celebrity {
            self.store
                .remove_from_timeline(CELEBRITY, position, deleted_at)
                .await
                .unwrap();
            self.cache
                .remove_from_list(HotList::Timeline(CELEBRITY), &[position])
                .await
                .unwrap();
        }
        if fanned_out {
            self.store
                .remove_from_feeds(&[self.owner], position, deleted_at)
                .await
                .unwrap();
            self.cache
                .remove_from_feeds(&[self.owner], position)
                .await
                .unwrap();
        }
        Some(id)
    }
}

fn profile(id: UserId) -> ProfileRecord {
    ProfileRecord {
        id,
        username: format!("author{}", id.0),
        display_name: String::new(),
        bio: String::new(),
        followers_count: 0,
        following_count: 0,
        posts_count: 0,
        celebrity: id == CELEBRITY,
        created_at: Utc::now(),
        version: 1,
    }
}

async fn scroll(store: Arc<dyn FeedWriter>, cache: HotCache, initial: usize, ops: Vec<Op>) {
    let owner = UserId(1_000 + rand_owner());
    let mut world = World {
        store: Arc::clone(&store),
        cache: cache.clone(),
        owner,
        next_id: owner.0 * 1_000,
        live: BTreeMap::new(),
    };
    store
        .add_celebrity_follows(&[owner], CELEBRITY)
        .await
        .unwrap();
    // Several posts per millisecond, so ties between equal times occur.
    let base = 1_000_000;
    for n in 0..initial {
        let celebrity = n % 3 != 1;
        world
            .add(base + (n as i64) / 2, celebrity, !celebrity || n % 3 == 2)
            .await;
    }
    let there_from_start: HashSet<i64> = world.live.keys().copied().collect();
    let mut newest = base + initial as i64;
    let service = FeedService::new(store, cache);

    let mut seen: Vec<FeedPosition> = Vec::new();
    let mut deleted = HashSet::new();
    let mut after = None;
    let mut pending = ops.into_iter();
    loop {
        let limit = match pending.next() {
            Some(Op::Page(limit)) => limit,
            Some(Op::Post(celebrity)) => {
                newest += 1;
                world.add(newest, celebrity, !celebrity).await;
                continue;
            }
            Some(Op::Backfill(age)) => {
                world.add(base + age / 3, false, true).await;
                continue;
            }
            Some(Op::Delete(nth)) => {
                deleted.extend(world.delete(nth).await);
                continue;
            }
            None => 4,
        };
        let page = service.home_page(owner, after, limit).await.unwrap();
        for item in &page.items {
            assert!(
                !deleted.contains(&item.post.id.0),
                "deleted post {} shown",
                item.post.id.0
            );
            seen.push(item.post.position());
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    for pair in seen.windows(2) {
        assert!(
            pair[0] > pair[1],
            "one strictly newest-first order without duplicates: {pair:?}"
        );
    }
    let shown: HashSet<i64> = seen.iter().map(|p| p.post_id.0).collect();
    for id in there_from_start {
        if !deleted.contains(&id) {
            assert!(shown.contains(&id), "live post {id} was skipped");
        }
    }
}

fn rand_owner() -> i64 {
    i64::from(uuid::Uuid::new_v4().as_u64_pair().0 as u32)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn scrolling_under_inserts_and_deletes_never_duplicates_or_skips(
        initial in 0usize..30,
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (store, cache) = stores().await;
            scroll(store, cache, initial, ops).await;
        });
    }
}

/// One read database for the whole run (each case uses its own feed owner)
/// and a fresh Redis prefix per case.
async fn stores() -> (Arc<dyn FeedWriter>, HotCache) {
    static DATABASE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let url = DATABASE
        .get_or_init(|| async {
            let (pool, url) = platform::testing::fresh_database(&MIGRATOR).await;
            pool.close().await;
            url
        })
        .await;
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let store: Arc<dyn FeedWriter> = Arc::new(PgFeedStore::new(pool));
    for author in [ORDINARY, CELEBRITY] {
        store.put_profile(&profile(author)).await.unwrap();
    }
    let cache = HotCache::connect(
        &platform::testing::redis_url(),
        1,
        CacheSettings {
            prefix: format!("{}:", platform::testing::unique("paging")),
            feed_cap: FEED_CAP,
            feed_ttl: Duration::from_secs(60),
            object_ttl: Duration::from_secs(60),
        },
    )
    .await
    .unwrap();
    (store, cache)
}
