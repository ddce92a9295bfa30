//! Pure text conversion between Threema and Matrix: markup ↔ HTML, and splitting text that is
//! longer than a Threema message may be. No IO here.

mod html;
mod markup;
mod split;

/// Threema markup (`*bold*`, `_italic_`, `~strike~`, mentions) as Matrix `formatted_body` HTML.
/// `None` when the text has nothing to format (send `body` alone). `mention` names a Threema ID
/// for a pill: it returns (Matrix user ID, display name), or `None` to leave the ID as text.
pub fn threema_to_html(
    text: &str,
    mention: &dyn Fn(&str) -> Option<(String, String)>,
) -> Option<String> {
    markup::threema_to_html(text, mention)
}

/// A Matrix `formatted_body` (HTML) as Threema text with Threema markup.
pub fn html_to_threema(html: &str) -> String {
    html::html_to_threema(html)
}

/// Drops the reply fallback (`> <@user> …` lines and the blank line after them) that older
/// clients put in front of a reply's plain `body`. Only a body whose first line starts with
/// `> <` is touched; any other body comes back unchanged.
/// A reaction's key as people mean it: without the emoji presentation selector and skin tones
/// (Element sends `👍️`, others `👍` or `👍🏽`).
pub fn bare_emoji(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '\u{FE0F}' && !('\u{1F3FB}'..='\u{1F3FF}').contains(c))
        .collect()
}

pub fn strip_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> <") {
        return body;
    }
    let mut rest = body;
    // Quoted lines: "> …", or a bare ">" (some clients trim the space of an empty quoted line).
    while let Some(line) = first_line(rest)
        && (line.starts_with("> ") || line.trim_end_matches('\r') == ">")
    {
        rest = after_first_line(rest);
    }
    if let Some(line) = first_line(rest)
        && line.trim_end_matches('\r').is_empty()
    {
        rest = after_first_line(rest);
    }
    rest
}

/// The first line of `s` without its `\n`, `None` for an empty `s`.
fn first_line(s: &str) -> Option<&str> {
    (!s.is_empty()).then(|| s.split('\n').next().unwrap_or(s))
}

/// `s` after its first `\n`, or `""` when it has none.
fn after_first_line(s: &str) -> &str {
    s.split_once('\n').map_or("", |(_, rest)| rest)
}

/// Splits `text` into parts of at most `max_bytes` UTF-8 bytes each, preferring paragraph, line
/// and word boundaries, never cutting a character (nor, where it fits, a grapheme cluster).
/// Text that fits is one part, unchanged; empty text is one empty part (`vec![""]`), so callers
/// always have something to send. Whitespace at a split point is dropped and no part is empty
/// or only whitespace. `max_bytes` below 4 may not hold one character: a part then holds one
/// character (or grapheme) anyway, so that the split always progresses.
pub fn split_text(text: &str, max_bytes: usize) -> Vec<String> {
    split::split_text(text, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_reply_fallback() {
        let body = "> <@alice:example.org> Where are you?\n> second line\n\nOn my way";
        assert_eq!(strip_reply_fallback(body), "On my way");
    }

    #[test]
    fn strips_fallback_with_bare_quote_lines_and_crlf() {
        let body = "> <@a:b> one\r\n>\r\n> three\r\n\r\nreply\r\nmore";
        assert_eq!(strip_reply_fallback(body), "reply\r\nmore");
    }

    #[test]
    fn strips_only_one_blank_line() {
        let body = "> <@a:b> x\n\n\nreply";
        assert_eq!(strip_reply_fallback(body), "\nreply");
    }

    #[test]
    fn strips_fallback_without_blank_line() {
        assert_eq!(strip_reply_fallback("> <@a:b> x\nreply"), "reply");
    }

    #[test]
    fn fallback_only_becomes_empty() {
        assert_eq!(strip_reply_fallback("> <@a:b> x"), "");
    }

    #[test]
    fn leaves_other_quotes_alone() {
        for body in [
            "> just a quote\n\nreply",
            "hello\n> <@a:b> x",
            "",
            ">",
            " > <@a:b> x\n\nreply",
        ] {
            assert_eq!(strip_reply_fallback(body), body);
        }
    }

    #[test]
    fn strip_keeps_later_quotes() {
        let body = "> <@a:b> x\n\nreply\n> quoted later";
        assert_eq!(strip_reply_fallback(body), "reply\n> quoted later");
    }
}
