//! The Redis tier of the read model.
//!
//! Keys (all under a configurable prefix, so tests and tenants can share a
//! server). Every multi-key command and script touches keys of one hash
//! tag, so everything works unchanged on a Redis Cluster; reads of many
//! objects (hydration) are split into one `MGET` per slot, sent at once.
//! - `feed:{user}`: sorted set of the newest home-feed entries; score is the
//!   post's creation time in ms (exact in a double up to 2^53), member the
//!   post id zero-padded to 20 digits so that equal scores order by id.
//! - `feed:{user}:warm`: present while `feed:{user}` is known to hold the
//!   newest entries. Fan-out adds to every follower's set, warm or not, but
//!   a set without the marker may be a fragment (it expired, then received
//!   new entries), so readers trust a set only with its marker and otherwise
//!   read the durable store and warm the set. Warming *adds* entries, so an
//!   entry that fan-out wrote meanwhile is kept. The marker is `whole` when
//!   the set holds the entire feed (a page that runs out of it needs no
//!   durable read; most timelines and many feeds are shorter than the cap)
//!   and `newest` when the durable store may hold older entries.
//! - `timeline:{user}`, `timeline:{user}:warm`: the newest entries of an
//!   author's own timeline (posts and reposts), kept like a home feed and
//!   under the same rules; pages merging a celebrity's posts read them here.
//! - `feed:{user}:celebrities`: the celebrities whose timelines the user's
//!   feed merges (comma-separated ids), cached from the durable store;
//!   `feed:{user}:celebrities:version` grows with every change the
//!   projector makes to them, and a reader's refill lands only if the
//!   version is still the one it read before loading ([`SET_IF_VERSION`]),
//!   so a list loaded before a change is never cached after it.
//! - `post:{id}`, `user:{id}`, `counts:{post id}`, `liked:{user}:{post}`,
//!   `reposted:{user}:{post}`: JSON for hydration, with a TTL; posts (by
//!   their last edit), profiles, counts, like and repost states are kept
//!   only if newer than the cached version ([`SET_IF_NEWER`]). A page's like and repost states share
//!   their reader's hash tag, so they are one `MGET` on a cluster too. A
//!   repost's `post:{id}` names the post it reposts.
//! - `applied:{event id}`: the projector has processed that event; read
//!   requests carrying its consistency token wait for it.
//! - `recent_writes:{user}`: the events a user wrote through the Mastodon
//!   API in the last minute, which that user's reads wait for.
//! - `inbox:{user}`, `inbox:{user}:state`, `inbox:{user}:version`: the
//!   newest notifications; see [`notifications`].
//! - `stats:accounts`, `stats:posts`, `stats:deleted_posts`: instance
//!   statistics; see [`stats`].
//! - `online:{user}`, `live:{user}`, `live:{user}:log`, `author:{user}`:
//!   the live stream; see [`stream`].
//! - `{sessions}:revoked`: sorted set of revoked session ids, scored by the
//!   time (unix seconds) after which none of their access tokens is valid;
//!   `{sessions}:revoked:version` grows with every addition, so readers
//!   reload the set only when it changed. One hash tag keeps both in one
//!   slot of a Redis Cluster.
//!
//! Sets (both kinds are a [`HotList`]) are trimmed to [`HotCache::feed_cap`] entries; older entries live in
//! the durable store, where the read side continues without a seam. A set
//! always holds every entry from its oldest member up ([`FEED_ADD`]), so
//! continuing from the durable store after its last entry skips nothing.

mod notifications;
mod stats;
mod stream;

pub use notifications::{HotInbox, INBOX_CAP};
pub use stats::InstanceStats;
pub use stream::{Channel, LiveEvent, LiveMessage, ONLINE_TTL_SECS, Subscriber, log_position};

use std::time::Duration;

use fred::interfaces::LuaInterface;
use fred::prelude::*;
use fred::types::Expiration;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    Engagement, EngagementState, FeedPosition, PostCounts, PostRecord, ProfileRecord, StoreError,
};
use contracts::consistency::recent_writes;
use contracts::ids::{PostId, UserId};

