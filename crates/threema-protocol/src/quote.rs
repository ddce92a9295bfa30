//! PURE: Threema quotes (v2). A reply is a text message that starts with a header naming the
//! quoted message: `> quote #<16 hex message id>`, a blank line, then the reply text.

use std::sync::LazyLock;

use regex::Regex;

static QUOTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)\A> quote #([0-9a-f]{16})\r?\n\r?\n(.*)\z")
        .expect("the quote pattern compiles")
});

/// The quoted message id (16 hex) and the reply text, when `text` is a quote.
pub fn parse(text: &str) -> Option<(String, &str)> {
    let captures = QUOTE.captures(text)?;
    let reply = captures
        .get(2)
        .expect("the pattern has two groups")
        .as_str();
    Some((captures[1].to_owned(), reply))
}

/// `text` as a reply to the message `message_id_hex` (16 hex, as in the message table).
pub fn encode(message_id_hex: &str, text: &str) -> String {
    format!("> quote #{}\n\n{text}", message_id_hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes() {
        assert_eq!(
            parse("> quote #0123456789abcdef\n\nOn my way"),
            Some(("0123456789abcdef".to_owned(), "On my way"))
        );
        assert_eq!(
            parse("> quote #0123456789abcdef\r\n\r\nLine 1\nLine 2\n"),
            Some(("0123456789abcdef".to_owned(), "Line 1\nLine 2\n"))
        );
        assert_eq!(
            parse("> quote #0123456789abcdef\n\n"),
            Some(("0123456789abcdef".to_owned(), ""))
        );
    }

    #[test]
    fn other_text_is_not_a_quote() {
        for text in [
            "On my way",
            "> quote #0123456789abcdef\nno blank line",
            "> quote #0123456789ABCDEF\n\nupper case id",
            "> quote #0123456789abcde\n\nshort id",
            " > quote #0123456789abcdef\n\nleading space",
            "> just a markdown quote\n\ntext",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn encode_round_trips() {
        let text = encode("0123456789ABCDEF", "Yes\n\nsee you");
        assert_eq!(text, "> quote #0123456789abcdef\n\nYes\n\nsee you");
        assert_eq!(
            parse(&text),
            Some(("0123456789abcdef".to_owned(), "Yes\n\nsee you"))
        );
    }
}
