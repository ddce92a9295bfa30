//! What the desk reads and writes about a conversation, pure: the portal commands, the
//! status shown in the portal's topic, what the inbox's clock is due to say, and what makes a
//! driver's message urgent.

use std::time::Duration;

use ruma::OwnedUserId;

use crate::{
    store::{Closed, Conversation, ConversationState, Told},
    texts::Texts,
    tr,
    zone::Zone,
};

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
pub fn status(
    texts: &Texts,
    conversation: &Conversation,
    claim: &str,
    zone: &Zone,
    name: impl Fn(&str) -> String,
) -> String {
    match conversation.state {
        ConversationState::Open => {
            let since = conversation
                .waiting_since
                .map(|at| zone.clock(at))
                .unwrap_or_else(|| "?".into());
            match &conversation.owner {
                Some(owner) => tr!(
                    texts,
                    "desk-topic-waiting-owned",
                    since = since,
                    owner = name(owner)
                ),
                None => tr!(texts, "desk-topic-waiting", since = since, claim = claim),
            }
        }
        ConversationState::Closed => {
            let by = conversation.closed_by.as_deref().map(&name);
            match (conversation.closed_how, by) {
                (Some(Closed::Answered), Some(by)) => tr!(texts, "desk-topic-answered", by = by),
                (Some(_), Some(by)) => tr!(texts, "desk-topic-handled", by = by),
                _ => tr!(texts, "desk-topic-nothing"),
            }
        }
    }
}

/// What the inbox's clock has to do about a conversation at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Tell the desk this now.
    Now(Told),
    /// Nothing before this time (Unix ms).
    At(i64),
    /// Nothing: answered, or everybody was told.
    Never,
}

/// What is due for `conversation` at `now` (Unix ms): the desk room once it waited
/// `answer_within`, the admins `escalate_after` after that.
pub fn due(
    conversation: &Conversation,
    answer_within: Duration,
    escalate_after: Duration,
    now: i64,
) -> Due {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let (ConversationState::Open, Some(since)) = (conversation.state, conversation.waiting_since)
    else {
        return Due::Never;
    };
    let (told, at) = match (conversation.late_at, conversation.escalated_at) {
        (None, _) => (Told::Late, since.saturating_add(ms(answer_within))),
        (Some(late), None) => (Told::Escalated, late.saturating_add(ms(escalate_after))),
        (Some(_), Some(_)) => return Due::Never,
    };
    if now >= at {
        Due::Now(told)
    } else {
        Due::At(at)
    }
}

/// Whether a driver's `text` needs the desk at once: 🆘 anywhere, or one of `keywords` as
/// whole words in any case ("Panne" in "Panne auf der A7", not in "Pannenhilfe"); a keyword
/// of emoji or signs only ("🚑") anywhere.
pub fn is_urgent(text: &str, keywords: &[String]) -> bool {
    fn words(text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }
    if text.contains('🆘') {
        return true;
    }
    let said = words(text);
    keywords
        .iter()
        .any(|keyword| match words(keyword).as_slice() {
            // Emoji and signs: anywhere in the text.
            [] => text.contains(keyword.as_str()),
            keyword => said.windows(keyword.len()).any(|w| w == keyword),
        })
}

/// An open conversation in a shift summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLine {
    pub driver: String,
    pub waiting_since: i64,
    /// Who has it, by name.
    pub owner: Option<String>,
    pub link: String,
    /// The beginning of what the driver wrote first (the desk board shows it).
    pub first_line: Option<String>,
}

/// A broadcast in a shift summary: how many of the recipients the reader may see have not
/// read it, and (when it asks for one) not acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastLine {
    pub link: String,
    pub recipients: usize,
    pub unread: usize,
    pub unacknowledged: Option<usize>,
}

/// A driver whose messages failed or may not have arrived, in a shift summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedLine {
    pub driver: String,
    pub messages: i64,
    pub link: String,
}

/// A driver's latest quick-code status on the desk board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    pub driver: String,
    pub meaning: String,
    pub code: String,
    /// When the driver sent it (Unix ms).
    pub at: i64,
    pub link: String,
}

/// A job card of the integration API on the desk board: its driver, title and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLine {
    pub driver: String,
    pub client: String,
    pub title: String,
    /// `open`, `accepted`, `declined`, a quick code's meaning, `failed`.
    pub state: String,
    /// When it reached that state (Unix ms).
    pub at: i64,
    pub link: String,
}

/// What one desk room's board lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardLines {
    pub open: Vec<OpenLine>,
    pub statuses: Vec<StatusLine>,
    pub jobs: Vec<JobLine>,
}

