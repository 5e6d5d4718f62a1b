//! Paging and hydrating feeds from the read cluster.
//!
//! A home-feed page comes from the user's Redis sorted set while it is warm
//! and holds enough entries, and continues from the durable store where
//! Redis runs out, so scrolling back has no cap and no seam; a set known to
//! hold the whole feed ends the page without that read. A cold feed is
//! read from the durable store and warmed. If Redis fails, pages are served
//! from the durable store alone (slower, still correct).
//!
//! Posts of celebrities the user follows reach no feed by fan-out; each
//! page merges their timelines, read after the same cursor, with the
//! precomputed feed (fan-out on read). Timelines are kept hot in Redis the
//! same way as home feeds, so a warm page of any reader touches no SQL.
//!
//! Hydration looks a page's posts, counts, the signed-in reader's like and
//! repost states and the authors up in one `MGET`, then fetches only the
//! misses from the durable store in one batch each, and refills the cache
//! with them. The authors (and the posts reposts name) are known in advance
//! for posts this replica has seen ([`crate::facts`]); a page with posts it
//! has not seen looks their authors (and reposted posts) up in one more
//! `MGET`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};

use chrono::{DateTime, Utc};
use contracts::ids::{PostId, UserId, normalize_username};
use readmodel::cache::{HotCache, HotList, HotPage, Loaded, PageObjects};
use readmodel::{
    Engagement, EngagementState, FeedPosition, FeedReader, PostCounts, PostRecord, ProfileRecord,
    StoreError, StoresReady,
};

use crate::copies::{COPY_LEN, Lookup, TimelineCopies};
use crate::facts::PostFacts;
use crate::merge;

/// Celebrity timelines read at once for one page.
const TIMELINE_READS_IN_FLIGHT: usize = 16;

/// Keeps the first `limit` of `rows` (read one beyond, to know whether a
/// next page exists); the last one kept is where the next page starts if
/// there were more.
pub(crate) fn cut<T: Copy>(rows: &mut Vec<T>, limit: usize) -> Option<T> {
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().copied()
    } else {
        None
    }
}

/// Shows each post once, where it first appears (its newest entry): a
/// merged page can reach a post through several entries.
fn once_each(items: &mut Vec<Item>) {
    let mut seen = HashSet::new();
    items.retain(|item| seen.insert(item.post.id));
}

/// Those of `ids` (with their cached states) that `count` of their counts
/// does not rule out: a post counted with none is engaged by nobody.
fn possibly_engaged(
    ids: &[PostId],
    cached: Vec<Option<EngagementState>>,
    counts: &HashMap<PostId, PostCounts>,
    count: impl Fn(&PostCounts) -> i64,
) -> (Vec<PostId>, Vec<Option<EngagementState>>) {
    ids.iter()
        .copied()
        .zip(cached)
        .filter(|(id, _)| counts.get(id).is_none_or(|c| count(c) > 0))
        .unzip()
}

/// A hydrated feed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub post: PostRecord,
    pub author: ProfileRecord,
    pub counts: PostCounts,
    /// What the signed-in reader did to the post; `None` when anonymous.
    pub viewer: Option<ViewerState>,
    /// Who reposted it, when it reached the list as a repost.
    pub reposted_by: Option<ProfileRecord>,
    /// The repost it reached the list as: its id and time (a Mastodon
    /// reblog is a status of its own).
    pub via_repost: Option<(PostId, DateTime<Utc>)>,
}

/// A signed-in reader's own engagement with a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewerState {
    pub liked: bool,
    pub reposted: bool,
}

/// What hydration looked up for a set of posts.
struct Objects {
    posts: HashMap<PostId, PostRecord>,
    counts: HashMap<PostId, PostCounts>,
    liked: HashSet<PostId>,
    reposted: HashSet<PostId>,
    /// The profiles asked for beside the posts that the cache held.
    profiles: HashMap<UserId, ProfileRecord>,
}

impl Objects {
    fn extend(&mut self, more: Objects) {
        self.posts.extend(more.posts);
        self.counts.extend(more.counts);
        self.liked.extend(more.liked);
        self.reposted.extend(more.reposted);
        self.profiles.extend(more.profiles);
    }
}