#[derive(Clone)]
pub struct HotCache {
    pool: Pool,
    /// The connection settings, for the live stream's subscriber.
    config: Config,
    /// A Redis Cluster: multi-key reads go per slot.
    clustered: bool,
    prefix: String,
    feed_cap: usize,
    feed_ttl: Duration,
    object_ttl: Duration,
}

/// How the hot cache behaves.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Prefix of every key.
    pub prefix: String,
    /// Entries kept per home feed.
    pub feed_cap: usize,
    /// A feed nobody reads or writes for this long expires.
    pub feed_ttl: Duration,
    /// Lifetime of cached posts and profiles.
    pub object_ttl: Duration,
}

/// Adds a revoked session (ARGV: valid-until, session id, now) to the set
/// in KEYS[1], drops those past their time, and bumps KEYS[2].
const REVOKE_SESSION: &str = r#"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
return redis.call('INCR', KEYS[2])
"#;

/// `SET key json EX ttl` unless the cached JSON has a `version` >= ours.
const SET_IF_NEWER: &str = r#"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and tonumber(decoded.version) and tonumber(decoded.version) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"#;

/// `SET KEYS[1] ARGV[1] EX ARGV[3]` if the version in KEYS[2] (missing: 0)
/// is still ARGV[2].
const SET_IF_VERSION: &str = r#"
local version = redis.call('GET', KEYS[2]) or '0'
if version ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"#;

/// Bumps the version in KEYS[2] (kept for ARGV[1] seconds) and drops the
/// cached value in KEYS[1].
const BUMP_AND_DROP: &str = r#"
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 0
"#;

/// Adds entries to a hot feed, keeping what readers rely on: the set holds
/// *every* entry of the feed from its oldest member up, and the durable
/// store holds the rest. So an entry older than the oldest member (a
/// follow's backfill into a set that deletes or unfollows shrank, a late
/// event) is left to the durable store, where pages continue; adding it
/// would open a gap above it. An empty set no longer knows where it ends,
/// so it stops being warm and the next read re-warms it. Then the set is
/// trimmed to the cap and gets a TTL if it has none.
///
/// A set marked [`WHOLE`] holds the entire list, so every entry belongs in
/// it, an empty one is an empty list, and trimming it away from the cap
/// makes it an ordinary warm set. A set with no marker (cold: nobody
/// trusts it) takes every entry too: a read may be warming it from a
/// durable read made before this entry was stored, and warming adds to the
/// set, so the entry must already be there; whatever the warm's trim does
/// not cut lies within the list's newest entries, so no gap opens.
///
/// KEYS: feed set and warm marker of each list in turn (one list, or one
/// slot's worth of a fan-out, so a Redis Cluster runs it on one node).
/// ARGV: cap, TTL seconds, then score and member of each entry.
const FEED_ADD: &str = r#"
local cap = tonumber(ARGV[1])
for k = 1, #KEYS, 2 do
  local set, warm = KEYS[k], KEYS[k + 1]
  local oldest = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
  local marker = redis.call('GET', warm)
  local whole = marker == 'whole'
  if #oldest == 0 and marker and not whole then
    redis.call('DEL', warm)
    marker = false
  end
  for i = 3, #ARGV, 2 do
    local score, member = tonumber(ARGV[i]), ARGV[i + 1]
    if not marker or whole or score > tonumber(oldest[2])
        or (score == tonumber(oldest[2]) and member >= oldest[1]) then
      redis.call('ZADD', set, score, member)
    end
  end
  if redis.call('ZREMRANGEBYRANK', set, 0, -cap - 1) > 0 and whole then
    redis.call('SET', warm, 'newest', 'KEEPTTL')
  end
  redis.call('EXPIRE', set, ARGV[2], 'NX')
end
return 0
"#;

/// Adds the entries a read loaded from the durable store to a cold set
/// (fan-out may have added newer ones meanwhile, which stay), trims it to
/// the cap and marks it warm: as [`WHOLE`] if it was loaded whole and the
/// trim took nothing away.
///
/// KEYS: feed set, warm marker. ARGV: cap, TTL seconds, marker, then score
/// and member of each entry.
const WARM: &str = r#"
for i = 4, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
local marker = ARGV[3]
if redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[1]) - 1) > 0 then
  marker = 'newest'
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], marker, 'EX', ARGV[2])
return 0
"#;

