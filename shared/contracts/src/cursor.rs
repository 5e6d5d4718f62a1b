//! Opaque, versioned keyset cursors for feeds and timelines.
//!
//! A page ends at some entry `(created_at_ms, post_id)`; the next page
//! starts strictly after it in newest-first order. The cursor carries that
//! position, never an offset, so posts inserted or deleted while a client
//! pages cause neither duplicates nor gaps. It also names the list it
//! belongs to (whose home feed, whose timeline), so a cursor minted for one
//! list is rejected on another instead of silently paging the wrong data.
//!
//! Wire form: unpadded base64url of `version (1) | scope (1) | owner (8) |
//! created_at_ms (8) | post_id (8) | check (4)`, where `check` is a checksum
//! over the rest that catches truncation and casual edits.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ids::{PostId, UserId};

const VERSION: u8 = 1;
const LEN: usize = 1 + 1 + 8 + 8 + 8 + 4;

/// A position in a newest-first list of posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedPosition {
    pub created_at_ms: i64,
    pub post_id: PostId,
}

/// Which list a cursor pages. Lists of accounts ordered by time (the
/// follow lists) put (followed at, account id) in the position's
/// (created at, post id) places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    HomeFeed(UserId),
    Timeline(UserId),
    /// A post's direct replies, oldest first.
    Replies(PostId),
    Followers(UserId),
    Following(UserId),
    /// A user's notifications, newest first: (created at, notification
    /// id) in the position's places; the id alone orders them.
    Notifications(UserId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub scope: Scope,
    /// The last entry of the previous page; the next page starts after it.
    pub after: FeedPosition,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is not valid base64url")]
    Encoding,
    #[error("the cursor is truncated or corrupted")]
    Corrupt,
    #[error("the cursor comes from a newer or unknown version")]
    Version,
    #[error("the cursor belongs to a different list")]
    Foreign,
}

fn checksum(bytes: &[u8]) -> u32 {
    // FNV-1a: every step is a bijection of the state, so any single-byte edit
    // changes the result. Cursors carry no secrets and every position they can
    // name is a valid one, so integrity against accidents is all that is needed.
    bytes.iter().fold(0x811c_9dc5u32, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

impl Cursor {
    pub fn encode(&self) -> String {
        let (tag, owner) = match self.scope {
            Scope::HomeFeed(u) => (1u8, u.0),
            Scope::Timeline(u) => (2u8, u.0),
            Scope::Replies(p) => (3u8, p.0),
            Scope::Followers(u) => (4u8, u.0),
            Scope::Following(u) => (5u8, u.0),
            Scope::Notifications(u) => (6u8, u.0),
        };
        let mut bytes = Vec::with_capacity(LEN);
        bytes.push(VERSION);
        bytes.push(tag);
        bytes.extend_from_slice(&owner.to_be_bytes());
        bytes.extend_from_slice(&self.after.created_at_ms.to_be_bytes());
        bytes.extend_from_slice(&self.after.post_id.0.to_be_bytes());
        let check = checksum(&bytes);
        bytes.extend_from_slice(&check.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a cursor and checks that it belongs to `expected`.
    pub fn decode(text: &str, expected: Scope) -> Result<Self, CursorError> {
        if text.len() > 64 {
            return Err(CursorError::Corrupt);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Encoding)?;
        if bytes.first().is_some_and(|&v| v != VERSION) {
            return Err(CursorError::Version);
        }
        if bytes.len() != LEN {
            return Err(CursorError::Corrupt);
        }
        let (body, check) = bytes.split_at(LEN - 4);
        if checksum(body).to_be_bytes() != check {
            return Err(CursorError::Corrupt);
        }
        let word = |at: usize| i64::from_be_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        let owner = word(2);
        let scope = match body[1] {
            1 => Scope::HomeFeed(UserId(owner)),
            2 => Scope::Timeline(UserId(owner)),
            3 => Scope::Replies(PostId(owner)),
            4 => Scope::Followers(UserId(owner)),
            5 => Scope::Following(UserId(owner)),
            6 => Scope::Notifications(UserId(owner)),
            _ => return Err(CursorError::Corrupt),
        };
        if scope != expected {
            return Err(CursorError::Foreign);
        }
        Ok(Self {
            scope,
            after: FeedPosition {
                created_at_ms: word(10),
                post_id: PostId(word(18)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn home(u: i64) -> Scope {
        Scope::HomeFeed(UserId(u))
    }

    proptest! {
        #[test]
        fn every_cursor_round_trips(owner: i64, ms: i64, id: i64, kind in 0u8..6) {
            let scope = match kind {
                0 => home(owner),
                1 => Scope::Timeline(UserId(owner)),
                2 => Scope::Replies(PostId(owner)),
                3 => Scope::Followers(UserId(owner)),
                4 => Scope::Following(UserId(owner)),
                _ => Scope::Notifications(UserId(owner)),
            };
            let cursor = Cursor { scope, after: FeedPosition { created_at_ms: ms, post_id: PostId(id) } };
            prop_assert_eq!(Cursor::decode(&cursor.encode(), scope), Ok(cursor));
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,80}") {
            let _ = Cursor::decode(&text, home(1));
        }

        #[test]
        fn any_single_byte_edit_is_rejected(ms: i64, id: i64, at in 0usize..LEN, flip in 1u8..=255) {
            let cursor = Cursor { scope: home(5), after: FeedPosition { created_at_ms: ms, post_id: PostId(id) } };
            let mut bytes = URL_SAFE_NO_PAD.decode(cursor.encode()).unwrap();
            bytes[at] ^= flip;
            prop_assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(bytes), home(5)).is_err());
        }
    }

    #[test]
    fn rejects_truncated_foreign_and_garbage() {
        let cursor = Cursor {
            scope: home(5),
            after: FeedPosition {
                created_at_ms: 1,
                post_id: PostId(2),
            },
        };
        let text = cursor.encode();
        let bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        let shorter = URL_SAFE_NO_PAD.encode(&bytes[..LEN - 1]);
        assert_eq!(Cursor::decode(&shorter, home(5)), Err(CursorError::Corrupt));
        assert!(Cursor::decode(&text[..text.len() - 3], home(5)).is_err());
        assert_eq!(Cursor::decode(&text, home(6)), Err(CursorError::Foreign));
        for other in [
            Scope::Timeline(UserId(5)),
            Scope::Replies(PostId(5)),
            Scope::Followers(UserId(5)),
            Scope::Following(UserId(5)),
            Scope::Notifications(UserId(5)),
        ] {
            assert_eq!(Cursor::decode(&text, other), Err(CursorError::Foreign));
        }
        assert_eq!(Cursor::decode("!!!", home(5)), Err(CursorError::Encoding));
        assert_eq!(Cursor::decode("", home(5)), Err(CursorError::Corrupt));
    }
}
