//! What the desk reads and writes about a conversation, pure: the portal commands and the
//! portal topic.

use crate::store::{Closed, Conversation, ConversationState};

/// A dispatcher's word about a conversation, written in its portal (not sent to the driver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalCommand {
    /// `!claim`: I answer this one.
    Claim,
    /// `!assign @colleague`: they answer it.
    Assign(String),
    /// `!release`: nobody has it any more.
    Release,
    /// `!done`: handled without writing to the driver.
    Done,
}

impl PortalCommand {
    /// `None` when `body` is not one (a message for the driver).
    pub fn parse(body: &str) -> Option<Self> {
        let mut words = body.split_whitespace();
        let word = words.next()?.strip_prefix('!')?.to_lowercase();
        let rest: Vec<&str> = words.collect();
        match (word.as_str(), rest.as_slice()) {
            ("claim", []) => Some(Self::Claim),
            ("release", []) => Some(Self::Release),
            ("done", []) => Some(Self::Done),
            ("assign", [who]) => Some(Self::Assign((*who).to_owned())),
            _ => None,
        }
    }

    pub fn word(&self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Assign(_) => "assign",
            Self::Release => "release",
            Self::Done => "done",
        }
    }
}

/// The portal's topic for `conversation`; `name` gives a dispatcher's display name.
/// The topic, not the name: the directory owns the room name, and an unchanged directory sync
/// must not touch it.
pub fn topic(conversation: &Conversation, name: impl Fn(&str) -> String) -> String {
    match conversation.state {
        ConversationState::Open => {
            let since = conversation
                .waiting_since
                .map(clock)
                .unwrap_or_else(|| "?".into());
            match &conversation.owner {
                Some(owner) => format!(
                    "⏳ Waiting for an answer since {since} · {} has it",
                    name(owner)
                ),
                None => format!(
                    "⏳ Waiting for an answer since {since} · nobody has it yet (!claim or 🙋)"
                ),
            }
        }
        ConversationState::Closed => {
            let by = conversation.closed_by.as_deref().map(&name);
            match (conversation.closed_how, by) {
                (Some(Closed::Answered), Some(by)) => format!("✓ Answered by {by}"),
                (Some(_), Some(by)) => format!("✓ Handled by {by}"),
                _ => "✓ Nothing waiting".into(),
            }
        }
    }
}

/// A time of day as the desk reads it (UTC until a time zone is configured).
fn clock(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| format!("{:02}:{:02} UTC", t.hour(), t.minute()))
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(state: ConversationState) -> Conversation {
        Conversation {
            threema_id: "ABCD1234".into(),
            state,
            waiting_since: Some(1_700_000_100_000),
            waiting_event: Some("$e".into()),
            owner: None,
            closed_by: None,
            closed_how: None,
            shown_topic: None,
        }
    }

    #[test]
    fn portal_commands_are_words_of_their_own() {
        assert_eq!(PortalCommand::parse("!claim"), Some(PortalCommand::Claim));
        assert_eq!(PortalCommand::parse(" !DONE "), Some(PortalCommand::Done));
        assert_eq!(
            PortalCommand::parse("!assign @anna:x"),
            Some(PortalCommand::Assign("@anna:x".into()))
        );
        // Text for the driver stays text.
        for body in [
            "!claim the pallet",
            "claim",
            "!assign",
            "Bitte !done melden",
            "!doneX",
        ] {
            assert_eq!(PortalCommand::parse(body), None, "{body}");
        }
    }

    #[test]
    fn the_topic_says_what_waits_since_when_and_who_has_it() {
        let name = |id: &str| {
            id.trim_start_matches('@')
                .split(':')
                .next()
                .unwrap()
                .to_owned()
        };
        let mut c = conversation(ConversationState::Open);
        assert_eq!(
            topic(&c, name),
            "⏳ Waiting for an answer since 22:15 UTC · nobody has it yet (!claim or 🙋)"
        );
        c.owner = Some("@anna:x".into());
        assert_eq!(
            topic(&c, name),
            "⏳ Waiting for an answer since 22:15 UTC · anna has it"
        );
        let mut c = conversation(ConversationState::Closed);
        c.closed_by = Some("@ben:x".into());
        c.closed_how = Some(Closed::Answered);
        assert_eq!(topic(&c, name), "✓ Answered by ben");
        c.closed_how = Some(Closed::Done);
        assert_eq!(topic(&c, name), "✓ Handled by ben");
    }
}
