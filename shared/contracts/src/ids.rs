//! Entity ids.
//!
//! Ids are 64-bit integers in storage and **strings** on the wire (JSON
//! numbers above 2^53 do not survive JavaScript clients). Deserialisation
//! accepts either form so that older producers keep working. With the
//! `sqlx` feature they bind and decode as `BIGINT` in queries.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Repr {
                    Str(String),
                    Num(i64),
                }
                match Repr::deserialize(d)? {
                    Repr::Num(n) => Ok(Self(n)),
                    Repr::Str(s) => s.parse().map(Self).map_err(serde::de::Error::custom),
                }
            }
        }
    };
}

id_type!(
    /// An account's id.
    UserId
);
id_type!(
    /// A post's id.
    PostId
);
id_type!(
    /// A notification's id: the id of what caused it (a post, a repost, a
    /// like, a follow; the write side draws all of them from the posts' id
    /// sequence), so a cause notifies each recipient once, however often
    /// its event arrives, and ids order notifications by time.
    NotificationId
);

/// A username as stored: 3-30 of `[a-z0-9_]`. Input is trimmed and
/// lower-cased first, so `Alice` is `alice` and uniqueness ignores case;
/// `None` for anything no account can be named.
pub fn normalize_username(raw: &str) -> Option<String> {
    let name = raw.trim().to_lowercase();
    let valid = (3..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_limited() {
        assert_eq!(
            normalize_username(" Alice_01 ").as_deref(),
            Some("alice_01")
        );
        assert_eq!(normalize_username("ab"), None);
        assert_eq!(normalize_username(&"a".repeat(31)), None);
        assert_eq!(normalize_username("héllo"), None);
        assert_eq!(normalize_username("a\u{0}b"), None);
    }

    #[test]
    fn ids_are_strings_on_the_wire_and_accept_numbers() {
        let id = PostId(9_007_199_254_740_993);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"9007199254740993\"");
        assert_eq!(
            serde_json::from_str::<PostId>("\"42\"").unwrap(),
            PostId(42)
        );
        assert_eq!(serde_json::from_str::<PostId>("42").unwrap(), PostId(42));
        assert!(serde_json::from_str::<PostId>("\"4x\"").is_err());
    }
}