/// One batch of a hot list, newest first, read in one step with its warm
/// marker: a rebuild drops set and marker together, and a marker read
/// before the drop must not vouch for the empty set read after it. Extends
/// both lifetimes; nil while the list is cold.
///
/// KEYS: feed set, warm marker. ARGV: TTL seconds, highest score, offset,
/// count. Returns the marker and the entries, member and score in turn.
const LIST_PAGE: &str = r#"
local marker = redis.call('GET', KEYS[2])
if not marker then
  return false
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {marker, redis.call('ZRANGE', KEYS[1], ARGV[2], '-inf', 'BYSCORE', 'REV',
  'LIMIT', ARGV[3], ARGV[4], 'WITHSCORES')}
"#;

/// Feeds one [`FEED_ADD`] script call adds a fan-out's entry to: enough to
/// spread the script's cost over many feeds, few enough that Redis, which
/// runs a script to its end, answers other clients within a millisecond.
const FAN_OUT_BATCH: usize = 100;

/// The warm marker of a set that holds its entire list: a page that runs
/// out of the set has reached the list's end, with no durable read.
const WHOLE: &str = "whole";

/// The warm marker of a set that holds the newest entries of a list that
/// may go on in the durable store.
const NEWEST: &str = "newest";

/// How much of a list [`HotCache::warm`] loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// The entire list: the durable store had no more.
    Whole,
    /// Its newest entries; older ones may follow in the durable store.
    Newest,
}

/// A page of a warm hot list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotPage {
    pub entries: Vec<FeedPosition>,
    /// Nothing older than these entries exists, here or in the durable
    /// store: a short page needs no durable continuation.
    pub at_end: bool,
}

/// A sorted set of feed entries kept hot in Redis, with its warm marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotList {
    /// A user's home feed.
    Home(UserId),
    /// An author's own posts and reposts.
    Timeline(UserId),
}

impl HotList {
    /// The metric label of the list's kind.
    pub fn kind(self) -> &'static str {
        match self {
            HotList::Home(_) => "home",
            HotList::Timeline(_) => "timeline",
        }
    }
}

/// What [`HotCache::page_objects`] found.
pub struct PageObjects {
    pub posts: Vec<Option<PostRecord>>,
    pub counts: Vec<Option<PostCounts>>,
    pub likes: Vec<Option<EngagementState>>,
    pub reposts: Vec<Option<EngagementState>>,
    /// The profiles asked for beside the posts.
    pub profiles: Vec<Option<ProfileRecord>>,
}

impl PageObjects {
    /// Nothing found for `n` posts and `m` profiles: what a failed cache
    /// amounts to.
    pub fn missing(n: usize, m: usize) -> Self {
        Self {
            posts: vec![None; n],
            counts: vec![None; n],
            likes: vec![None; n],
            reposts: vec![None; n],
            profiles: vec![None; m],
        }
    }
}

/// A cached JSON value; an unreadable one counts as missing.
fn decode<T: DeserializeOwned>(value: Option<String>) -> Option<T> {
    value.and_then(|json| {
        serde_json::from_str(&json)
            .inspect_err(|e| tracing::warn!(error = %e, "unreadable cache entry"))
            .ok()
    })
}

/// A post as cached: its JSON with the `version` [`SET_IF_NEWER`] compares
/// (its last edit's time, or its creation's, in µs); readers ignore it.
#[derive(Serialize)]
struct VersionedPost<'a> {
    #[serde(flatten)]
    post: &'a PostRecord,
    version: i64,
}

/// The next `n` cached JSON values, decoded.
fn take_decoded<T: DeserializeOwned>(
    values: &mut impl Iterator<Item = Option<String>>,
    n: usize,
) -> Vec<Option<T>> {
    values.take(n).map(decode).collect()
}

fn member(id: PostId) -> String {
    format!("{:020}", id.0)
}

