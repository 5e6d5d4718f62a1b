//! OAuth scopes an access token carries (Mastodon's: `read`, `write`,
//! `follow`, `push`, `profile` and the `read:…`/`write:…` refinements).
//!
//! A token with no `scope` claim (the native API's session tokens) may do
//! everything its account may. A scoped token may call a route only if it
//! holds the route's scope or the broader one that contains it (`write`
//! holds `write:statuses`; the legacy `follow` holds the follow scopes).

/// Every scope a token may name, in bit order.
pub const KNOWN: &[&str] = &[
    "read",
    "write",
    "follow",
    "push",
    "profile",
    "read:accounts",
    "read:blocks",
    "read:bookmarks",
    "read:favourites",
    "read:filters",
    "read:follows",
    "read:lists",
    "read:mutes",
    "read:notifications",
    "read:search",
    "read:statuses",
    "write:accounts",
    "write:blocks",
    "write:bookmarks",
    "write:conversations",
    "write:favourites",
    "write:filters",
    "write:follows",
    "write:lists",
    "write:media",
    "write:mutes",
    "write:notifications",
    "write:reports",
    "write:statuses",
];

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes(u64);

impl Scopes {
    /// Everything: a token without a `scope` claim.
    pub const ALL: Self = Self(u64::MAX);

    /// The scopes of a space-separated list; `Err` names an unknown one.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut bits = 0u64;
        for scope in list.split_whitespace() {
            let index = KNOWN
                .iter()
                .position(|k| *k == scope)
                .ok_or_else(|| scope.to_owned())?;
            bits |= 1 << index;
        }
        Ok(Self(bits))
    }

    fn has(self, scope: &str) -> bool {
        KNOWN
            .iter()
            .position(|k| *k == scope)
            .is_some_and(|index| self.0 & (1 << index) != 0)
    }

    /// Whether the set holds `scope` itself or a broader scope containing it.
    pub fn allows(self, scope: &str) -> bool {
        if self.has(scope) {
            return true;
        }
        let Some((top, _)) = scope.split_once(':') else {
            return false;
        };
        let legacy_follow = matches!(
            scope,
            "read:follows"
                | "write:follows"
                | "read:blocks"
                | "write:blocks"
                | "read:mutes"
                | "write:mutes"
        ) && self.has("follow");
        let profile = scope == "read:accounts" && self.has("profile");
        self.has(top) || legacy_follow || profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broader_scopes_hold_narrower_ones() {
        let s = Scopes::parse("read write:statuses follow").unwrap();
        assert!(s.allows("read:notifications"));
        assert!(s.allows("write:statuses"));
        assert!(s.allows("write:follows"));
        assert!(!s.allows("write:favourites"));
        assert!(!s.allows("write"));
        assert!(Scopes::ALL.allows("write:statuses"));
        assert_eq!(Scopes::parse("read admin:read").unwrap_err(), "admin:read");
        assert!(KNOWN.len() <= 64);
    }
}