/// The desk board: what waits in a desk room's scope, longest first, then the drivers' latest
/// statuses (quick codes) and the job cards' states, newest first.
pub fn board(texts: &Texts, lines: &BoardLines, zone: &Zone) -> String {
    let BoardLines {
        open,
        statuses,
        jobs,
    } = lines;
    let mut out = match open.len() {
        0 => tr!(texts, "desk-board-empty"),
        n => tr!(texts, "desk-board", count = n),
    };
    for line in open {
        let owner = match &line.owner {
            Some(owner) => tr!(texts, "desk-has-it", owner = owner.as_str()),
            None => tr!(texts, "desk-nobody-has-it"),
        };
        let said = match &line.first_line {
            Some(text) => format!(" — “{text}”"),
            None => String::new(),
        };
        out.push('\n');
        out.push_str(&tr!(
            texts,
            "desk-board-line",
            driver = line.driver.as_str(),
            since = zone.clock(line.waiting_since),
            owner = owner,
            said = said,
            link = line.link.as_str()
        ));
    }
    if !statuses.is_empty() {
        out.push_str("\n\n");
        out.push_str(&tr!(texts, "desk-statuses"));
        for s in statuses {
            out.push('\n');
            out.push_str(&tr!(
                texts,
                "desk-status-line",
                driver = s.driver.as_str(),
                meaning = s.meaning.as_str(),
                code = s.code.as_str(),
                at = zone.clock(s.at),
                link = s.link.as_str()
            ));
        }
    }
    if !jobs.is_empty() {
        out.push_str("\n\n");
        out.push_str(&tr!(texts, "desk-jobs"));
        for job in jobs {
            let state = match job.state.as_str() {
                "open" => tr!(texts, "desk-job-open"),
                "accepted" => tr!(texts, "desk-job-accepted"),
                "declined" => tr!(texts, "desk-job-declined"),
                "failed" => tr!(texts, "desk-job-failed"),
                meaning => meaning.to_owned(),
            };
            out.push('\n');
            out.push_str(&tr!(
                texts,
                "desk-job-line",
                driver = job.driver.as_str(),
                client = job.client.as_str(),
                title = job.title.as_str(),
                state = state,
                at = zone.clock(job.at),
                link = job.link.as_str()
            ));
        }
    }
    out
}

