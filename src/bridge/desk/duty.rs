//! Who works when, pure: `inbox.shifts` name stretches of the day, a person's
//! `inbox.shift_attribute` in the directory names theirs, and `inbox.off_duty` says when drivers
//! without one are off. A dispatcher's message to a driver off duty waits for the start of
//! their shift (works councils ask for it; it also keeps the phone quiet while driving at
//! night); a dispatcher outside their shift is not who the desk room's alerts mention.

use ruma::events::room::message::{MessageType, Relation, RoomMessageEventContent};

use crate::{
    config::Duty,
    zone::{Window, Zone},
};

/// The shift a directory value names (its name in any case), if any.
fn shift<'d>(duty: &'d Duty, value: &str) -> Option<&'d Window> {
    let value = value.trim();
    (duty.shifts.iter())
        .find(|(name, _)| !value.is_empty() && name.to_lowercase() == value.to_lowercase())
        .map(|(_, window)| window)
}

/// Whether anything is ever held: a shift attribute to read or an off-duty stretch.
pub fn holds_any(duty: &Duty) -> bool {
    duty.off_duty.is_some() || duty.shift_attribute.is_some()
}

/// Until when a message written at `now` (Unix ms) to a driver whose shift attribute says
/// `value` waits: the start of their shift when they are outside it, the end of
/// `inbox.off_duty` when they have no shift and are within it; `None`: it goes now.
pub fn driver_held_until(duty: &Duty, value: &str, zone: &Zone, now: i64) -> Option<i64> {
    match shift(duty, value) {
        Some(window) => match window.ends_after(zone, now) {
            Some(_) => None,
            None => window.next_start(zone, now),
        },
        None => duty.off_duty.and_then(|w| w.ends_after(zone, now)),
    }
}

/// Whether a dispatcher whose shift attribute says `value` works at `now` by the schedule:
/// within their shift, or always without one (`off-shift` in the management room is apart).
pub fn on_shift(duty: &Duty, value: &str, zone: &Zone, now: i64) -> bool {
    shift(duty, value).is_none_or(|w| w.ends_after(zone, now).is_some())
}

/// What `!urgent` at the start of a dispatcher's message in a portal asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgent {
    /// No `!urgent`: off duty, it waits.
    No,
    /// `!urgent …`: this message goes now (the word is taken off).
    Message,
    /// `!urgent` and nothing else: what is held goes now (the message it answers, or all).
    Release,
}

const URGENT: &str = "!urgent";

/// Reads `!urgent` off the start of a text message (after a reply's quote) and takes it off the
/// body and the formatted body. An edit says nothing, but the word is taken off what replaces
/// the text too (Element repeats it there).
pub fn take_urgent(content: &mut RoomMessageEventContent) -> Urgent {
    if let Some(Relation::Replacement(replacement)) = &mut content.relates_to {
        take_off(&mut replacement.new_content.msgtype);
        return Urgent::No;
    }
    take_off(&mut content.msgtype)
}

fn take_off(msgtype: &mut MessageType) -> Urgent {
    let (body, formatted) = match msgtype {
        MessageType::Text(m) => (&mut m.body, &mut m.formatted),
        MessageType::Notice(m) => (&mut m.body, &mut m.formatted),
        MessageType::Emote(m) => (&mut m.body, &mut m.formatted),
        _ => return Urgent::No,
    };
    let quote = body.len() - bridge_convert::format::strip_reply_fallback(body).len();
    let Some(rest) = after_urgent(&body[quote..], char::is_whitespace) else {
        return Urgent::No;
    };
    if rest.is_empty() {
        return Urgent::Release;
    }
    *body = format!("{}{rest}", &body[..quote]);
    if let Some(html) = formatted.as_mut().map(|f| &mut f.body) {
        // After Element's `<mx-reply>` quote, past the opening tags (`<p>`, `<strong>`).
        let start = html
            .find("</mx-reply>")
            .map_or(0, |i| i + "</mx-reply>".len());
        let mut at = start;
        loop {
            let text = html[at..].trim_start();
            at = html.len() - text.len();
            match text.strip_prefix('<').and_then(|tag| tag.find('>')) {
                Some(end) => at += end + 2,
                None => break,
            }
        }
        // The word ends at a space, a tag (`<br />`) or an entity (`&nbsp;`).
        let ends = |c: char| c.is_whitespace() || c == '<' || c == '&';
        match after_urgent(&html[at..], ends) {
            Some(after) => {
                let after = after.strip_prefix("&nbsp;").unwrap_or(after);
                *html = format!("{}{after}", &html[..at]);
            }
            // Markup the word cannot be found in: the plain text goes, without it.
            None => *formatted = None,
        }
    }
    Urgent::Message
}

