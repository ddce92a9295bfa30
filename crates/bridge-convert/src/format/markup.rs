//! Threema markup → Matrix HTML.
//!
//! Follows the rules of the Threema apps: a marker opens only at the start of a line or after
//! whitespace/punctuation and before a non-whitespace char; it closes only after a
//! non-whitespace char and before the end, whitespace or punctuation; spans nest, never cross
//! each other and never cross a line break; unmatched markers stay literal.

use html_escape::{encode_double_quoted_attribute, encode_text};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Bold,
    Italic,
    Strike,
}

impl Kind {
    fn of(c: char) -> Option<Self> {
        match c {
            '*' => Some(Self::Bold),
            '_' => Some(Self::Italic),
            '~' => Some(Self::Strike),
            _ => None,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Bold => "strong",
            Self::Italic => "em",
            Self::Strike => "del",
        }
    }
}

#[derive(Debug)]
enum Token<'a> {
    /// Literal text (one char, or a whole URL).
    Text(&'a str),
    Marker {
        kind: Kind,
        can_open: bool,
        can_close: bool,
    },
    /// The Threema ID of an `@[ID]` mention.
    Mention(&'a str),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Literal,
    Open,
    Close,
}

pub(super) fn threema_to_html(
    text: &str,
    mention: &dyn Fn(&str) -> Option<(String, String)>,
) -> Option<String> {
    let mut html = String::with_capacity(text.len() + 16);
    let mut formatted = false;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            html.push_str("<br>");
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        formatted |= render_line(line, mention, &mut html);
    }
    formatted.then_some(html)
}

/// Appends `line` as HTML; true if it carried any formatting.
fn render_line(
    line: &str,
    mention: &dyn Fn(&str) -> Option<(String, String)>,
    html: &mut String,
) -> bool {
    let tokens = tokenize(line);
    let roles = match_markers(&tokens);
    let mut formatted = roles.contains(&Role::Open);
    for (token, role) in tokens.iter().zip(&roles) {
        match (token, role) {
            (Token::Marker { kind, .. }, Role::Open) => {
                html.push('<');
                html.push_str(kind.tag());
                html.push('>');
            }
            (Token::Marker { kind, .. }, Role::Close) => {
                html.push_str("</");
                html.push_str(kind.tag());
                html.push('>');
            }
            (Token::Marker { kind, .. }, _) => html.push(match kind {
                Kind::Bold => '*',
                Kind::Italic => '_',
                Kind::Strike => '~',
            }),
            (Token::Text(t), _) => html.push_str(&encode_text(t)),
            (Token::Mention(id), _) => match mention(id) {
                Some((user_id, name)) => {
                    formatted = true;
                    html.push_str("<a href=\"https://matrix.to/#/");
                    html.push_str(&encode_double_quoted_attribute(&user_id));
                    html.push_str("\">");
                    html.push_str(&encode_text(&name));
                    html.push_str("</a>");
                }
                None => {
                    html.push_str("@[");
                    html.push_str(&encode_text(id));
                    html.push(']');
                }
            },
        }
    }
    formatted
}

/// Whether `c` lets a marker open after it or close before it. Any non-alphanumeric char
/// counts (like the apps' punctuation set, and emoji too), so `2*3*4` and `snake_case` stay.
fn is_boundary(c: Option<char>) -> bool {
    c.is_none_or(|c| !c.is_alphanumeric())
}

fn tokenize(line: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::with_capacity(line.len());
    // The chars before and after each token, for the boundary rules. A mention or URL counts
    // as its first/last char.
    let mut prev: Option<char> = None;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if let Some(id) = mention_at(rest) {
            tokens.push(Token::Mention(id));
            rest = &rest[id.len() + 3..];
            prev = Some(']');
            continue;
        }
        if let Some(len) = url_len_at(rest, prev) {
            tokens.push(Token::Text(&rest[..len]));
            prev = rest[..len].chars().next_back();
            rest = &rest[len..];
            continue;
        }
        let len = c.len_utf8();
        if let Some(kind) = Kind::of(c) {
            let next = rest[len..].chars().next();
            let prev_ws = prev.is_none_or(char::is_whitespace);
            tokens.push(Token::Marker {
                kind,
                can_open: is_boundary(prev) && next.is_some_and(|n| !n.is_whitespace()),
                can_close: !prev_ws && is_boundary(next),
            });
        } else {
            tokens.push(Token::Text(&rest[..len]));
        }
        prev = Some(c);
        rest = &rest[len..];
    }
    tokens
}

/// The ID of an `@[ID]` mention at the start of `s`: 8 chars of a Threema ID (upper-case
/// letters, digits, `*` for gateway IDs) or `@@@@@@@@` for "all".
fn mention_at(s: &str) -> Option<&str> {
    let id = s.strip_prefix("@[")?.get(..8)?;
    let valid = id == "@@@@@@@@"
        || id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'*');
    (valid && s[10..].starts_with(']')).then_some(id)
}

