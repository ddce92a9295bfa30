//! What the desk reads and writes about a conversation, pure: the portal commands and the
//! status shown in the portal's topic.

use ruma::OwnedUserId;

use crate::store::{Closed, Conversation, ConversationState};

/// A dispatcher's word about a conversation, written in its portal: never sent to the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalCommand {
    /// `!claim`: I answer this one.
    Claim,
    /// `!assign @colleague`: they answer it (`None`: nobody named).
    Assign(Option<OwnedUserId>),
    /// `!release`: nobody has it any more.
    Release,
    /// `!done`: handled without writing to the driver.
    Done,
}

impl PortalCommand {
    /// `None` when `body` (its reply fallback taken off) is a message for the driver. A known
    /// `!word` is always a command, whatever follows it: text meant for the desk never goes
    /// to the phone. `!assign` names its colleague by a mention (`mentioned`, what Element
    /// sends for a pill) or by a Matrix ID in the text.
    pub fn parse(body: &str, mentioned: &[OwnedUserId]) -> Option<Self> {
        let mut words = body.split_whitespace();
        let word = words.next()?.strip_prefix('!')?;
        let word = word.trim_end_matches([',', '.', ':', ';']).to_lowercase();
        Some(match word.as_str() {
            "claim" => Self::Claim,
            "release" => Self::Release,
            "done" => Self::Done,
            "assign" => Self::Assign(mentioned.first().cloned().or_else(|| {
                words.find_map(|w| OwnedUserId::try_from(w.trim_end_matches([',', '.'])).ok())
            })),
            _ => return None,
        })
    }
}

/// Where `conversation` stands, for the portal's topic (after the directory's part); `name`
/// gives a dispatcher's display name. The topic, not the room name: the directory owns the
/// names, and an unchanged directory sync must not touch them.
pub fn status(conversation: &Conversation, claim: &str, name: impl Fn(&str) -> String) -> String {
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
                    "⏳ Waiting for an answer since {since} · nobody has it yet (!claim or {claim})"
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
        let anna: OwnedUserId = "@anna:x".try_into().unwrap();
        assert_eq!(
            PortalCommand::parse("!claim", &[]),
            Some(PortalCommand::Claim)
        );
        assert_eq!(
            PortalCommand::parse(" !DONE ", &[]),
            Some(PortalCommand::Done)
        );
        // Whatever follows a known word: still the desk's, never the driver's.
        assert_eq!(
            PortalCommand::parse("!done, thanks", &[]),
            Some(PortalCommand::Done)
        );
        assert_eq!(
            PortalCommand::parse("!assign @anna:x", &[]),
            Some(PortalCommand::Assign(Some(anna.clone())))
        );
        // A pill: the display name in the body, the user in the mentions.
        assert_eq!(
            PortalCommand::parse("!assign Anna Dispo", std::slice::from_ref(&anna)),
            Some(PortalCommand::Assign(Some(anna)))
        );
        assert_eq!(
            PortalCommand::parse("!assign", &[]),
            Some(PortalCommand::Assign(None))
        );
        // Text for the driver stays text.
        for body in [
            "claim",
            "Bitte !done melden",
            "!doneX",
            "!!claim",
            "> quote",
        ] {
            assert_eq!(PortalCommand::parse(body, &[]), None, "{body}");
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
            status(&c, "🙋", name),
            "⏳ Waiting for an answer since 22:15 UTC · nobody has it yet (!claim or 🙋)"
        );
        c.owner = Some("@anna:x".into());
        assert_eq!(
            status(&c, "🙋", name),
            "⏳ Waiting for an answer since 22:15 UTC · anna has it"
        );
        let mut c = conversation(ConversationState::Closed);
        c.closed_by = Some("@ben:x".into());
        c.closed_how = Some(Closed::Answered);
        assert_eq!(status(&c, "🙋", name), "✓ Answered by ben");
        c.closed_how = Some(Closed::Done);
        assert_eq!(status(&c, "🙋", name), "✓ Handled by ben");
    }
}
