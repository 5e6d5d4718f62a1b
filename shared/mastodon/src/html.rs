//! Post text as Mastodon's HTML `content`.
//!
//! Clients render `content` as HTML, so the text is escaped; blank lines
//! separate paragraphs (`<p>`), single newlines become `<br />`, `@name`
//! mentions link to the account's page and `http(s)://` addresses link to
//! themselves, marked up as Mastodon marks them so clients style them.

/// Escapes `text` for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as HTML; `origin` (like `https://social.example`) roots the
/// mention links.
pub fn content(text: &str, origin: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let normalized = text.replace("\r\n", "\n");
    for paragraph in normalized.split("\n\n").filter(|p| !p.trim().is_empty()) {
        out.push_str("<p>");
        for (i, line) in paragraph.trim_matches('\n').split('\n').enumerate() {
            if i > 0 {
                out.push_str("<br />");
            }
            line_html(line, origin, &mut out);
        }
        out.push_str("</p>");
    }
    out
}

/// Plain text as a bio's HTML: escaped, newlines as `<br />`.
pub fn note(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    format!("<p>{}</p>", escape(text).replace('\n', "<br />"))
}

fn line_html(line: &str, origin: &str, out: &mut String) {
    let mut words = line.split(' ').peekable();
    while let Some(word) = words.next() {
        word_html(word, origin, out);
        if words.peek().is_some() {
            out.push(' ');
        }
    }
}

fn word_html(word: &str, origin: &str, out: &mut String) {
    if let Some(name) = mention(word) {
        let rest = &word[1 + name.len()..];
        out.push_str(&format!(
            "<span class=\"h-card\"><a href=\"{origin}/@{name}\" class=\"u-url mention\">@<span>{name}</span></a></span>"
        ));
        out.push_str(&escape(rest));
    } else if word.starts_with("https://") || word.starts_with("http://") {
        let url = escape(word);
        out.push_str(&format!(
            "<a href=\"{url}\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">{url}</a>"
        ));
    } else {
        out.push_str(&escape(word));
    }
}

/// The username an `@name` word starts with, if it is one.
fn mention(word: &str) -> Option<&str> {
    let rest = word.strip_prefix('@')?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end >= 1).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_lines_and_escaping() {
        assert_eq!(
            content("a <b> & \"c\"\nline two\n\nsecond", "https://s"),
            "<p>a &lt;b&gt; &amp; &quot;c&quot;<br />line two</p><p>second</p>"
        );
    }

    #[test]
    fn mentions_and_links() {
        assert_eq!(
            content("hi @bob, see https://x.y/?a=1&b", "https://s"),
            "<p>hi <span class=\"h-card\"><a href=\"https://s/@bob\" class=\"u-url mention\">@<span>bob</span></a></span>, \
             see <a href=\"https://x.y/?a=1&amp;b\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">https://x.y/?a=1&amp;b</a></p>"
        );
        assert_eq!(content("@ alone", "https://s"), "<p>@ alone</p>");
    }

    #[test]
    fn notes_keep_their_lines() {
        assert_eq!(note(""), "");
        assert_eq!(note("a\n<b>"), "<p>a<br />&lt;b&gt;</p>");
    }
}