/// One page and where the next one starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<FeedPosition>,
}

#[derive(Clone)]
pub struct FeedService {
    store: Arc<dyn FeedReader>,
    cache: HotCache,
    facts: Arc<PostFacts>,
    copies: Arc<TimelineCopies>,
}

fn count_source(list: HotList, source: &'static str) {
    metrics::counter!("read_feed_source_total", "list" => list.kind(), "source" => source)
        .increment(1);
}

pub(crate) fn cache_failed(operation: &'static str, error: &StoreError) {
    tracing::warn!(%error, operation, "redis failed; serving from the durable store");
    metrics::counter!("read_cache_errors_total", "operation" => operation).increment(1);
}

impl FeedService {
    pub fn new(store: Arc<dyn FeedReader>, cache: HotCache) -> Self {
        Self {
            store,
            cache,
            facts: Arc::default(),
            copies: Arc::new(TimelineCopies::new(Duration::ZERO)),
        }
    }

    /// Merges followed celebrities' timelines from this replica's copies,
    /// each kept for `ttl` ([`crate::copies`]).
    pub fn with_timeline_copies(mut self, ttl: Duration) -> Self {
        self.copies = Arc::new(TimelineCopies::new(ttl));
        self
    }

    pub fn cache(&self) -> &HotCache {
        &self.cache
    }

    /// Readiness of both tiers this service reads.
    pub fn readiness(&self) -> StoresReady {
        StoresReady {
            store: Arc::clone(&self.store),
            cache: self.cache.clone(),
        }
    }

    /// The caller's home feed after `after`, newest first.
    pub async fn home_page(
        &self,
        owner: UserId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        // One extra entry tells whether another page exists.
        let wanted = limit + 1;
        let (feed, celebrities) = tokio::join!(
            self.entries(HotList::Home(owner), after, wanted),
            self.celebrities(owner)
        );
        let (feed, celebrities) = (feed?, celebrities?);
        if celebrities.is_empty() {
            return self.page(feed, limit, Some(owner)).await;
        }
        metrics::histogram!("read_feed_merged_celebrities").record(celebrities.len() as f64);
        let timelines: Vec<Vec<FeedPosition>> = stream::iter(celebrities.clone())
            .map(|c| self.celebrity_entries(c, after, wanted))
            .buffer_unordered(TIMELINE_READS_IN_FLIGHT)
            .try_collect()
            .await?;
        // Entries fanned out before their author became a celebrity are in
        // both; they count as the feed's own.
        let fanned_out: HashSet<PostId> = feed.iter().map(|e| e.post_id).collect();
        let mut lists = timelines;
        lists.push(feed);
        let mut entries = merge::newest_first(lists, wanted);
        let next = cut(&mut entries, limit);
        // The rules run before a page shows each post once: a post a rule
        // leaves out must not have displaced its other entry.
        let mut items = self.hydrate(&entries, Some(owner)).await?;
        self.apply_merge_rules(owner, &celebrities, &fanned_out, &mut items)
            .await?;
        once_each(&mut items);
        Ok(Page { items, next })
    }

    /// The celebrities `owner` follows, through the cache; a miss loads the
    /// durable list and caches it unless the projector changed it meanwhile.
    pub(crate) async fn celebrities(&self, owner: UserId) -> Result<Vec<UserId>, StoreError> {
        let version = match self.cache.celebrity_follows(owner).await {
            Ok((Some(cached), _)) => return Ok(cached),
            Ok((None, version)) => Some(version),
            Err(e) => {
                cache_failed("celebrity_follows", &e);
                None
            }
        };
        let loaded = self.store.celebrity_follows(owner).await?;
        if let Some(version) = version
            && let Err(e) = self
                .cache
                .put_celebrity_follows(owner, &loaded, &version)
                .await
        {
            cache_failed("celebrity_follows", &e);
        }
        Ok(loaded)
    }

