//! Consistency tokens: read-your-writes across the two hosts.
//!
//! Every successful write returns a token naming the event it produced.
//! The projector marks each event it has processed; a read that sends the
//! token back waits (bounded) until that mark exists. A write that changed
//! nothing returns the token of no event, which every read already satisfies.
//! Wire form: `v1.` followed by the event id as 32 hex digits.

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsistencyToken(Uuid);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Consistency-Token is not one this service issued")]
pub struct InvalidToken;

impl ConsistencyToken {
    pub const HEADER: &'static str = "Consistency-Token";

    /// The token of the event `id`.
    pub fn of(id: Uuid) -> Self {
        Self(id)
    }

    /// The token of a write that produced no event.
    pub fn nothing() -> Self {
        Self(Uuid::nil())
    }

    /// The event to wait for, if any.
    pub fn event(&self) -> Option<Uuid> {
        (!self.0.is_nil()).then_some(self.0)
    }

    pub fn encode(&self) -> String {
        format!("v1.{}", self.0.simple())
    }

    pub fn decode(text: &str) -> Result<Self, InvalidToken> {
        let hex = text.strip_prefix("v1.").ok_or(InvalidToken)?;
        if hex.len() != 32 {
            return Err(InvalidToken);
        }
        Uuid::try_parse(hex).map(Self).map_err(|_| InvalidToken)
    }
}

/// Read-your-writes for clients that send no token back (Mastodon's):
/// after such a command commits, the write host adds its event id to a
/// short-lived sorted set per account in the read cluster's Redis, scored
/// by milliseconds; before answering that account, the read host waits
/// (bounded) until every event in it was applied. The read host still
/// never asks the write database.
pub mod recent_writes {
    use crate::ids::UserId;
    use uuid::Uuid;

    /// How long a write holds its author's reads back, at most: longer
    /// than any read waits.
    pub const WINDOW_MS: i64 = 60_000;

    /// The set of `user`'s recent events, under the deployment's prefix.
    pub fn key(prefix: &str, user: UserId) -> String {
        format!("{prefix}recent_writes:{user}")
    }

    /// A member of that set: the event id as 32 hex digits.
    pub fn member(event: Uuid) -> String {
        event.simple().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_foreign_text() {
        let token = ConsistencyToken::of(Uuid::now_v7());
        assert_eq!(ConsistencyToken::decode(&token.encode()), Ok(token));
        assert_eq!(ConsistencyToken::nothing().event(), None);
        for bad in [
            "",
            "v1.",
            "v2.0123456789abcdef0123456789abcdef",
            "v1.xyz",
            "v1.0123456789abcdef0123456789abcdeg",
        ] {
            assert_eq!(ConsistencyToken::decode(bad), Err(InvalidToken), "{bad}");
        }
    }
}