impl HotCache {
    pub async fn connect(
        url: &str,
        pool_size: usize,
        settings: CacheSettings,
    ) -> Result<Self, StoreError> {
        let config = Config::from_url(&platform::config::redis_driver_url(url))?;
        let clustered = config.server.is_clustered();
        let pool = Builder::from_config(config.clone())
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
            })
            .with_performance_config(|p| {
                p.default_command_timeout = Duration::from_secs(2);
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build_pool(pool_size)?;
        pool.init().await?;
        Ok(Self {
            pool,
            config,
            clustered,
            prefix: settings.prefix,
            feed_cap: settings.feed_cap,
            feed_ttl: settings.feed_ttl,
            object_ttl: settings.object_ttl,
        })
    }

    pub fn feed_cap(&self) -> usize {
        self.feed_cap
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.pool.ping(None).await?;
        Ok(())
    }

    fn list_key(&self, list: HotList) -> String {
        match list {
            HotList::Home(owner) => format!("{}feed:{{{}}}", self.prefix, owner.0),
            HotList::Timeline(author) => format!("{}timeline:{{{}}}", self.prefix, author.0),
        }
    }

    fn warm_key(&self, list: HotList) -> String {
        format!("{}:warm", self.list_key(list))
    }

    fn celebrities_key(&self, owner: UserId) -> String {
        format!("{}feed:{{{}}}:celebrities", self.prefix, owner.0)
    }

    fn celebrities_version_key(&self, owner: UserId) -> String {
        format!("{}feed:{{{}}}:celebrities:version", self.prefix, owner.0)
    }

    /// The celebrities `owner`'s feed merges, if cached, and the version a
    /// refill must quote ([`HotCache::put_celebrity_follows`]).
    pub async fn celebrity_follows(
        &self,
        owner: UserId,
    ) -> Result<(Option<Vec<UserId>>, String), StoreError> {
        let keys = vec![
            self.celebrities_key(owner),
            self.celebrities_version_key(owner),
        ];
        let mut values = self.mget(keys).await?.into_iter();
        let list = values.next().flatten();
        let version = values.next().flatten().unwrap_or_else(|| "0".to_owned());
        let list = list.map(|text| {
            text.split(',')
                .filter_map(|id| id.parse().ok())
                .map(UserId)
                .collect()
        });
        Ok((list, version))
    }

    /// Caches the list a reader loaded from the durable store, unless the
    /// projector changed it since the reader read `version`.
    pub async fn put_celebrity_follows(
        &self,
        owner: UserId,
        celebrities: &[UserId],
        version: &str,
    ) -> Result<(), StoreError> {
        let text: Vec<String> = celebrities.iter().map(|c| c.0.to_string()).collect();
        let keys = vec![
            self.celebrities_key(owner),
            self.celebrities_version_key(owner),
        ];
        let args: Vec<Value> = vec![
            text.join(",").into(),
            version.into(),
            Self::ttl_secs(self.object_ttl).into(),
        ];
        let _: i64 = self.pool.eval(SET_IF_VERSION, keys, args).await?;
        Ok(())
    }

    /// The celebrities merged into each of `owners`' feeds changed in the
    /// durable store: drop the cached lists and void refills in flight.
    pub async fn celebrity_follows_changed(&self, owners: &[UserId]) -> Result<(), StoreError> {
        // The version outlives any refill in flight by far.
        let keep = Self::ttl_secs(self.feed_ttl.max(self.object_ttl));
        let writes = owners.iter().map(|&owner| {
            let keys = vec![
                self.celebrities_key(owner),
                self.celebrities_version_key(owner),
            ];
            let args: Vec<Value> = vec![keep.into()];
            self.pool.eval::<i64, _, _, _>(BUMP_AND_DROP, keys, args)
        });
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }

    fn post_key(&self, id: PostId) -> String {
        format!("{}post:{}", self.prefix, id.0)
    }

    fn user_key(&self, id: UserId) -> String {
        format!("{}user:{}", self.prefix, id.0)
    }

    fn counts_key(&self, id: PostId) -> String {
        format!("{}counts:{}", self.prefix, id.0)
    }

    fn engagement_key(&self, kind: Engagement, user: UserId, post: PostId) -> String {
        let name = match kind {
            Engagement::Like => "liked",
            Engagement::Repost => "reposted",
        };
        format!("{}{name}:{{{}}}:{}", self.prefix, user.0, post.0)
    }

    fn ttl_secs(ttl: Duration) -> i64 {
        i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX)
    }

    /// Adds `entry` to each owner's hot feed (see [`FEED_ADD`]): one
    /// script per [`FAN_OUT_BATCH`] feeds on a single server, per slot on a
    /// cluster, all sent at once on one connection.
    pub async fn fan_out(&self, owners: &[UserId], entry: FeedPosition) -> Result<(), StoreError> {
        // Batches of one slot each (everything is slot 0 on one server).
        let mut batches: Vec<Vec<String>> = Vec::new();
        let mut filling: std::collections::HashMap<u16, usize> = Default::default();
        for &owner in owners {
            let list = HotList::Home(owner);
            let set = self.list_key(list);
            let slot = if self.clustered {
                fred::util::redis_keyslot(set.as_bytes())
            } else {
                0
            };
            let batch = match filling.get(&slot) {
                Some(&i) if batches[i].len() < 2 * FAN_OUT_BATCH => i,
                _ => {
                    batches.push(Vec::with_capacity(2 * FAN_OUT_BATCH));
                    filling.insert(slot, batches.len() - 1);
                    batches.len() - 1
                }
            };
            batches[batch].extend([set, self.warm_key(list)]);
        }
        let client = self.pool.next();
        let entries = std::slice::from_ref(&entry);
        let writes = batches
            .into_iter()
            .map(|keys| self.add_entries(client, keys, entries));
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }

    /// Runs [`FEED_ADD`] for `entries` on the lists whose set and marker
    /// keys are `keys`.
    async fn add_entries(
        &self,
        client: &Client,
        keys: Vec<String>,
        entries: &[FeedPosition],
    ) -> Result<(), StoreError> {
        let mut args: Vec<Value> = Vec::with_capacity(2 + 2 * entries.len());
        args.push((self.feed_cap as i64).into());
        args.push(Self::ttl_secs(self.feed_ttl).into());
        for e in entries {
            args.push(e.created_at_ms.into());
            args.push(member(e.post_id).into());
        }
        let _: i64 = client.eval(FEED_ADD, keys, args).await?;
        Ok(())
    }

    /// Removes `entry` from each owner's hot feed, in one pipelined round trip.
    pub async fn remove_from_feeds(
        &self,
        owners: &[UserId],
        entry: FeedPosition,
    ) -> Result<(), StoreError> {
        if owners.is_empty() {
            return Ok(());
        }
        let pipeline = self.pool.next().pipeline();
        for &owner in owners {
            let _: () = pipeline
                .zrem(self.list_key(HotList::Home(owner)), member(entry.post_id))
                .await?;
        }
        let _: Vec<Value> = pipeline.all().await?;
        Ok(())
    }

    /// Adds entries to one hot list (see [`FEED_ADD`]).
    pub async fn add_to_list(
        &self,
        list: HotList,
        entries: &[FeedPosition],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let keys = vec![self.list_key(list), self.warm_key(list)];
        self.add_entries(self.pool.next(), keys, entries).await
    }

    /// Removes entries from one hot list.
    pub async fn remove_from_list(
        &self,
        list: HotList,
        entries: &[FeedPosition],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let members: Vec<String> = entries.iter().map(|e| member(e.post_id)).collect();
        let _: i64 = self.pool.zrem(self.list_key(list), members).await?;
        Ok(())
    }

    pub async fn delete_post(&self, id: PostId) -> Result<(), StoreError> {
        self.forget_posts(&[id]).await
    }

    /// Drops cached copies of posts; the next read loads them from the durable store.
    pub async fn forget_posts(&self, ids: &[PostId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        // One DEL per key: posts live in different slots of a cluster.
        let pipeline = self.pool.next().pipeline();
        for &id in ids {
            let _: () = pipeline.del(self.post_key(id)).await?;
        }
        let _: Vec<Value> = pipeline.all().await?;
        Ok(())
    }

    /// Drops a hot list and its warm marker at once, so the next read
    /// serves and re-warms it from the durable store.
    pub async fn forget_list(&self, list: HotList) -> Result<(), StoreError> {
        let _: i64 = self
            .pool
            .del(vec![self.list_key(list), self.warm_key(list)])
            .await?;
        Ok(())
    }

    /// Records that the projector processed the events `ids` (each kept
    /// 10 minutes, longer than any read waits), in one pipelined round trip.
    pub async fn mark_all_applied(&self, ids: &[uuid::Uuid]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let pipeline = self.pool.next().pipeline();
        for id in ids {
            let _: () = pipeline
                .set(
                    self.applied_key(*id),
                    1,
                    Some(Expiration::EX(600)),
                    None,
                    false,
                )
                .await?;
        }
        let _: Vec<Value> = pipeline.all().await?;
        Ok(())
    }

    /// Which of `ids` the projector has processed, in order; one pipelined
    /// round trip.
    pub async fn applied_among(&self, ids: &[uuid::Uuid]) -> Result<Vec<bool>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.pool.next().pipeline();
        for id in ids {
            let _: () = pipeline.exists(self.applied_key(*id)).await?;
        }
        let found: Vec<i64> = pipeline.all().await?;
        Ok(found.into_iter().map(|n| n == 1).collect())
    }

    /// The events `user` wrote through the Mastodon API within the last
    /// [`recent_writes::WINDOW_MS`] (see `contracts::consistency::recent_writes`).
    pub async fn recent_writes(&self, user: UserId) -> Result<Vec<uuid::Uuid>, StoreError> {
        let since = chrono::Utc::now().timestamp_millis() - recent_writes::WINDOW_MS;
        let members: Vec<String> = self
            .pool
            .zrangebyscore(
                recent_writes::key(&self.prefix, user),
                since as f64,
                f64::INFINITY,
                false,
                None,
            )
            .await?;
        Ok(members
            .iter()
            .filter_map(|m| uuid::Uuid::try_parse(m).ok())
            .collect())
    }

    fn applied_key(&self, id: uuid::Uuid) -> String {
        format!("{}applied:{}", self.prefix, id.simple())
    }

    fn revoked_key(&self) -> String {
        format!("{}{{sessions}}:revoked", self.prefix)
    }

    fn revoked_version_key(&self) -> String {
        format!("{}{{sessions}}:revoked:version", self.prefix)
    }

    /// Records that `session` is revoked until `valid_until` (unix seconds),
    /// forgets revocations that have run out, and bumps the set's version.
    /// Idempotent but for the version, which only makes readers reload.
    pub async fn revoke_session(
        &self,
        session: uuid::Uuid,
        valid_until: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .pool
            .eval(
                REVOKE_SESSION,
                vec![self.revoked_key(), self.revoked_version_key()],
                vec![
                    Value::from(valid_until),
                    Value::from(session.to_string()),
                    Value::from(now),
                ],
            )
            .await?;
        Ok(())
    }

    /// The version of the revoked-session set (0 before the first revocation).
    pub async fn revocations_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = self.pool.get(self.revoked_version_key()).await?;
        Ok(version.unwrap_or(0))
    }

    /// Sessions revoked whose tokens may still be valid at `now` (unix seconds).
    pub async fn revoked_sessions(&self, now: i64) -> Result<Vec<uuid::Uuid>, StoreError> {
        let members: Vec<String> = self
            .pool
            .zrangebyscore(self.revoked_key(), now, "+inf", false, None)
            .await?;
        Ok(members.iter().filter_map(|m| m.parse().ok()).collect())
    }

    /// A page of a hot list strictly after `after`, newest first. `None`
    /// when the set is not warm and must not be trusted. Reading extends
    /// the list's life.
    pub async fn list_page(
        &self,
        list: HotList,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Option<HotPage>, StoreError> {
        let keys = vec![self.list_key(list), self.warm_key(list)];
        let ttl = Self::ttl_secs(self.feed_ttl);
        let max = after.map_or_else(|| "+inf".to_owned(), |p| p.created_at_ms.to_string());
        // Entries that share the cursor's millisecond but are not after it
        // are skipped, so a page after a cursor reads a few more and may
        // need more than one batch. A first page skips nothing; it reads
        // no more than it returns, since each entry's score is formatted
        // as text and that is most of the script's cost.
        let batch = if after.is_some() {
            limit + 16
        } else {
            limit.max(1)
        };
        let client = self.pool.next();
        let mut page = Vec::with_capacity(limit);
        let mut offset = 0;
        loop {
            let args: Vec<Value> = vec![
                ttl.into(),
                max.as_str().into(),
                (offset as i64).into(),
                (batch as i64).into(),
            ];
            let reply: Option<(String, Vec<(String, f64)>)> =
                client.eval(LIST_PAGE, keys.clone(), args).await?;
            // Cold, or dropped since the previous batch.
            let Some((marker, rows)) = reply else {
                return Ok(None);
            };
            let fetched = rows.len();
            for (member, score) in rows {
                let post_id = member
                    .parse()
                    .map(PostId)
                    .map_err(|_| StoreError::Corrupt(format!("feed member {member:?}")))?;
                let position = FeedPosition {
                    created_at_ms: score as i64,
                    post_id,
                };
                if after.is_none_or(|a| position < a) {
                    page.push(position);
                    if page.len() == limit {
                        return Ok(Some(HotPage {
                            entries: page,
                            at_end: false,
                        }));
                    }
                }
            }
            if fetched < batch {
                return Ok(Some(HotPage {
                    entries: page,
                    at_end: marker == WHOLE,
                }));
            }
            offset += batch;
        }
    }

    /// Loads durable entries (the newest, or all there are) into a cold
    /// list and marks it warm.
    pub async fn warm(
        &self,
        list: HotList,
        entries: &[FeedPosition],
        loaded: Loaded,
    ) -> Result<(), StoreError> {
        let mut args: Vec<Value> = Vec::with_capacity(3 + 2 * entries.len());
        args.push((self.feed_cap as i64).into());
        args.push(Self::ttl_secs(self.feed_ttl).into());
        args.push(
            match loaded {
                Loaded::Whole => WHOLE,
                Loaded::Newest => NEWEST,
            }
            .into(),
        );
        for e in entries {
            args.push(e.created_at_ms.into());
            args.push(member(e.post_id).into());
        }
        let _: i64 = self
            .pool
            .next()
            .eval(WARM, vec![self.list_key(list), self.warm_key(list)], args)
            .await?;
        Ok(())
    }

    /// `MGET` of `keys`, in order: one command on a single server, one
    /// per hash slot on a cluster (all pipelined on one connection).
    async fn mget(&self, keys: Vec<String>) -> Result<Vec<Option<String>>, StoreError> {
        if !self.clustered {
            return Ok(self.pool.mget(keys).await?);
        }
        let mut by_slot: std::collections::BTreeMap<u16, Vec<usize>> = Default::default();
        for (i, key) in keys.iter().enumerate() {
            by_slot
                .entry(fred::util::redis_keyslot(key.as_bytes()))
                .or_default()
                .push(i);
        }
        let pipeline = self.pool.next().pipeline();
        for indexes in by_slot.values() {
            let slot_keys: Vec<&str> = indexes.iter().map(|&i| keys[i].as_str()).collect();
            let _: () = pipeline.mget(slot_keys).await?;
        }
        let answers: Vec<Vec<Option<String>>> = pipeline.all().await?;
        let mut values = vec![None; keys.len()];
        for (indexes, answer) in by_slot.values().zip(answers) {
            for (&i, value) in indexes.iter().zip(answer) {
                values[i] = value;
            }
        }
        Ok(values)
    }

    async fn get_values(&self, keys: Vec<String>) -> Result<Vec<Option<String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.mget(keys).await
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<Option<T>>, StoreError> {
        Ok(self
            .get_values(keys)
            .await?
            .into_iter()
            .map(decode)
            .collect())
    }

    /// Cached posts, one slot per id, `None` where missing.
    pub async fn posts(&self, ids: &[PostId]) -> Result<Vec<Option<PostRecord>>, StoreError> {
        self.get_json(ids.iter().map(|&id| self.post_key(id)).collect())
            .await
    }

    /// Caches posts, each only if no later version (edit) is cached: a
    /// reader refilling what it loaded before an edit never overwrites the
    /// edit the projector cached meanwhile.
    pub async fn put_posts(&self, posts: &[PostRecord]) -> Result<(), StoreError> {
        self.set_all_if_newer(posts.iter().map(|p| {
            let version = p.edited_at.unwrap_or(p.created_at).timestamp_micros();
            let versioned = VersionedPost { post: p, version };
            (
                self.post_key(p.id),
                version,
                serde_json::to_string(&versioned),
            )
        }))
        .await
    }

    /// What hydrating a page of `posts` needs from the cache, read in one
    /// round trip: the posts, their counts, with a `viewer` the viewer's
    /// like and repost states, and the `profiles` asked for (the authors,
    /// where the caller knows them); `None` where missing.
    pub async fn page_objects(
        &self,
        posts: &[PostId],
        viewer: Option<UserId>,
        profiles: &[UserId],
    ) -> Result<PageObjects, StoreError> {
        let n = posts.len();
        let mut keys: Vec<String> = posts.iter().map(|&id| self.post_key(id)).collect();
        keys.extend(posts.iter().map(|&id| self.counts_key(id)));
        if let Some(viewer) = viewer {
            for kind in [Engagement::Like, Engagement::Repost] {
                keys.extend(
                    posts
                        .iter()
                        .map(|&id| self.engagement_key(kind, viewer, id)),
                );
            }
        }
        keys.extend(profiles.iter().map(|&id| self.user_key(id)));
        let mut values = self.get_values(keys).await?.into_iter();
        let posts = take_decoded(&mut values, n);
        let counts = take_decoded(&mut values, n);
        let (likes, reposts) = match viewer {
            Some(_) => (take_decoded(&mut values, n), take_decoded(&mut values, n)),
            None => (vec![None; n], vec![None; n]),
        };
        Ok(PageObjects {
            posts,
            counts,
            likes,
            reposts,
            profiles: take_decoded(&mut values, profiles.len()),
        })
    }

    /// Caches like (or repost) states of `user`, each only if no newer one
    /// is cached.
    pub async fn put_engagements(
        &self,
        kind: Engagement,
        user: UserId,
        states: &[(PostId, EngagementState)],
    ) -> Result<(), StoreError> {
        self.set_all_if_newer(states.iter().map(|(id, s)| {
            (
                self.engagement_key(kind, user, *id),
                s.version,
                serde_json::to_string(s),
            )
        }))
        .await
    }

    /// Drops cached like (or repost) states of `user` (a rebuild rewrote
    /// them).
    pub async fn forget_engagements(
        &self,
        kind: Engagement,
        user: UserId,
        posts: &[PostId],
    ) -> Result<(), StoreError> {
        if posts.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = posts
            .iter()
            .map(|&id| self.engagement_key(kind, user, id))
            .collect();
        // One hash tag: a single command on a cluster too.
        let _: i64 = self.pool.del(keys).await?;
        Ok(())
    }

    /// Cached counts, one slot per post id, `None` where missing.
    pub async fn counts(&self, ids: &[PostId]) -> Result<Vec<Option<PostCounts>>, StoreError> {
        self.get_json(ids.iter().map(|&id| self.counts_key(id)).collect())
            .await
    }

    /// Caches counts, each only if no newer version is cached (the
    /// projector and refilling readers write concurrently).
    pub async fn put_counts(&self, counts: &[(PostId, PostCounts)]) -> Result<(), StoreError> {
        self.set_all_if_newer(
            counts
                .iter()
                .map(|(id, c)| (self.counts_key(*id), c.version, serde_json::to_string(c))),
        )
        .await
    }

    /// `SET_IF_NEWER` for each (key, version, JSON), all at once.
    async fn set_all_if_newer(
        &self,
        items: impl Iterator<Item = (String, i64, serde_json::Result<String>)>,
    ) -> Result<(), StoreError> {
        let ttl = Self::ttl_secs(self.object_ttl);
        let writes = items.map(|(key, version, json)| {
            let json = json.expect("records always serialise");
            let args: Vec<Value> = vec![json.into(), version.into(), ttl.into()];
            self.pool
                .eval::<i64, _, _, _>(SET_IF_NEWER, vec![key], args)
        });
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }

    /// Cached profiles, one slot per id, `None` where missing.
    pub async fn profiles(&self, ids: &[UserId]) -> Result<Vec<Option<ProfileRecord>>, StoreError> {
        self.get_json(ids.iter().map(|&id| self.user_key(id)).collect())
            .await
    }

    /// Caches profiles, each only if no newer version is cached: snapshots
    /// of one user reach the projector on several partitions, and readers
    /// refill the cache concurrently, so a plain `SET` could go backwards.
    pub async fn put_profiles(&self, profiles: &[ProfileRecord]) -> Result<(), StoreError> {
        self.set_all_if_newer(
            profiles
                .iter()
                .map(|p| (self.user_key(p.id), p.version, serde_json::to_string(p))),
        )
        .await
    }
}
