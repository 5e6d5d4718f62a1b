//! `@username` mentions in a post's text.
//!
//! The rule follows Mastodon's: an `@` starts a mention unless a word
//! character, `/` or `=` comes right before it (so e-mail addresses and
//! URLs are not mentions), and the name is the word characters after it.
//! A name followed by `@domain` names an account on another server, which
//! this service does not have, so it is not a mention here.

use crate::ids::normalize_username;

/// Distinct names a text may mention, considered at most: a 280-character
/// post holds at most 70 `@abc ` names, so this only bounds the lookup.
pub const MAX_CANDIDATES: usize = 70;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The usernames `text` mentions, normalised, each once, in the order they
/// first appear, at most [`MAX_CANDIDATES`]. Whether an account has each
/// name is for the caller to find out.
pub fn mentioned_usernames(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let starts = c == '@' && previous.is_none_or(|p| !is_word(p) && p != '/' && p != '=');
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[at + 1..];
        let len = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(len);
        let remote = after.starts_with('@') && after[1..].starts_with(is_word);
        if let Some(name) = normalize_username(name).filter(|_| !remote && !name.is_empty())
            && !names.contains(&name)
        {
            names.push(name);
            if names.len() == MAX_CANDIDATES {
                break;
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_after_an_at_sign_once_each_in_order() {
        assert_eq!(
            mentioned_usernames("@Bob hi @alice, and @bob again (@carol_1)!"),
            ["bob", "alice", "carol_1"]
        );
        assert_eq!(mentioned_usernames("line\n@dave: yes"), ["dave"]);
    }

    #[test]
    fn ignores_addresses_urls_remote_accounts_and_bad_names() {
        assert!(mentioned_usernames("mail bob@example.com").is_empty());
        assert!(mentioned_usernames("see https://x.org/@alice or a=@bob").is_empty());
        assert!(mentioned_usernames("@alice@other.server hello").is_empty());
        assert!(mentioned_usernames("@ab @ @@ @名前").is_empty());
        assert!(mentioned_usernames(&format!("@{}", "a".repeat(31))).is_empty());
    }

    #[test]
    fn a_trailing_at_sign_names_nothing() {
        assert_eq!(mentioned_usernames("@alice@"), ["alice"]);
        assert!(mentioned_usernames("@").is_empty());
    }

    #[test]
    fn bounds_the_candidates() {
        let text: String = (0..100).map(|i| format!("@u{i:03} ")).collect();
        assert_eq!(mentioned_usernames(&text).len(), MAX_CANDIDATES);
    }
}