    /// Applies the fan-out's rules to the items of a page that came from
    /// the timelines of `celebrities` rather than from the reader's own
    /// feed (whose entries are `fanned_out`):
    /// - a celebrity's reply to another account shows only to readers who
    ///   follow that account too (or are it);
    /// - a post shows once: a merged repost of a post by the reader or by
    ///   someone the reader follows is left out (the post has its place in
    ///   the feed, itself or through the repost that reached it first), and
    ///   so is a fanned-out repost of a followed celebrity's post (the merge
    ///   brings the post itself).
    ///
    /// The page may come out shorter; its cursor still continues after
    /// everything it covered.
    pub(crate) async fn apply_merge_rules(
        &self,
        reader: UserId,
        celebrities: &[UserId],
        fanned_out: &HashSet<PostId>,
        items: &mut Vec<Item>,
    ) -> Result<(), StoreError> {
        let merged = |item: &Item| {
            let entry = item.via_repost.map_or(item.post.id, |(id, _)| id);
            !fanned_out.contains(&entry)
        };
        let replied_to = |item: &Item| {
            item.post
                .answers_another()
                .filter(|&a| a != reader && item.reposted_by.is_none() && merged(item))
        };
        let merged_repost_of = |item: &Item| {
            (item.reposted_by.is_some() && merged(item)).then_some(item.post.author_id)
        };
        let mut accounts: Vec<UserId> = items
            .iter()
            .flat_map(|item| replied_to(item).into_iter().chain(merged_repost_of(item)))
            .filter(|&a| a != reader)
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        let unfollowed: HashSet<UserId> = if accounts.is_empty() {
            HashSet::new()
        } else {
            self.store
                .not_followed_among(reader, &accounts)
                .await?
                .into_iter()
                .collect()
        };
        items.retain(|item| {
            let foreign_reply = replied_to(item).is_some_and(|a| unfollowed.contains(&a));
            let placed_elsewhere = merged_repost_of(item)
                .is_some_and(|author| author == reader || !unfollowed.contains(&author));
            let merged_as_itself = item.reposted_by.is_some()
                && !merged(item)
                && celebrities.contains(&item.post.author_id);
            !(foreign_reply || placed_elsewhere || merged_as_itself)
        });
        Ok(())
    }

    /// Hydrates the first `limit` of `entries`; a further entry means there is a next page.
    pub(crate) async fn page(
        &self,
        mut entries: Vec<FeedPosition>,
        limit: usize,
        viewer: Option<UserId>,
    ) -> Result<Page, StoreError> {
        let next = cut(&mut entries, limit);
        let mut items = self.hydrate(&entries, viewer).await?;
        once_each(&mut items);
        Ok(Page { items, next })
    }

    /// A followed celebrity's timeline entries for a merge: from this
    /// replica's copy while it is fresh and covers them.
    async fn celebrity_entries(
        &self,
        celebrity: UserId,
        after: Option<FeedPosition>,
        wanted: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let list = HotList::Timeline(celebrity);
        if !self.copies.enabled() || crate::consistency::reads_for_a_write() {
            return self.entries(list, after, wanted).await;
        }
        match self.copies.page(celebrity, after, wanted) {
            Lookup::Page(page) => {
                count_source(list, "replica_copy");
                return Ok(page);
            }
            Lookup::Beyond => return self.entries(list, after, wanted).await,
            Lookup::Stale => {}
        }
        let newest = self.entries(list, None, COPY_LEN).await?;
        self.copies.keep(celebrity, &newest);
        match self.copies.page(celebrity, after, wanted) {
            Lookup::Page(page) => Ok(page),
            Lookup::Beyond | Lookup::Stale => self.entries(list, after, wanted).await,
        }
    }

