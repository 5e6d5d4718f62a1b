//! A user's favourites: the posts they like, newest like first, paged by
//! the like's id as Mastodon pages them. Posts deleted since are left out.

use contracts::cursor::FeedPosition;
use contracts::ids::UserId;
use readmodel::StoreError;

use crate::feed::{FeedService, Item};

/// A page of favourites and the like id the next page starts below
/// (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FavouritesPage {
    pub items: Vec<Item>,
    /// The like id of the first item, where a page of newer ones ends.
    pub first: Option<i64>,
    pub next: Option<i64>,
}

impl FeedService {
    /// `user`'s likes with ids below `before` and above `after`, newest
    /// first, at most `limit`, hydrated as `user` sees them.
    pub async fn favourites(
        &self,
        user: UserId,
        before: Option<i64>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<FavouritesPage, StoreError> {
        let mut likes = self
            .store()
            .favourites_page(user, before, limit + 1)
            .await?;
        let mut next = None;
        if likes.len() > limit {
            likes.truncate(limit);
            next = likes.last().map(|&(like, _)| like);
        }
        if let Some(after) = after {
            let read = likes.len();
            likes.retain(|&(like, _)| like > after);
            if likes.len() < read {
                // The bound is reached: nothing older is above it.
                next = None;
            }
        }
        let entries: Vec<FeedPosition> = likes
            .iter()
            .map(|&(_, post_id)| FeedPosition {
                created_at_ms: 0,
                post_id,
            })
            .collect();
        let items = self.hydrate(&entries, Some(user)).await?;
        Ok(FavouritesPage {
            items,
            first: likes.first().map(|&(like, _)| like),
            next,
        })
    }
}