/// What follows `!urgent` (in any case) and the spaces after it; `None` if `text` does not
/// start with the word, ended by a character `ends` accepts or by the end.
fn after_urgent(text: &str, ends: impl Fn(char) -> bool) -> Option<&str> {
    let head = text.get(..URGENT.len())?;
    let rest = &text[URGENT.len()..];
    (head.eq_ignore_ascii_case(URGENT) && rest.chars().next().is_none_or(ends))
        .then(|| rest.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urgent(body: &str, html: Option<&str>) -> (Urgent, String, Option<String>) {
        let mut content = match html {
            Some(html) => RoomMessageEventContent::text_html(body, html),
            None => RoomMessageEventContent::text_plain(body),
        };
        let said = take_urgent(&mut content);
        let MessageType::Text(text) = content.msgtype else {
            unreachable!()
        };
        (said, text.body, text.formatted.map(|f| f.body))
    }

    #[test]
    fn urgent_is_read_off_the_start_of_a_message() {
        assert_eq!(
            urgent("!urgent Bitte sofort anrufen", None),
            (Urgent::Message, "Bitte sofort anrufen".into(), None)
        );
        assert_eq!(
            urgent("!URGENT  Tor 3", Some("<p>!URGENT  <b>Tor 3</b></p>")),
            (
                Urgent::Message,
                "Tor 3".into(),
                Some("<p><b>Tor 3</b></p>".into())
            )
        );
        // After a reply's quote.
        let (said, body, html) = urgent(
            "> <@a:x> Wann?\n\n!urgent Jetzt",
            Some("<mx-reply><blockquote>Wann?</blockquote></mx-reply>!urgent Jetzt"),
        );
        assert_eq!(said, Urgent::Message);
        assert_eq!(body, "> <@a:x> Wann?\n\nJetzt");
        assert_eq!(
            html.unwrap(),
            "<mx-reply><blockquote>Wann?</blockquote></mx-reply>Jetzt"
        );
        // A line break, bold, a non-breaking space in the markup.
        for (html, left) in [
            ("!urgent<br />Tor 3", "<br />Tor 3"),
            ("<strong>!urgent</strong> Tor 3", "<strong></strong> Tor 3"),
            ("<p>!urgent&nbsp;Tor 3</p>", "<p>Tor 3</p>"),
        ] {
            let (said, body, stripped) = urgent("!urgent\nTor 3", Some(html));
            assert_eq!((said, body.as_str()), (Urgent::Message, "Tor 3"));
            assert_eq!(stripped.as_deref(), Some(left), "{html}");
        }
        // Markup it cannot be found in: the plain text goes.
        let (said, _, html) = urgent("!urgent Tor 3", Some("<em>Dringend</em>: Tor 3"));
        assert_eq!((said, html), (Urgent::Message, None));
        // An edit (Element repeats the word in what replaces the text): taken off, nothing said.
        let mut edit = RoomMessageEventContent::text_plain("* !urgent Tor 4");
        edit.relates_to = Some(Relation::Replacement(
            ruma::events::relation::Replacement::new(
                "$m".try_into().unwrap(),
                RoomMessageEventContent::text_plain("!urgent Tor 4").into(),
            ),
        ));
        assert_eq!(take_urgent(&mut edit), Urgent::No);
        let Some(Relation::Replacement(replaced)) = edit.relates_to else {
            unreachable!()
        };
        assert_eq!(replaced.new_content.msgtype.body(), "Tor 4");
        assert_eq!(urgent("!urgent", None).0, Urgent::Release);
        assert_eq!(urgent("!Urgent  ", None).0, Urgent::Release);
        for not in ["!urgently", "urgent: Tor 3", "Bitte !urgent", ""] {
            assert_eq!(urgent(not, None), (Urgent::No, not.into(), None), "{not}");
        }
        // A caption is not read (`!urgent` alone, sent after it, sends the picture now).
        let picture = ruma::events::room::message::ImageMessageEventContent::plain(
            "!urgent".into(),
            "mxc://x/y".into(),
        );
        let mut image = RoomMessageEventContent::new(MessageType::Image(picture));
        assert_eq!(take_urgent(&mut image), Urgent::No);
    }

    #[test]
    fn a_driver_off_duty_gets_messages_at_the_start_of_their_shift() {
        let berlin = Zone::named("Europe/Berlin").unwrap();
        let duty = Duty {
            shifts: vec![
                ("early".into(), Window::parse("06:00-14:00").unwrap()),
                ("late".into(), Window::parse("14:00-22:00").unwrap()),
            ],
            shift_attribute: Some("shift".into()),
            off_duty: Window::parse("20:00-05:00"),
        };
        let hour = 3_600_000;
        let six = 1_700_024_400_000; // 2023-11-15 06:00 CET
        let evening = six - 8 * hour; // 22:00 the day before
        let held = |value: &str, at: i64| driver_held_until(&duty, value, &berlin, at);
        // Early shift: at 22:00 held until 06:00; at 06:00 it goes.
        assert_eq!(held("early", evening), Some(six));
        assert_eq!(held(" Early ", evening), Some(six), "any case, trimmed");
        assert_eq!(held("early", six), None);
        // Late shift: held from 22:00 until 14:00 the next day.
        assert_eq!(held("late", evening), Some(six + 8 * hour));
        assert_eq!(held("late", evening - hour), None);
        // No shift (or one the config does not name): inbox.off_duty, 20:00-05:00.
        assert_eq!(held("", evening), Some(six - hour));
        assert_eq!(held("night", evening), Some(six - hour));
        assert_eq!(held("", six), None);
        let nothing = Duty::default();
        assert!(!holds_any(&nothing));
        assert_eq!(driver_held_until(&nothing, "", &berlin, evening), None);
        // Dispatchers: on shift within theirs, always without one.
        assert!(on_shift(&duty, "early", &berlin, six + hour));
        assert!(!on_shift(&duty, "early", &berlin, evening));
        assert!(on_shift(&duty, "", &berlin, evening));
    }
}