    /// Entries of `list` after `after`: from Redis while the list is warm,
    /// continued from the durable store where Redis runs out; a cold list's
    /// first page warms it.
    async fn entries(
        &self,
        list: HotList,
        after: Option<FeedPosition>,
        wanted: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        let counted = |source: &'static str| count_source(list, source);
        let hot = match self.cache.list_page(list, after, wanted).await {
            Ok(hot) => hot,
            Err(e) => {
                cache_failed("feed_page", &e);
                counted("durable_fallback");
                return self.durable_entries(list, after, wanted).await;
            }
        };
        match hot {
            Some(HotPage {
                mut entries,
                at_end,
            }) => {
                if entries.len() < wanted && !at_end {
                    let from = entries.last().copied().or(after);
                    let rest = self
                        .durable_entries(list, from, wanted - entries.len())
                        .await?;
                    counted(if rest.is_empty() {
                        "cache"
                    } else {
                        "cache_then_durable"
                    });
                    entries.extend(rest);
                } else {
                    counted("cache");
                }
                Ok(entries)
            }
            None => {
                counted("durable_cold");
                if after.is_some() {
                    return self.durable_entries(list, after, wanted).await;
                }
                // A cold first page: load what the cache keeps, warm it, serve from it.
                let load = self.cache.feed_cap().max(wanted);
                let newest = self.durable_entries(list, None, load).await?;
                let loaded = if newest.len() < load {
                    Loaded::Whole
                } else {
                    Loaded::Newest
                };
                if let Err(e) = self.cache.warm(list, &newest, loaded).await {
                    cache_failed("warm", &e);
                }
                Ok(newest.into_iter().take(wanted).collect())
            }
        }
    }

    async fn durable_entries(
        &self,
        list: HotList,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedPosition>, StoreError> {
        match list {
            HotList::Home(owner) => self.store.feed_page(owner, after, limit).await,
            HotList::Timeline(author) => self.store.timeline_page(author, after, limit).await,
        }
    }

    /// An author's own posts and reposts after `after`, newest first.
    pub async fn timeline_page(
        &self,
        author: UserId,
        after: Option<FeedPosition>,
        limit: usize,
        viewer: Option<UserId>,
    ) -> Result<Page, StoreError> {
        let entries = self
            .entries(HotList::Timeline(author), after, limit + 1)
            .await?;
        self.page(entries, limit, viewer).await
    }

    /// One hydrated post, if it exists.
    pub async fn post(
        &self,
        id: PostId,
        viewer: Option<UserId>,
    ) -> Result<Option<Item>, StoreError> {
        let entry = FeedPosition {
            created_at_ms: 0,
            post_id: id,
        };
        Ok(self.hydrate(&[entry], viewer).await?.pop())
    }

    /// The durable store, for the read paths built on this service.
    pub fn store(&self) -> &Arc<dyn FeedReader> {
        &self.store
    }

    /// A profile by id, through the cache.
    pub async fn profile(&self, id: UserId) -> Result<Option<ProfileRecord>, StoreError> {
        Ok(self.profiles(&[id]).await?.remove(&id))
    }

    /// A profile by username; `None` also for names no account can have.
    pub async fn profile_by_username(
        &self,
        username: &str,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        match normalize_username(username) {
            Some(name) => self.store.profile_by_username(&name).await,
            None => Ok(None),
        }
    }

    /// Turns entries into items, in order, dropping posts that no longer
    /// exist; a repost becomes the post it names, marked with its reposter.
    /// With a `viewer`, marks what that reader liked and reposted.
    pub async fn hydrate(
        &self,
        entries: &[FeedPosition],
        viewer: Option<UserId>,
    ) -> Result<Vec<Item>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<PostId> = entries.iter().map(|e| e.post_id).collect();
        // What this replica knows of the posts rides along in the first
        // round trip: the posts reposts name, and the authors.
        let known: Vec<_> = self.facts.get(&ids).into_iter().flatten().collect();
        let named: Vec<PostId> = known.iter().filter_map(|f| f.reposts).collect();
        let mut authors: Vec<UserId> = known.iter().map(|f| f.author).collect();
        authors.extend(
            self.facts
                .get(&named)
                .into_iter()
                .flatten()
                .map(|f| f.author),
        );
        authors.sort_unstable();
        authors.dedup();
        ids.extend(named);
        ids.sort_unstable();
        ids.dedup();
        let mut objects = self.objects(&ids, viewer, &authors).await?;
        let mut originals: Vec<PostId> = objects
            .posts
            .values()
            .filter_map(|p| p.repost_of)
            .map(|r| r.post_id)
            .filter(|id| !objects.posts.contains_key(id))
            .collect();
        if !originals.is_empty() {
            // Only pages with reposts this replica has not seen pay this
            // second round trip.
            originals.sort_unstable();
            originals.dedup();
            let more = self.objects(&originals, viewer, &[]).await?;
            objects.extend(more);
        }
        self.facts.remember(objects.posts.values());
        let shown: Vec<(&PostRecord, Option<&PostRecord>)> = entries
            .iter()
            .filter_map(|e| {
                let post = objects.posts.get(&e.post_id)?;
                match post.repost_of {
                    Some(of) => Some((objects.posts.get(&of.post_id)?, Some(post))),
                    None => Some((post, None)),
                }
            })
            .collect();
        let mut author_ids: Vec<UserId> = shown
            .iter()
            .flat_map(|(post, repost)| {
                std::iter::once(post.author_id).chain(repost.map(|r| r.author_id))
            })
            .collect();
        author_ids.sort_unstable();
        author_ids.dedup();
        author_ids.retain(|id| !objects.profiles.contains_key(id));
        let mut authors = std::mem::take(&mut objects.profiles);
        if !author_ids.is_empty() {
            authors.extend(self.profiles(&author_ids).await?);
        }
        Ok(shown
            .into_iter()
            .filter_map(|(post, repost)| {
                let reposted_by = match repost {
                    Some(r) => Some(authors.get(&r.author_id)?.clone()),
                    None => None,
                };
                Some(Item {
                    post: post.clone(),
                    author: authors.get(&post.author_id)?.clone(),
                    counts: objects.counts.get(&post.id).copied().unwrap_or_default(),
                    viewer: viewer.map(|_| ViewerState {
                        liked: objects.liked.contains(&post.id),
                        reposted: objects.reposted.contains(&post.id),
                    }),
                    reposted_by,
                    via_repost: repost.map(|r| (r.id, r.created_at)),
                })
            })
            .collect())
    }

