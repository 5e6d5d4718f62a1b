//! Facts about posts that never change once a post exists: who wrote it,
//! and which post a repost reposts. Each replica remembers them, so a page
//! can ask Redis for its posts and their authors' profiles in one round
//! trip instead of learning the authors from the posts first.
//!
//! Bounded: past [`CAPACITY`] posts the memory starts again empty (a miss
//! costs only the round trip it would have saved).

use std::collections::HashMap;
use std::sync::Mutex;

use contracts::ids::{PostId, UserId};
use readmodel::PostRecord;

/// Posts remembered at most (about 32 bytes each).
pub const CAPACITY: usize = 200_000;

/// What never changes about a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostFact {
    pub author: UserId,
    /// Set on a repost: the reposted post.
    pub reposts: Option<PostId>,
}

#[derive(Debug, Default)]
pub struct PostFacts(Mutex<HashMap<PostId, PostFact>>);

impl PostFacts {
    /// The facts known of `ids`, in order.
    pub fn get(&self, ids: &[PostId]) -> Vec<Option<PostFact>> {
        let known = self.0.lock().expect("the lock is never poisoned");
        ids.iter().map(|id| known.get(id).copied()).collect()
    }

    /// Remembers the facts of `posts`.
    pub fn remember<'a>(&self, posts: impl IntoIterator<Item = &'a PostRecord>) {
        let mut known = self.0.lock().expect("the lock is never poisoned");
        for post in posts {
            if known.len() >= CAPACITY && !known.contains_key(&post.id) {
                known.clear();
            }
            known.insert(
                post.id,
                PostFact {
                    author: post.author_id,
                    reposts: post.repost_of.map(|r| r.post_id),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use readmodel::RepostOf;

    fn post(id: i64, author: i64, reposts: Option<i64>) -> PostRecord {
        PostRecord {
            id: PostId(id),
            author_id: UserId(author),
            text: String::new(),
            created_at: chrono::Utc::now(),
            edited_at: None,
            in_reply_to_id: None,
            in_reply_to_author_id: None,
            repost_of: reposts.map(|p| RepostOf {
                post_id: PostId(p),
                created_at_ms: 0,
            }),
        }
    }

    #[test]
    fn remembers_authors_and_reposted_posts() {
        let facts = PostFacts::default();
        facts.remember(&[post(1, 7, None), post(2, 8, Some(1))]);
        assert_eq!(
            facts.get(&[PostId(2), PostId(3), PostId(1)]),
            [
                Some(PostFact {
                    author: UserId(8),
                    reposts: Some(PostId(1))
                }),
                None,
                Some(PostFact {
                    author: UserId(7),
                    reposts: None
                }),
            ]
        );
    }

    #[test]
    fn stays_bounded() {
        let facts = PostFacts::default();
        let posts: Vec<PostRecord> = (0..=CAPACITY as i64).map(|i| post(i, 1, None)).collect();
        facts.remember(&posts);
        assert_eq!(facts.0.lock().unwrap().len(), 1);
    }
}
