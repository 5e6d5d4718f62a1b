//! Conversations: a post's direct replies page by page, and its context
//! (the thread above it and the tree of replies below it).
//!
//! The thread's links are kept for deleted posts too, so a deleted post in
//! the middle of a thread leaves a gap in what is shown, not a cut: the
//! walk goes through it and hydration drops it.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt, stream};

use contracts::ids::{PostId, UserId};
use readmodel::{FeedPosition, StoreError};

use crate::feed::{FeedService, Item, Page};

/// Most ancestors a context shows (Mastodon's limit too).
pub const MAX_ANCESTORS: usize = 40;
/// Most descendants a context shows.
pub const MAX_DESCENDANTS: usize = 200;
/// Posts whose replies are read at once while walking down a thread.
const LOOKUPS_IN_FLIGHT: usize = 16;

/// A post's context: oldest ancestor first; descendants depth-first, each
/// post's replies oldest first.
pub struct Context {
    pub ancestors: Vec<Item>,
    pub descendants: Vec<Item>,
}

impl FeedService {
    /// Direct replies of `parent` strictly after `after`, oldest first.
    pub async fn replies_page(
        &self,
        parent: PostId,
        after: Option<FeedPosition>,
        limit: usize,
        viewer: Option<UserId>,
    ) -> Result<Page, StoreError> {
        let entries = self.store().replies_page(parent, after, limit + 1).await?;
        self.page(entries, limit, viewer).await
    }

    /// The context of `post`, or `None` if the post does not exist.
    pub async fn context(
        &self,
        post: PostId,
        viewer: Option<UserId>,
    ) -> Result<Option<Context>, StoreError> {
        let Some(item) = self.post(post, viewer).await? else {
            return Ok(None);
        };
        let ancestors = self.ancestors(&item).await?;
        let descendants = self.descendants(post).await?;
        let (ancestors, descendants) = tokio::join!(
            self.hydrate(&ancestors, viewer),
            self.hydrate(&descendants, viewer)
        );
        Ok(Some(Context {
            ancestors: ancestors?,
            descendants: descendants?,
        }))
    }

    /// The posts above `item`, oldest first, through deleted ones.
    async fn ancestors(&self, item: &Item) -> Result<Vec<FeedPosition>, StoreError> {
        let mut chain = Vec::new();
        let mut next = item.post.in_reply_to_id;
        while let Some(id) = next {
            if chain.len() == MAX_ANCESTORS || chain.iter().any(|p: &FeedPosition| p.post_id == id)
            {
                break;
            }
            chain.push(FeedPosition {
                created_at_ms: 0,
                post_id: id,
            });
            next = self
                .store()
                .reply_parents(&[id])
                .await?
                .first()
                .map(|&(_, parent)| parent);
        }
        chain.reverse();
        Ok(chain)
    }

    /// The tree below `root` in depth-first order, level by level with
    /// each level's lookups concurrent, at most [`MAX_DESCENDANTS`] posts.
    async fn descendants(&self, root: PostId) -> Result<Vec<FeedPosition>, StoreError> {
        let mut children: HashMap<PostId, Vec<FeedPosition>> = HashMap::new();
        let mut level = vec![root];
        let mut found = 0;
        while !level.is_empty() && found < MAX_DESCENDANTS {
            let budget = MAX_DESCENDANTS - found;
            let pages: Vec<(PostId, Vec<FeedPosition>)> = stream::iter(level)
                .map(|parent| async move {
                    let page = self.store().replies_page(parent, None, budget).await?;
                    Ok::<_, StoreError>((parent, page))
                })
                .buffered(LOOKUPS_IN_FLIGHT)
                .try_collect()
                .await?;
            level = Vec::new();
            for (parent, mut page) in pages {
                page.truncate(MAX_DESCENDANTS - found);
                found += page.len();
                level.extend(page.iter().map(|p| p.post_id));
                children.insert(parent, page);
            }
        }
        Ok(depth_first(root, &children))
    }
}

/// The tree below `root`, depth-first, each post's children in order.
fn depth_first(root: PostId, children: &HashMap<PostId, Vec<FeedPosition>>) -> Vec<FeedPosition> {
    let mut order = Vec::new();
    let mut stack: Vec<FeedPosition> = children
        .get(&root)
        .map(|c| c.iter().rev().copied().collect())
        .unwrap_or_default();
    while let Some(next) = stack.pop() {
        order.push(next);
        if let Some(below) = children.get(&next.post_id) {
            stack.extend(below.iter().rev().copied());
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: i64) -> FeedPosition {
        FeedPosition {
            created_at_ms: id,
            post_id: PostId(id),
        }
    }

    #[test]
    fn depth_first_visits_each_subtree_before_the_next_sibling() {
        // 1 ─┬─ 2 ─┬─ 4
        //    │     └─ 5 ── 7
        //    └─ 3 ── 6
        let children = HashMap::from([
            (PostId(1), vec![at(2), at(3)]),
            (PostId(2), vec![at(4), at(5)]),
            (PostId(3), vec![at(6)]),
            (PostId(5), vec![at(7)]),
        ]);
        let order: Vec<i64> = depth_first(PostId(1), &children)
            .iter()
            .map(|p| p.post_id.0)
            .collect();
        assert_eq!(order, vec![2, 4, 5, 7, 3, 6]);
    }
}
