//! Each replica's short-lived copies of the newest entries of the
//! celebrity timelines its readers' home pages merge.
//!
//! A celebrity's timeline is merged into the page of every one of their
//! followers, so the same few Redis sets would be read thousands of times
//! a second (hot keys: a Redis Cluster cannot spread them). A replica keeps
//! the newest [`COPY_LEN`] entries of each for a moment instead (Twitter's
//! and Facebook's answer to hot keys: a local cache in front of the shared
//! one). A follower sees a celebrity's post that much later; a read that
//! carries a write's consistency token skips the copies, and a reader's
//! own timeline is never merged from one.
//!
//! Bounded: past [`CAPACITY`] timelines the memory starts again empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use contracts::ids::UserId;
use readmodel::FeedPosition;

/// Entries a copy holds: the longest page (100) and one more, which says
/// whether a next page exists.
pub const COPY_LEN: usize = 101;

/// Timelines copied at most (about 1.6 KiB each).
pub const CAPACITY: usize = 10_000;

struct Copy {
    taken: Instant,
    /// Newest first.
    entries: Arc<[FeedPosition]>,
    /// The timeline has no entries older than these.
    at_end: bool,
}

/// What this replica's copy says about one page of a timeline.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The page, from a fresh copy.
    Page(Vec<FeedPosition>),
    /// A fresh copy ends before the page does: a deeper page, read from
    /// the shared read model without refreshing the copy.
    Beyond,
    /// No fresh copy.
    Stale,
}

pub struct TimelineCopies {
    ttl: Duration,
    copies: Mutex<HashMap<UserId, Copy>>,
}

impl TimelineCopies {
    /// Copies kept for `ttl`; zero keeps none.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            copies: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// Up to `wanted` entries of `author`'s timeline after `after`, if a
    /// fresh copy covers them: it holds `wanted` of them, or the
    /// timeline's end.
    pub fn page(&self, author: UserId, after: Option<FeedPosition>, wanted: usize) -> Lookup {
        let (entries, at_end) = {
            let copies = self.copies();
            let Some(copy) = copies.get(&author) else {
                return Lookup::Stale;
            };
            if copy.taken.elapsed() >= self.ttl {
                return Lookup::Stale;
            }
            (Arc::clone(&copy.entries), copy.at_end)
        };
        let page: Vec<FeedPosition> = entries
            .iter()
            .copied()
            .filter(|e| after.is_none_or(|a| *e < a))
            .take(wanted)
            .collect();
        if page.len() == wanted || at_end {
            Lookup::Page(page)
        } else {
            Lookup::Beyond
        }
    }

    /// Keeps `newest`, the first [`COPY_LEN`] entries of `author`'s
    /// timeline (fewer: all of them).
    pub fn keep(&self, author: UserId, newest: &[FeedPosition]) {
        let copy = Copy {
            taken: Instant::now(),
            entries: newest.iter().copied().take(COPY_LEN).collect(),
            at_end: newest.len() < COPY_LEN,
        };
        let mut copies = self.copies();
        if copies.len() >= CAPACITY && !copies.contains_key(&author) {
            copies.clear();
        }
        copies.insert(author, copy);
    }

    fn copies(&self) -> MutexGuard<'_, HashMap<UserId, Copy>> {
        // A panic while holding the lock leaves a valid map behind.
        self.copies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::ids::PostId;

    fn pos(ms: i64) -> FeedPosition {
        FeedPosition {
            created_at_ms: ms,
            post_id: PostId(ms),
        }
    }

    fn timeline(len: i64) -> Vec<FeedPosition> {
        (0..len).rev().map(pos).collect()
    }

    #[test]
    fn a_copy_serves_what_it_covers_and_nothing_else() {
        let copies = TimelineCopies::new(Duration::from_secs(60));
        let author = UserId(1);
        assert_eq!(copies.page(author, None, 3), Lookup::Stale);
        copies.keep(author, &timeline(200));
        assert_eq!(
            copies.page(author, None, 3),
            Lookup::Page(timeline(200)[..3].to_vec())
        );
        assert_eq!(
            copies.page(author, Some(pos(150)), 2),
            Lookup::Page(vec![pos(149), pos(148)])
        );
        // Past its newest COPY_LEN entries the timeline goes on elsewhere.
        assert_eq!(copies.page(author, Some(pos(100)), 2), Lookup::Beyond);
        assert_eq!(copies.page(UserId(2), None, 3), Lookup::Stale);
    }

    #[test]
    fn a_copy_of_a_short_timeline_reaches_its_end() {
        let copies = TimelineCopies::new(Duration::from_secs(60));
        copies.keep(UserId(1), &timeline(3));
        assert_eq!(copies.page(UserId(1), None, 21), Lookup::Page(timeline(3)));
        assert_eq!(
            copies.page(UserId(1), Some(pos(0)), 21),
            Lookup::Page(vec![])
        );
    }

    #[test]
    fn copies_expire_and_a_zero_lifetime_keeps_none_fresh() {
        let copies = TimelineCopies::new(Duration::ZERO);
        assert!(!copies.enabled());
        copies.keep(UserId(1), &timeline(3));
        assert_eq!(copies.page(UserId(1), None, 2), Lookup::Stale);
    }
}