/// Length of a URL starting at `s` (after a boundary), whose `_`, `*` and `~` must stay
/// literal as the apps link it. Trailing punctuation is left out, so `*http://x.y*` is bold.
fn url_len_at(s: &str, prev: Option<char>) -> Option<usize> {
    if !is_boundary(prev) {
        return None;
    }
    let scheme = ["https://", "http://"].iter().find(|p| {
        s.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })?;
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    let url = s[..end].trim_end_matches(|c: char| "*_~.,:;!?)]}'\"".contains(c));
    (url.len() > scheme.len()).then_some(url.len())
}

/// Pairs markers with a stack; markers left unpaired (or inside a crossed span) stay literal.
/// A span needs content other than markers (`****` stays).
fn match_markers(tokens: &[Token<'_>]) -> Vec<Role> {
    let mut roles = vec![Role::Literal; tokens.len()];
    // content[i]: non-marker tokens before token i.
    let content: Vec<usize> = tokens
        .iter()
        .scan(0, |count, token| {
            let before = *count;
            *count += usize::from(!matches!(token, Token::Marker { .. }));
            Some(before)
        })
        .collect();
    let mut open: Vec<(Kind, usize)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Marker {
            kind,
            can_open,
            can_close,
        } = *token
        else {
            continue;
        };
        let opener = can_close
            .then(|| {
                open.iter()
                    .rposition(|&(k, at)| k == kind && content[at] < content[i])
            })
            .flatten();
        if let Some(pos) = opener {
            roles[open[pos].1] = Role::Open;
            roles[i] = Role::Close;
            // Openers after it would cross this span: they stay literal.
            open.truncate(pos);
        } else if can_open {
            open.push((kind, i));
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_mentions(_: &str) -> Option<(String, String)> {
        None
    }

    fn html(text: &str) -> Option<String> {
        threema_to_html(text, &no_mentions)
    }

    fn people(id: &str) -> Option<(String, String)> {
        match id {
            "ABCD1234" => Some(("@threema_abcd1234:example.org".into(), "Anna <A&B>".into())),
            "*GATEWAY" => Some(("@bot:example.org".into(), "Bot".into())),
            "@@@@@@@@" => Some(("@room:example.org".into(), "All".into())),
            _ => None,
        }
    }

    #[test]
    fn plain_text_has_no_html() {
        assert_eq!(html("hello world"), None);
        assert_eq!(html(""), None);
        assert_eq!(html("a < b & c\nnext line"), None);
    }

    #[test]
    fn simple_spans() {
        assert_eq!(html("*bold*").as_deref(), Some("<strong>bold</strong>"));
        assert_eq!(html("_italic_").as_deref(), Some("<em>italic</em>"));
        assert_eq!(html("~gone~").as_deref(), Some("<del>gone</del>"));
        assert_eq!(
            html("a *very bold* claim").as_deref(),
            Some("a <strong>very bold</strong> claim")
        );
    }

    #[test]
    fn nested_spans() {
        assert_eq!(
            html("*_x_*").as_deref(),
            Some("<strong><em>x</em></strong>")
        );
        assert_eq!(
            html("~*_all three_*~").as_deref(),
            Some("<del><strong><em>all three</em></strong></del>")
        );
        assert_eq!(
            html("*bold _and italic_ here*").as_deref(),
            Some("<strong>bold <em>and italic</em> here</strong>")
        );
    }

    #[test]
    fn crossing_spans_keep_the_outer_one() {
        assert_eq!(
            html("*a _b* c_").as_deref(),
            Some("<strong>a _b</strong> c_")
        );
    }

    #[test]
    fn punctuation_is_a_boundary() {
        assert_eq!(
            html("(*bold*), \"_it_\".").as_deref(),
            Some("(<strong>bold</strong>), \"<em>it</em>\".")
        );
        assert_eq!(html("*wow*!").as_deref(), Some("<strong>wow</strong>!"));
    }

    #[test]
    fn markers_inside_words_stay_literal() {
        for text in [
            "2*3*4",
            "snake_case_name",
            "a~b~c",
            "* not bold *",
            "*not bold *",
            "* not bold*",
            "**",
            "****",
            "_",
            "x * y",
            "*bold\nnext*",
        ] {
            assert_eq!(html(text), None, "{text:?}");
        }
    }

    #[test]
    fn unmatched_markers_stay_next_to_spans() {
        assert_eq!(
            html("*a *b*").as_deref(),
            Some("*a <strong>b</strong>"),
            "the nearest opener wins"
        );
        assert_eq!(html("5 * *x*").as_deref(), Some("5 * <strong>x</strong>"));
    }

    #[test]
    fn spans_do_not_cross_lines() {
        assert_eq!(
            html("*one*\n*two\nthree*").as_deref(),
            Some("<strong>one</strong><br>*two<br>three*")
        );
        assert_eq!(
            html("*a*\r\nb").as_deref(),
            Some("<strong>a</strong><br>b"),
            "CRLF is one line break"
        );
    }

    #[test]
    fn escapes_text() {
        assert_eq!(
            html("*<b>* & \"q\"").as_deref(),
            Some("<strong>&lt;b&gt;</strong> &amp; \"q\"")
        );
    }

    #[test]
    fn urls_keep_their_markers() {
        assert_eq!(html("see https://x.org/_a_/b~c~"), None);
        assert_eq!(
            html("*https://x.org/a_b_*").as_deref(),
            Some("<strong>https://x.org/a_b_</strong>")
        );
    }

    #[test]
    fn emoji_are_boundaries() {
        assert_eq!(html("👍*yes*").as_deref(), Some("👍<strong>yes</strong>"));
    }

    #[test]
    fn non_ascii_words() {
        assert_eq!(html("ä*ö*ü"), None);
        assert_eq!(html("*Grüße*").as_deref(), Some("<strong>Grüße</strong>"));
    }

    #[test]
    fn mentions_become_pills() {
        assert_eq!(
            threema_to_html("hi @[ABCD1234]!", &people).as_deref(),
            Some(
                "hi <a href=\"https://matrix.to/#/@threema_abcd1234:example.org\">\
                 Anna &lt;A&amp;B&gt;</a>!"
            )
        );
        assert_eq!(
            threema_to_html("@[*GATEWAY] @[@@@@@@@@]", &people).as_deref(),
            Some(
                "<a href=\"https://matrix.to/#/@bot:example.org\">Bot</a> \
                 <a href=\"https://matrix.to/#/@room:example.org\">All</a>"
            )
        );
    }

    #[test]
    fn unknown_mentions_stay_text() {
        assert_eq!(threema_to_html("hi @[ZZZZ9999]", &people), None);
        assert_eq!(
            threema_to_html("*@[ZZZZ9999]*", &people).as_deref(),
            Some("<strong>@[ZZZZ9999]</strong>")
        );
    }

    #[test]
    fn mention_lookalikes_stay_text() {
        let called = std::cell::Cell::new(false);
        let spy = |_: &str| {
            called.set(true);
            None
        };
        for text in [
            "@[abcd1234]",
            "@[ABCD123]",
            "@[ABCD12345]",
            "@[ABCD1234",
            "@ABCD1234",
        ] {
            assert_eq!(threema_to_html(text, &spy), None);
        }
        assert!(!called.get());
    }

    #[test]
    fn mention_inside_bold() {
        assert_eq!(
            threema_to_html("*@[*GATEWAY]*", &people).as_deref(),
            Some("<strong><a href=\"https://matrix.to/#/@bot:example.org\">Bot</a></strong>")
        );
    }

    #[test]
    fn pill_attribute_is_escaped() {
        let odd = |_: &str| Some(("@a\"b:x".to_owned(), "n".to_owned()));
        assert_eq!(
            threema_to_html("@[ABCD1234]", &odd).as_deref(),
            Some("<a href=\"https://matrix.to/#/@a&quot;b:x\">n</a>")
        );
    }

    #[test]
    fn newlines_become_br_when_formatted() {
        assert_eq!(
            html("line\n\n_it_").as_deref(),
            Some("line<br><br><em>it</em>")
        );
    }

    /// The HTML's text (tags dropped, `<br>` as a newline) without its markers.
    fn text_of(html: &str) -> String {
        let mut text = String::new();
        for (i, chunk) in html.replace("<br>", "\n").split('<').enumerate() {
            let chunk = if i == 0 {
                chunk
            } else {
                chunk.split_once('>').unwrap().1
            };
            text.push_str(chunk);
        }
        html_escape::decode_html_entities(&text).into_owned()
    }

    proptest::proptest! {
        #[test]
        fn keeps_all_text(text in "[a-zA-Z0-9 *_~.,!<&\"\n@\\[\\]]{0,60}") {
            if let Some(html) = threema_to_html(&text, &no_mentions) {
                // Markers that became tags are gone from the text, everything else is there.
                let mut expected = text.clone();
                let mut got = text_of(&html);
                expected.retain(|c| !"*_~".contains(c));
                got.retain(|c| !"*_~".contains(c));
                proptest::prop_assert_eq!(got, expected);
                proptest::prop_assert_eq!(html.matches("<strong>").count(), html.matches("</strong>").count());
            }
        }
    }
}