/// What the next shift takes over, at `now` (Unix ms).
pub fn summary(
    texts: &Texts,
    now: i64,
    open: &[OpenLine],
    broadcasts: &[BroadcastLine],
    failed: &[FailedLine],
    zone: &Zone,
) -> String {
    let mut out = tr!(texts, "desk-summary", at = zone.clock(now));
    out.push('\n');
    if open.is_empty() {
        out.push_str(&tr!(texts, "desk-summary-nothing-waits"));
    } else {
        out.push_str(&tr!(texts, "desk-summary-waiting", count = open.len()));
        for line in open {
            let waited = now.saturating_sub(line.waiting_since) / 60_000;
            let owner = match &line.owner {
                Some(owner) => tr!(texts, "desk-has-it", owner = owner.as_str()),
                None => tr!(texts, "desk-nobody-has-it"),
            };
            out.push('\n');
            out.push_str(&tr!(
                texts,
                "desk-summary-line",
                driver = line.driver.as_str(),
                since = zone.clock(line.waiting_since),
                minutes = waited,
                owner = owner,
                link = line.link.as_str()
            ));
        }
    }
    if !broadcasts.is_empty() {
        out.push('\n');
        out.push_str(&tr!(
            texts,
            "desk-summary-broadcasts",
            count = broadcasts.len()
        ));
        for line in broadcasts {
            let said = match line.unacknowledged {
                Some(unacknowledged) => tr!(
                    texts,
                    "desk-summary-unread-unacknowledged",
                    unread = line.unread,
                    recipients = line.recipients,
                    unacknowledged = unacknowledged
                ),
                None => tr!(
                    texts,
                    "desk-summary-unread",
                    unread = line.unread,
                    recipients = line.recipients
                ),
            };
            out.push_str(&format!("\n• {said} — {}", line.link));
        }
    }
    if !failed.is_empty() {
        out.push('\n');
        out.push_str(&tr!(texts, "desk-summary-failed", count = failed.len()));
        for line in failed {
            out.push('\n');
            out.push_str(&tr!(
                texts,
                "desk-summary-failed-line",
                driver = line.driver.as_str(),
                count = line.messages,
                link = line.link.as_str()
            ));
        }
    }
    out
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
            late_at: None,
            escalated_at: None,
            urgent_event: None,
            marker_event: None,
            marker_on: None,
        }
    }

    #[test]
    fn the_clock_tells_the_desk_room_then_the_admins_then_nobody() {
        let (answer, escalate) = (Duration::from_secs(600), Duration::from_secs(1800));
        let mut open = conversation(ConversationState::Open);
        let since = open.waiting_since.unwrap();
        assert_eq!(
            due(&open, answer, escalate, since),
            Due::At(since + 600_000)
        );
        assert_eq!(
            due(&open, answer, escalate, since + 600_000),
            Due::Now(Told::Late)
        );
        open.late_at = Some(since + 601_000);
        assert_eq!(
            due(&open, answer, escalate, since + 700_000),
            Due::At(since + 601_000 + 1_800_000)
        );
        assert_eq!(
            due(&open, answer, escalate, since + 601_000 + 1_800_000),
            Due::Now(Told::Escalated)
        );
        open.escalated_at = Some(since + 2_500_000);
        assert_eq!(due(&open, answer, escalate, i64::MAX), Due::Never);
        let closed = conversation(ConversationState::Closed);
        assert_eq!(due(&closed, answer, escalate, i64::MAX), Due::Never);
    }

    #[test]
    fn the_summary_lists_what_waits_what_is_unread_and_what_failed() {
        let at = |hh: i64, mm: i64| 1_700_006_400_000 + (hh * 60 + mm) * 60_000;
        let open = [
            OpenLine {
                driver: "Erika Muster".into(),
                waiting_since: at(13, 40),
                owner: None,
                link: "L1".into(),
                first_line: None,
            },
            OpenLine {
                driver: "Max Fahrer".into(),
                waiting_since: at(13, 58),
                owner: Some("Anna Dispo".into()),
                link: "L2".into(),
                first_line: Some("Bin da".into()),
            },
        ];
        let broadcasts = [BroadcastLine {
            link: "B1".into(),
            recipients: 12,
            unread: 3,
            unacknowledged: Some(5),
        }];
        let failed = [FailedLine {
            driver: "Erika Muster".into(),
            messages: 2,
            link: "L1".into(),
        }];
        let text = summary(
            &Texts::default(),
            at(14, 5),
            &open,
            &broadcasts,
            &failed,
            &Zone::default(),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "Shift summary, 14:05 UTC:",
                "Waiting for an answer (2):",
                "• Erika Muster — since 13:40 UTC (25 min), nobody has it — L1",
                "• Max Fahrer — since 13:58 UTC (7 min), Anna Dispo has it — L2",
                "Broadcasts not read by everyone (1):",
                "• 3 of 12 not read, 5 not acknowledged — B1",
                "Messages that failed or may not have arrived, last 24 h (1 driver(s)):",
                "• Erika Muster: 2 message(s) — L1",
            ]
        );
        let lines = BoardLines {
            open: open.to_vec(),
            ..Default::default()
        };
        let board_text = board(&Texts::default(), &lines, &Zone::default());
        assert_eq!(
            board_text.lines().collect::<Vec<_>>(),
            [
                "📋 Desk board: waiting for an answer (2), longest first:",
                "• Erika Muster — since 13:40 UTC, nobody has it — L1",
                "• Max Fahrer — since 13:58 UTC, Anna Dispo has it — “Bin da” — L2",
            ]
        );
        let statuses = [StatusLine {
            driver: "Max Fahrer".into(),
            meaning: "loaded".into(),
            code: "2".into(),
            at: at(13, 50),
            link: "S1".into(),
        }];
        assert_eq!(
            board(
                &Texts::default(),
                &BoardLines {
                    statuses: statuses.to_vec(),
                    ..Default::default()
                },
                &Zone::default()
            )
            .lines()
            .collect::<Vec<_>>(),
            [
                "📋 Desk board: no driver waits for an answer.",
                "",
                "🏷️ Status (last 24 h), newest first:",
                "• Max Fahrer — loaded (2) at 13:50 UTC — S1",
            ]
        );
        let quiet = summary(
            &Texts::default(),
            at(22, 0),
            &[],
            &[],
            &[],
            &Zone::default(),
        );
        assert_eq!(
            quiet,
            "Shift summary, 22:00 UTC:\nNo driver waits for an answer."
        );
    }

    #[test]
    fn urgent_is_sos_or_a_keyword_as_a_whole_word() {
        let keywords = [
            "Panne".to_owned(),
            "Unfall".to_owned(),
            "kein Diesel".to_owned(),
        ];
        for text in [
            "Panne auf der A7",
            "UNFALL!!",
            "hatte einen unfall, alles ok",
            "🆘",
            "Kein  Diesel mehr",
        ] {
            assert!(is_urgent(text, &keywords), "{text}");
        }
        for text in [
            "Pannenhilfe war da",
            "Unfallstelle geräumt",
            "kein Problem",
            "",
        ] {
            assert!(!is_urgent(text, &keywords), "{text}");
        }
        assert!(!is_urgent("Panne", &[]));
        assert!(is_urgent("Fahrer verletzt 🚑", &["🚑".to_owned()]));
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
            status(&Texts::default(), &c, "🙋", &Zone::default(), name),
            "⏳ Waiting for an answer since 22:15 UTC · nobody has it yet (!claim or 🙋)"
        );
        c.owner = Some("@anna:x".into());
        assert_eq!(
            status(&Texts::default(), &c, "🙋", &Zone::default(), name),
            "⏳ Waiting for an answer since 22:15 UTC · anna has it"
        );
        let berlin = Zone::named("Europe/Berlin").unwrap();
        assert_eq!(
            status(&Texts::default(), &c, "🙋", &berlin, name),
            "⏳ Waiting for an answer since 23:15 CET · anna has it"
        );
        let mut c = conversation(ConversationState::Closed);
        c.closed_by = Some("@ben:x".into());
        c.closed_how = Some(Closed::Answered);
        assert_eq!(
            status(&Texts::default(), &c, "🙋", &Zone::default(), name),
            "✓ Answered by ben"
        );
        c.closed_how = Some(Closed::Done);
        assert_eq!(
            status(&Texts::default(), &c, "🙋", &Zone::default(), name),
            "✓ Handled by ben"
        );
    }
}
