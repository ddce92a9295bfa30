//! Pure text conversion between Threema and Matrix: markup ↔ HTML, and splitting text that is
//! longer than a Threema message may be. No IO here.

/// Threema markup (`*bold*`, `_italic_`, `~strike~`, mentions) as Matrix `formatted_body` HTML.
/// `None` when the text has nothing to format (send `body` alone). `mention` names a Threema ID
/// for a pill: it returns (Matrix user ID, display name), or `None` to leave the ID as text.
pub fn threema_to_html(
    text: &str,
    mention: &dyn Fn(&str) -> Option<(String, String)>,
) -> Option<String> {
    let _ = (text, mention);
    None
}

/// A Matrix `formatted_body` (HTML) as Threema text with Threema markup.
pub fn html_to_threema(html: &str) -> String {
    html.to_owned()
}

/// Drops the reply fallback (`> <@user> …` lines and the blank line after them) that older
/// clients put in front of a reply's plain `body`.
pub fn strip_reply_fallback(body: &str) -> &str {
    body
}

/// Splits `text` into parts of at most `max_bytes` UTF-8 bytes each, preferring paragraph, line
/// and word boundaries, never cutting a character. Text that fits is one part.
pub fn split_text(text: &str, max_bytes: usize) -> Vec<String> {
    let _ = max_bytes;
    vec![text.to_owned()]
}
