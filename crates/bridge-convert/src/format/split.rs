//! Splitting long text into Threema-sized parts.

use unicode_segmentation::UnicodeSegmentation;

pub(super) fn split_text(text: &str, max_bytes: usize) -> Vec<String> {
    if text.len() <= max_bytes {
        return vec![text.to_owned()];
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let at = split_point(rest, max_bytes);
        // Empty only when the whole window was whitespace: dropped like any split whitespace.
        let part = rest[..at].trim_end();
        if !part.is_empty() {
            parts.push(part.to_owned());
        }
        rest = rest[at..].trim_start();
    }
    if !rest.is_empty() {
        parts.push(rest.to_owned());
    }
    if parts.is_empty() {
        // Only whitespace, longer than a part: callers still want one (empty) part.
        parts.push(String::new());
    }
    parts
}

/// Where to cut `text` (longer than `max`): a byte index in `1..=max` on a char boundary,
/// unless even the first char or grapheme is longer than `max`.
fn split_point(text: &str, max: usize) -> usize {
    let window = floor_char_boundary(text, max);
    // One char more, so that whitespace right after the window counts as a split point.
    let search_end = text[window..]
        .chars()
        .next()
        .map_or(window, |c| window + c.len_utf8());
    let search = &text[..search_end];
    // A split must leave something before it; breaks only count in the window's second half,
    // so that an early heading does not become a message of its own.
    let useful = |at: &usize| *at <= window && !text[..*at].trim_end().is_empty();
    let late = |at: &usize| *at >= window / 2;
    if let Some(at) = search.rfind("\n\n").filter(useful).filter(late) {
        return at;
    }
    if let Some(at) = search.rfind('\n').filter(useful).filter(late) {
        return at;
    }
    if let Some(at) = search.rfind(char::is_whitespace).filter(useful) {
        return at;
    }
    let grapheme = text
        .grapheme_indices(true)
        .map(|(at, _)| at)
        .take_while(|&at| at <= window)
        .filter(|&at| at > 0)
        .last();
    match grapheme {
        Some(at) => at,
        None if window > 0 => window,
        None => text.chars().next().map_or(text.len(), char::len_utf8),
    }
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::split_text;
    use proptest::prelude::*;

    fn split(text: &str, max: usize) -> Vec<String> {
        split_text(text, max)
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split("hello", 10), ["hello"]);
        assert_eq!(split("exactly10!", 10), ["exactly10!"]);
        assert_eq!(split("  keep  ", 10), ["  keep  "]);
    }

    #[test]
    fn empty_text_is_one_empty_part() {
        assert_eq!(split("", 3500), [""]);
        assert_eq!(split("     ", 2), [""]);
    }

    #[test]
    fn prefers_paragraphs() {
        let text = "first para here\nsecond line\n\nnext para";
        assert_eq!(
            split(text, 30),
            ["first para here\nsecond line", "next para"]
        );
    }

    #[test]
    fn then_lines() {
        assert_eq!(
            split("aaaa bbbb\ncccc dddd", 15),
            ["aaaa bbbb", "cccc dddd"]
        );
        assert_eq!(
            split("aaaa bbbb\r\ncccc dddd", 15),
            ["aaaa bbbb", "cccc dddd"]
        );
    }

    #[test]
    fn then_words() {
        assert_eq!(
            split("the quick brown fox jumps", 10),
            ["the quick", "brown fox", "jumps"]
        );
    }

    #[test]
    fn early_breaks_do_not_make_tiny_parts() {
        assert_eq!(
            split("T\n\naaa bbb ccc ddd eee", 12),
            ["T\n\naaa bbb", "ccc ddd eee"]
        );
    }

    #[test]
    fn whitespace_right_after_the_window_is_used() {
        assert_eq!(split("aaaaa bbbbb", 5), ["aaaaa", "bbbbb"]);
        assert_eq!(split("aaaaa\n\nbbbbb", 5), ["aaaaa", "bbbbb"]);
    }

    #[test]
    fn hard_split_respects_chars() {
        assert_eq!(split("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(split("ääääää", 5), ["ää", "ää", "ää"]);
        assert_eq!(split("€€€", 4), ["€", "€", "€"]);
    }

    #[test]
    fn hard_split_respects_graphemes() {
        let family = "👨\u{200d}👩\u{200d}👧"; // 18 bytes, one grapheme
        let text = family.repeat(3);
        assert_eq!(split(&text, 40), [family.repeat(2), family.to_owned()]);
        let accented = "e\u{301}".repeat(4); // 3 bytes each
        assert_eq!(
            split(&accented, 7),
            ["e\u{301}e\u{301}", "e\u{301}e\u{301}"]
        );
    }

    #[test]
    fn oversized_grapheme_falls_back_to_chars() {
        let family = "👨\u{200d}👩\u{200d}👧";
        let parts = split(family, 8);
        assert!(parts.iter().all(|p| p.len() <= 8), "{parts:?}");
        assert_eq!(parts.concat(), family);
    }

    #[test]
    fn tiny_max_still_progresses() {
        assert_eq!(split("😀😀", 2), ["😀", "😀"]);
    }

    #[test]
    fn leading_whitespace_window_is_dropped() {
        assert_eq!(split(&format!("{}word", " ".repeat(10)), 5), ["word"]);
    }

    #[test]
    fn threema_limit() {
        let paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(20);
        let text = [paragraph.trim_end(); 8].join("\n\n");
        let parts = split(&text, 3500);
        assert!(parts.len() >= 3);
        for part in &parts {
            assert!(part.len() <= 3500);
            assert!(
                part.ends_with('.'),
                "split at a paragraph: {:?}",
                &part[part.len() - 10..]
            );
        }
    }

    /// Checks the invariants: sizes, no empty parts, text reproduced up to split whitespace.
    fn check(text: &str, max: usize) -> Result<(), TestCaseError> {
        let parts = split_text(text, max);
        if text.len() <= max {
            prop_assert_eq!(parts, vec![text.to_owned()]);
            return Ok(());
        }
        let mut rest = text;
        for part in &parts {
            prop_assert!(part.len() <= max, "part too long: {:?}", part);
            prop_assert!(!part.trim().is_empty() || parts.len() == 1);
            let skipped = rest.len() - rest.trim_start().len();
            // The first part may keep leading whitespace unless a whole window of it went.
            let start = if rest.starts_with(part.as_str()) {
                0
            } else {
                skipped
            };
            prop_assert!(
                rest[start..].starts_with(part.as_str()),
                "{:?} not next in {:?}",
                part,
                rest
            );
            rest = &rest[start + part.len()..];
        }
        prop_assert!(rest.trim().is_empty(), "lost text: {:?}", rest);
        Ok(())
    }

    proptest! {
        #[test]
        fn split_invariants(text in "(\\PC|[ \n\t]){0,200}", max in 4usize..60) {
            check(&text, max)?;
        }

        #[test]
        fn split_invariants_wordy(
            text in "([a-zäöü😀]{1,12}( |\n|\n\n|  ))*",
            max in 4usize..40,
        ) {
            check(&text, max)?;
        }
    }
}
