//! Status ids and timeline bounds as Mastodon clients see them.
//!
//! A status's `id` is its post id, as on the native API: ids are a
//! sequence, so they order by time the way Mastodon's snowflakes do, and
//! `in_reply_to_id` and every list agree on them.
//!
//! Timelines here are ordered by (creation time in milliseconds, post id),
//! so a bound (`max_id`, `since_id`, `min_id`) needs its post's time. The
//! `Link` headers this API writes carry it inside the id: the decimal
//! creation time followed by the post id in 19 zero-padded digits, so the
//! next page is found without a lookup, even when that post was deleted
//! meanwhile. A bare post id (19 digits or fewer, as clients that build
//! their own bounds send) has no time; the route looks its post up.

use contracts::cursor::FeedPosition;
use contracts::ids::PostId;

/// Digits the post id takes at the end of a status id.
const ID_DIGITS: usize = 19;

/// A status id: a post's id and, when known, its creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusId {
    pub post: PostId,
    /// Creation time in milliseconds since the epoch.
    pub created_at_ms: Option<i64>,
}

impl StatusId {
    pub fn new(post: PostId, created_at_ms: i64) -> Self {
        Self {
            post,
            created_at_ms: Some(created_at_ms),
        }
    }

    /// `None` for anything but digits naming a positive post id.
    pub fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if text.len() <= ID_DIGITS {
            let id: i64 = text.parse().ok()?;
            return (id > 0).then_some(Self {
                post: PostId(id),
                created_at_ms: None,
            });
        }
        let (ms, id) = text.split_at(text.len() - ID_DIGITS);
        let ms: i64 = ms.parse().ok()?;
        let id: i64 = id.parse().ok()?;
        (id > 0 && ms > 0).then_some(Self::new(PostId(id), ms))
    }

    /// The list position this id names, if it carries its time.
    pub fn position(&self) -> Option<FeedPosition> {
        self.created_at_ms.map(|created_at_ms| FeedPosition {
            created_at_ms,
            post_id: self.post,
        })
    }
}

impl std::fmt::Display for StatusId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.created_at_ms {
            Some(ms) if ms > 0 => write!(f, "{ms}{:0width$}", self.post.0, width = ID_DIGITS),
            _ => write!(f, "{}", self.post.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bare_post_ids_have_no_time() {
        let id = StatusId::parse("42").unwrap();
        assert_eq!(id.post, PostId(42));
        assert_eq!(id.position(), None);
        for bad in ["", "0", "-1", "4x", "00000000000000000000", " 1"] {
            assert_eq!(StatusId::parse(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trips_and_orders_as_mastodon_clients_compare(
            a in (1i64..4_000_000_000_000, 1i64..i64::MAX),
            b in (1i64..4_000_000_000_000, 1i64..i64::MAX),
        ) {
            let (x, y) = (StatusId::new(PostId(a.1), a.0), StatusId::new(PostId(b.1), b.0));
            prop_assert_eq!(StatusId::parse(&x.to_string()), Some(x));
            // Clients compare id strings by length, then text.
            let key = |s: &StatusId| { let t = s.to_string(); (t.len(), t) };
            prop_assert_eq!(key(&x).cmp(&key(&y)), (a.0, a.1).cmp(&(b.0, b.1)));
        }
    }
}