    /// The posts among `ids`, their counts and, with a `viewer`, which of
    /// them the viewer likes and reposts: one `MGET`, then the durable
    /// store for the misses. The cached ones of `profiles` come along.
    async fn objects(
        &self,
        ids: &[PostId],
        viewer: Option<UserId>,
        profiles: &[UserId],
    ) -> Result<Objects, StoreError> {
        let cached = self
            .cache
            .page_objects(ids, viewer, profiles)
            .await
            .unwrap_or_else(|e| {
                cache_failed("hydrate", &e);
                PageObjects::missing(ids.len(), profiles.len())
            });
        let profiles: HashMap<UserId, ProfileRecord> = cached
            .profiles
            .into_iter()
            .flatten()
            .map(|p| (p.id, p))
            .collect();
        let (posts, counts) = tokio::join!(
            read_through(
                "post",
                ids,
                Ok(cached.posts),
                |p: &PostRecord| p.id,
                async |missing| self.store.posts(missing).await,
                async |loaded| self.cache.put_posts(loaded).await,
            ),
            self.counts(ids, cached.counts),
        );
        let counts = counts?;
        // Nobody likes a post whose count of likes is zero: a new post's
        // readers (a live stream renders it for each of them) need not
        // look up their own state in the durable store. Counts and a
        // reader's state come from one event, so they agree once it is
        // applied, which is what read-your-writes waits for.
        let (like_ids, likes) = possibly_engaged(ids, cached.likes, &counts, |c| c.likes);
        let (repost_ids, reposts) = possibly_engaged(ids, cached.reposts, &counts, |c| c.reposts);
        let (liked, reposted) = tokio::join!(
            self.engaged(Engagement::Like, viewer, &like_ids, likes),
            self.engaged(Engagement::Repost, viewer, &repost_ids, reposts),
        );
        Ok(Objects {
            posts: posts?,
            counts,
            liked: liked?,
            reposted: reposted?,
            profiles,
        })
    }

    /// Counts, the cached ones and the durable store's for the rest. A post
    /// with no stored counts has none yet (zero, version 0): that is cached
    /// too, so it is not looked up again; any real change has a higher
    /// version and replaces it.
    async fn counts(
        &self,
        ids: &[PostId],
        cached: Vec<Option<PostCounts>>,
    ) -> Result<HashMap<PostId, PostCounts>, StoreError> {
        let cached = ids.iter().zip(cached).map(|(&id, c)| c.map(|c| (id, c)));
        let found = read_through(
            "counts",
            ids,
            Ok(cached.collect()),
            |&(id, _): &(PostId, PostCounts)| id,
            async |missing| {
                let mut stored: HashMap<PostId, PostCounts> =
                    self.store.counts(missing).await?.into_iter().collect();
                Ok(missing
                    .iter()
                    .map(|&id| (id, stored.remove(&id).unwrap_or_default()))
                    .collect())
            },
            async |loaded| self.cache.put_counts(loaded).await,
        )
        .await?;
        Ok(found.into_values().collect())
    }

