//! Merging newest-first lists of feed entries into one page: the
//! precomputed home feed and the timelines of the celebrities the reader
//! follows (fan-out on read).

use readmodel::FeedPosition;

/// The newest `limit` distinct entries of `lists`, newest first. Each list
/// must be newest first; an entry in several lists (a post fanned out
/// before its author became a celebrity) appears once.
pub fn newest_first(lists: Vec<Vec<FeedPosition>>, limit: usize) -> Vec<FeedPosition> {
    let mut all: Vec<FeedPosition> = lists.into_iter().flatten().collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    all.dedup();
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use contracts::ids::PostId;
    use proptest::prelude::*;

    use super::*;

    fn entry(id: i64) -> FeedPosition {
        // Several posts share a millisecond, so ties are ordered by id.
        FeedPosition {
            created_at_ms: id / 3,
            post_id: PostId(id),
        }
    }

    fn newest_first_list() -> impl Strategy<Value = Vec<FeedPosition>> {
        proptest::collection::btree_set(0i64..300, 0..40)
            .prop_map(|ids| ids.into_iter().rev().map(entry).collect())
    }

    proptest! {
        #[test]
        fn a_merge_is_the_newest_of_the_union(
            lists in proptest::collection::vec(newest_first_list(), 0..6),
            limit in 0usize..60,
        ) {
            let union: BTreeSet<FeedPosition> = lists.iter().flatten().copied().collect();
            let expected: Vec<FeedPosition> = union.into_iter().rev().take(limit).collect();
            prop_assert_eq!(newest_first(lists, limit), expected);
        }

        /// Paging the merge with a keyset cursor, each source read only
        /// after the cursor, walks the whole union once.
        #[test]
        fn paging_a_merge_visits_every_entry_once(
            lists in proptest::collection::vec(newest_first_list(), 1..6),
            limit in 1usize..15,
        ) {
            let mut seen = Vec::new();
            let mut after: Option<FeedPosition> = None;
            loop {
                let sources = lists
                    .iter()
                    .map(|l| l.iter().copied().filter(|e| after.is_none_or(|a| *e < a)).take(limit + 1).collect())
                    .collect();
                let mut page = newest_first(sources, limit + 1);
                let more = page.len() > limit;
                page.truncate(limit);
                seen.extend(page.iter().copied());
                if !more {
                    break;
                }
                after = page.last().copied();
            }
            let union: BTreeSet<FeedPosition> = lists.iter().flatten().copied().collect();
            prop_assert_eq!(seen, union.into_iter().rev().collect::<Vec<_>>());
        }
    }
}