    /// Which of `ids` `viewer` likes (or reposts), cached like counts: a
    /// post the viewer never engaged with is cached as inactive at version
    /// 0. Nobody, without a viewer.
    async fn engaged(
        &self,
        kind: Engagement,
        viewer: Option<UserId>,
        ids: &[PostId],
        cached: Vec<Option<EngagementState>>,
    ) -> Result<HashSet<PostId>, StoreError> {
        let Some(viewer) = viewer else {
            return Ok(HashSet::new());
        };
        let cached = ids.iter().zip(cached).map(|(&id, s)| s.map(|s| (id, s)));
        let found = read_through(
            match kind {
                Engagement::Like => "like",
                Engagement::Repost => "repost",
            },
            ids,
            Ok(cached.collect()),
            |&(id, _): &(PostId, EngagementState)| id,
            async |missing| {
                let mut stored: HashMap<PostId, EngagementState> = self
                    .store
                    .engagement_states(kind, viewer, missing)
                    .await?
                    .into_iter()
                    .collect();
                Ok(missing
                    .iter()
                    .map(|&id| (id, stored.remove(&id).unwrap_or(EngagementState::NEVER)))
                    .collect())
            },
            async |loaded| self.cache.put_engagements(kind, viewer, loaded).await,
        )
        .await?;
        Ok(found
            .into_values()
            .filter(|(_, s)| s.active)
            .map(|(id, _)| id)
            .collect())
    }

    /// Profiles by id, through the cache.
    pub async fn profiles_by_id(
        &self,
        ids: &[UserId],
    ) -> Result<HashMap<UserId, ProfileRecord>, StoreError> {
        self.profiles(ids).await
    }

    async fn profiles(&self, ids: &[UserId]) -> Result<HashMap<UserId, ProfileRecord>, StoreError> {
        read_through(
            "profile",
            ids,
            self.cache.profiles(ids).await,
            |p: &ProfileRecord| p.id,
            async |missing| self.store.profiles(missing).await,
            async |loaded| self.cache.put_profiles(loaded).await,
        )
        .await
    }
}

/// Cache-aside lookup of `ids`: takes what the cache had, loads the misses
/// from the durable store in one batch and puts them back in the cache. A
/// failing cache counts as all misses.
async fn read_through<K, V>(
    kind: &'static str,
    ids: &[K],
    cached: Result<Vec<Option<V>>, StoreError>,
    key: impl Fn(&V) -> K,
    load: impl AsyncFnOnce(&[K]) -> Result<Vec<V>, StoreError>,
    refill: impl AsyncFnOnce(&[V]) -> Result<(), StoreError>,
) -> Result<HashMap<K, V>, StoreError>
where
    K: Copy + Eq + std::hash::Hash,
    V: Clone,
{
    let cached = cached.unwrap_or_else(|e| {
        cache_failed("hydrate", &e);
        vec![None; ids.len()]
    });
    let missing: Vec<K> = ids
        .iter()
        .zip(&cached)
        .filter(|(_, c)| c.is_none())
        .map(|(&id, _)| id)
        .collect();
    metrics::counter!("read_hydration_total", "kind" => kind, "result" => "hit")
        .increment((ids.len() - missing.len()) as u64);
    let mut found: HashMap<K, V> = cached.into_iter().flatten().map(|v| (key(&v), v)).collect();
    if !missing.is_empty() {
        metrics::counter!("read_hydration_total", "kind" => kind, "result" => "miss")
            .increment(missing.len() as u64);
        let loaded = load(&missing).await?;
        if let Err(e) = refill(&loaded).await {
            cache_failed("refill", &e);
        }
        found.extend(loaded.into_iter().map(|v| (key(&v), v)));
    }
    Ok(found)
}
