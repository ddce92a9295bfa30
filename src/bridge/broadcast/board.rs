//! The status board of a broadcast message: one notice, edited in place as receipts come in.
//! Pure: from the store's rows to each recipient's standing, the counts and the text.

use std::fmt::Write;

use crate::{
    bridge::privacy::ReadView,
    store::{DeliveryRow, OutboxState, Reaction},
    texts::Texts,
    tr,
    zone::Zone,
};

/// Where one recipient stands, from the fan-out's and the outbox's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub recipient: String,
    pub name: String,
    pub stage: Stage,
    pub sent_at: Option<i64>,
    pub received_at: Option<i64>,
    pub read_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub declined_at: Option<i64>,
    pub portal_room: Option<String>,
    pub reply_event: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Not yet in the outbox, or queued there.
    Pending,
    /// Queued, waiting for the driver's shift (`inbox.off_duty`, `inbox.shifts`).
    Held,
    Sent,
    Received,
    Read,
    Failed(String),
    /// The Gateway may have delivered it (no answer); not resent by itself.
    Unknown,
}

impl Stage {
    /// The state in the desk's language (`!report`).
    pub fn said(&self, texts: &Texts) -> String {
        match self {
            Stage::Pending => tr!(texts, "stage-pending"),
            Stage::Held => tr!(texts, "stage-held"),
            Stage::Sent => tr!(texts, "stage-sent"),
            Stage::Received => tr!(texts, "stage-received"),
            Stage::Read => tr!(texts, "stage-read"),
            Stage::Failed(_) => tr!(texts, "stage-failed"),
            Stage::Unknown => tr!(texts, "stage-unknown"),
        }
    }

    /// The state as the CSV file has it: the same words whatever the desk's language, for
    /// what reads the file.
    pub fn label(&self) -> &str {
        match self {
            Stage::Pending => "pending",
            Stage::Held => "held (off duty)",
            Stage::Sent => "sent",
            Stage::Received => "received",
            Stage::Read => "read",
            Stage::Failed(_) => "failed",
            Stage::Unknown => "outcome unknown",
        }
    }
}

/// One standing per recipient (`rows` ordered by recipient, oldest try first). A resend is a new try: its state counts, while received and read times are the
/// earliest of any try.
pub fn standings(rows: &[DeliveryRow]) -> Vec<Standing> {
    let mut out: Vec<Standing> = Vec::new();
    for row in rows {
        if out.last().is_none_or(|s| s.recipient != row.recipient) {
            out.push(Standing {
                recipient: row.recipient.clone(),
                name: row.name.clone(),
                stage: match &row.delivery_error {
                    Some(error) => Stage::Failed(error.clone()),
                    None => Stage::Pending,
                },
                sent_at: None,
                received_at: None,
                read_at: None,
                acknowledged_at: None,
                declined_at: None,
                portal_room: row.portal_room.clone(),
                reply_event: row.reply_event.clone(),
            });
        }
        let standing = out.last_mut().expect("pushed above");
        let Some(send) = &row.send else { continue };
        let earliest = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).min();
        standing.sent_at = earliest(standing.sent_at, send.sent_at);
        standing.received_at = earliest(standing.received_at, send.received_at);
        standing.read_at = earliest(standing.read_at, send.read_at);
        match send.reaction {
            Some(Reaction::Acknowledged) => standing.acknowledged_at = send.reaction_at,
            Some(Reaction::Declined) => standing.declined_at = send.reaction_at,
            None => {}
        }
        standing.stage = match send.state {
            OutboxState::Queued if send.hold_until.is_some() => Stage::Held,
            OutboxState::Queued | OutboxState::Sending => Stage::Pending,
            OutboxState::Failed => {
                Stage::Failed(send.error.clone().unwrap_or_else(|| "unknown error".into()))
            }
            OutboxState::Unknown => Stage::Unknown,
            OutboxState::Sent => Stage::Sent,
        };
    }
    for s in &mut out {
        // A phone's receipt outranks the state of a later try (a resend still queued).
        if s.read_at.is_some() {
            s.stage = Stage::Read;
        } else if s.received_at.is_some() {
            s.stage = Stage::Received;
        }
    }
    out
}

/// The counts a board shows. Each stage includes the later ones (read were also received).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub sent: usize,
    pub received: usize,
    pub read: usize,
    pub acknowledged: usize,
    pub declined: usize,
    pub failed: usize,
    pub unknown: usize,
    pub pending: usize,
    pub held: usize,
}

pub fn count(standings: &[Standing]) -> Counts {
    let mut c = Counts {
        total: standings.len(),
        ..Counts::default()
    };
    for s in standings {
        c.sent += usize::from(s.sent_at.is_some() || s.received_at.is_some());
        c.received += usize::from(s.received_at.is_some());
        c.read += usize::from(s.read_at.is_some());
        c.acknowledged += usize::from(s.acknowledged_at.is_some());
        c.declined += usize::from(s.declined_at.is_some());
        match s.stage {
            Stage::Failed(_) => c.failed += 1,
            Stage::Unknown => c.unknown += 1,
            Stage::Pending => c.pending += 1,
            Stage::Held => c.held += 1,
            _ => {}
        }
    }
    c
}

/// Nothing will change any more by itself: every recipient read (and, if asked, acknowledged)
/// or failed.
pub fn settled(standings: &[Standing], ack: bool) -> bool {
    standings.iter().all(|s| match s.stage {
        Stage::Failed(_) | Stage::Unknown => true,
        Stage::Read => !ack || s.acknowledged_at.is_some() || s.declined_at.is_some(),
        _ => false,
    })
}

/// Whether too few have read it: fewer than `below_percent` of the recipients. Never where
/// reading is not shown (`privacy.minimum_group`): the notice would say how many read it.
pub fn escalation_due(c: &Counts, below_percent: usize, view: ReadView) -> bool {
    // Those off duty cannot have read it yet.
    let could = c.total - c.held;
    view.reads && could > 0 && c.read * 100 < below_percent * could
}

/// A link to an event, for Matrix clients.
pub fn event_link(room_id: &str, event_id: &str) -> String {
    format!("https://matrix.to/#/{room_id}/{event_id}")
}

/// The board's text: the counts, who has not read it (up to `max_names`), who failed and why,
/// who answered (linked to the answer in their portal).
/// What `view` does not allow stays out: who read (the lists of who has not), or reading at all.
/// Whom it failed for and who answered stay: the desk must call them, and an answer is the
/// driver's own message.
pub fn render(
    texts: &Texts,
    standings: &[Standing],
    ack: bool,
    max_names: usize,
    view: ReadView,
) -> String {
    let mut board = Board {
        text: summary(texts, &count(standings), ack, view.reads),
        max_names,
        texts,
    };
    let plain = |s: &Standing| format!("{} ({})", s.name, s.recipient);
    let by_person = view.per_person && view.reads;
    // Those it failed for have not read it either: the desk wants every name in one place.
    if by_person {
        board.group(
            &tr!(texts, "board-not-read"),
            standings.iter().filter(|s| s.read_at.is_none()),
            &plain,
        );
    }
    if ack && by_person {
        let waiting = standings.iter().filter(|s| {
            s.read_at.is_some() && s.acknowledged_at.is_none() && s.declined_at.is_none()
        });
        board.group(&tr!(texts, "board-not-acknowledged"), waiting, &plain);
    }
    let why = |s: &Standing| match &s.stage {
        Stage::Failed(reason) => format!("{} ({}): {reason}", s.name, s.recipient),
        _ => plain(s),
    };
    let failed = standings
        .iter()
        .filter(|s| matches!(s.stage, Stage::Failed(_)));
    board.group(&tr!(texts, "board-failed"), failed, &why);
    let link = |s: &Standing| match (&s.portal_room, &s.reply_event) {
        (Some(room), Some(event)) => format!("{} {}", s.name, event_link(room, event)),
        _ => s.name.clone(),
    };
    let replies = standings.iter().filter(|s| s.reply_event.is_some());
    board.group(&tr!(texts, "board-answers"), replies, &link);
    board.text
}

/// `text` with `line` after its first line (a poll's tally under the counts).
pub fn with_line(text: &str, line: &str) -> String {
    match text.split_once('\n') {
        Some((first, rest)) => format!("{first}\n{line}\n{rest}"),
        None => format!("{text}\n{line}"),
    }
}

/// The board's first line: how many were sent, received, read (and answered, if asked), and
/// how many failed or are still on the way.
fn summary(texts: &Texts, c: &Counts, ack: bool, reads: bool) -> String {
    let mut text = tr!(
        texts,
        "board-summary",
        total = c.total,
        sent = c.sent,
        received = c.received
    );
    let mut part = |shown: bool, said: String| {
        if shown {
            let _ = write!(text, " · {said}");
        }
    };
    part(reads, tr!(texts, "board-read", count = c.read));
    part(
        ack,
        tr!(texts, "board-acknowledged", count = c.acknowledged),
    );
    part(
        ack && c.declined > 0,
        tr!(texts, "board-declined", count = c.declined),
    );
    part(true, tr!(texts, "board-failed-count", count = c.failed));
    part(
        c.unknown > 0,
        tr!(texts, "board-unknown", count = c.unknown),
    );
    part(
        c.pending > 0,
        tr!(texts, "board-pending", count = c.pending),
    );
    part(c.held > 0, tr!(texts, "board-held", count = c.held));
    let _ = write!(text, " {}", tr!(texts, "board-of", total = c.total));
    text
}

/// A board's text as it is written, one line per group of recipients after the summary.
struct Board<'t> {
    text: String,
    /// Names listed per group; the rest are counted, for `!report` to list.
    max_names: usize,
    texts: &'t Texts,
}

impl Board<'_> {
    /// `title (n): name, name, … and k more (!report lists all)`, if the group is not empty.
    fn group<'s>(
        &mut self,
        title: &str,
        members: impl Iterator<Item = &'s Standing>,
        name: &dyn Fn(&Standing) -> String,
    ) {
        let list: Vec<&Standing> = members.collect();
        if list.is_empty() {
            return;
        }
        let mut names: Vec<String> = list.iter().take(self.max_names).map(|s| name(s)).collect();
        if list.len() > self.max_names {
            names.push(tr!(
                self.texts,
                "board-more",
                count = list.len() - self.max_names
            ));
        }
        let _ = write!(
            self.text,
            "\n{title} ({}): {}",
            list.len(),
            names.join(", ")
        );
    }
}

/// UTC time of a Unix-ms timestamp, for the CSV file (an export, as the audit trail's: UTC).
pub fn time(ms: Option<i64>) -> String {
    ms.and_then(|ms| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    })
    .map(|t| {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    })
    .unwrap_or_default()
}

/// Per recipient with times in `zone` (`bridge.timezone`), one line each (`!report`); only
/// the counts when `view` does not allow per-person detail.
pub fn report(texts: &Texts, standings: &[Standing], view: ReadView, zone: &Zone) -> String {
    if !view.per_person {
        return format!(
            "{}\n{}",
            summary(texts, &count(standings), false, view.reads),
            tr!(texts, "report-private")
        );
    }
    let standings = visible(standings, view);
    let mut text = tr!(texts, "report-head");
    let time = |ms: Option<i64>| ms.map(|ms| zone.time(ms)).unwrap_or_default();
    for s in standings.iter() {
        let _ = write!(
            text,
            "\n• {} ({}): {} · {} · {} · {} · {}",
            s.name,
            s.recipient,
            s.stage.said(texts),
            time(s.sent_at),
            time(s.received_at),
            time(s.read_at),
            time(s.acknowledged_at)
        );
        if let Stage::Failed(reason) = &s.stage {
            let _ = write!(text, " — {reason}");
        }
    }
    text
}

/// The standings as `view` shows them: without reading when it hides that.
fn visible(standings: &[Standing], view: ReadView) -> std::borrow::Cow<'_, [Standing]> {
    match view.reads {
        true => std::borrow::Cow::Borrowed(standings),
        false => std::borrow::Cow::Owned(standings.iter().cloned().map(without_read).collect()),
    }
}

/// A standing as if nobody had read (`privacy.minimum_group`).
fn without_read(mut s: Standing) -> Standing {
    s.read_at = None;
    if s.stage == Stage::Read {
        s.stage = if s.received_at.is_some() {
            Stage::Received
        } else {
            Stage::Sent
        };
    }
    s
}

/// The same as CSV (`!csv`), for spreadsheets; read times only as `view` allows (a viewer
/// without per-person detail gets no file).
pub fn csv(standings: &[Standing], view: ReadView) -> Vec<u8> {
    let standings = visible(standings, view);
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record([
        "threema_id",
        "name",
        "state",
        "sent_at",
        "received_at",
        "read_at",
        "acknowledged_at",
        "declined_at",
        "error",
        "answer",
    ]);
    for s in standings.iter() {
        let error = match &s.stage {
            Stage::Failed(reason) => reason.clone(),
            _ => String::new(),
        };
        let answer = match (&s.portal_room, &s.reply_event) {
            (Some(room), Some(event)) => event_link(room, event),
            _ => String::new(),
        };
        let _ = writer.write_record([
            s.recipient.as_str(),
            &spreadsheet_safe(&s.name),
            s.stage.label(),
            &time(s.sent_at),
            &time(s.received_at),
            &time(s.read_at),
            &time(s.acknowledged_at),
            &time(s.declined_at),
            &error,
            &answer,
        ]);
    }
    writer.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet shows as text: names come from drivers' apps and the directory, and a
/// leading `=`, `+`, `-`, `@` (or tab, CR) would make it a formula (OWASP's CSV injection).
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => format!("'{cell}").into(),
        false => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SendTry;

    fn row(recipient: &str, send: Option<SendTry>) -> DeliveryRow {
        DeliveryRow {
            recipient: recipient.into(),
            name: format!("Driver {}", &recipient[7..]),
            portal_room: Some(format!("!{recipient}:x")),
            copy_event: Some(format!("$c{recipient}")),
            delivery_error: None,
            reply_event: None,
            send,
        }
    }

    /// A try sent at `at`, not received yet.
    fn acked_at(at: i64) -> SendTry {
        let mut sent = try_(OutboxState::Sent, None, None);
        sent.sent_at = Some(at);
        sent
    }

    fn try_(state: OutboxState, received: Option<i64>, read: Option<i64>) -> SendTry {
        SendTry {
            state,
            hold_until: None,
            error: (state == OutboxState::Failed).then(|| "this Threema ID does not exist".into()),
            sent_at: (state != OutboxState::Failed).then_some(1),
            received_at: received,
            read_at: read,
            reaction: None,
            reaction_at: None,
        }
    }

    #[test]
    fn too_few_readers_escalate_unless_reading_is_hidden_for_the_group() {
        let c = Counts {
            total: 4,
            read: 2,
            ..Counts::default()
        };
        assert!(escalation_due(&c, 80, ReadView::FULL));
        assert!(!escalation_due(&c, 50, ReadView::FULL));
        let hidden = ReadView {
            per_person: true,
            reads: false,
        };
        assert!(!escalation_due(&c, 80, hidden));
        assert!(!escalation_due(&Counts::default(), 80, ReadView::FULL));
    }

    #[test]
    fn counts_and_names_who_has_not_read() {
        let mut rows = vec![
            row("AAAA0001", Some(try_(OutboxState::Sent, Some(2), Some(3)))),
            row("AAAA0002", Some(try_(OutboxState::Sent, Some(2), None))),
            row("AAAA0003", Some(try_(OutboxState::Failed, None, None))),
            row("AAAA0004", None),
        ];
        // A resend after the driver had not read it: the second try is read.
        rows.push(row(
            "AAAA0005",
            Some(try_(OutboxState::Sent, Some(2), None)),
        ));
        rows.push(row(
            "AAAA0005",
            Some(try_(OutboxState::Sent, Some(5), Some(6))),
        ));
        rows[0].reply_event = Some("$answer".into());
        let s = standings(&rows);
        assert_eq!(s.len(), 5);
        let c = count(&s);
        assert_eq!(
            (c.total, c.sent, c.received, c.read, c.failed, c.pending),
            (5, 3, 3, 2, 1, 1)
        );
        let text = render(&Texts::default(), &s, false, 20, ReadView::FULL);
        assert!(text.starts_with("📢 Broadcast to 5 driver(s): sent 3 · received 3 · read 2 · failed 1 · on the way 1 (of 5)"), "{text}");
        assert!(
            text.contains(
                "Not read yet (3): Driver 2 (AAAA0002), Driver 3 (AAAA0003), Driver 4 (AAAA0004)"
            ),
            "{text}"
        );
        assert!(
            text.contains("Failed (1): Driver 3 (AAAA0003): this Threema ID does not exist"),
            "{text}"
        );
        assert!(
            text.contains("Answers (1): Driver 1 https://matrix.to/#/!AAAA0001:x/$answer"),
            "{text}"
        );
        assert!(!settled(&s, false));
        assert!(
            render(&Texts::default(), &s, false, 1, ReadView::FULL)
                .contains("Not read yet (3): Driver 2 (AAAA0002), and 2 more")
        );

        // Counts only: nobody named as not having read it; without reading: no read count.
        let counts = render(
            &Texts::default(),
            &s,
            false,
            20,
            ReadView {
                per_person: false,
                reads: true,
            },
        );
        assert!(
            !counts.contains("Not read yet") && counts.contains("read "),
            "{counts}"
        );
        let unread = ReadView {
            per_person: true,
            reads: false,
        };
        let text = render(&Texts::default(), &s, false, 20, unread);
        assert!(
            !text.contains("read") && !text.contains("Not read"),
            "{text}"
        );
        let utc = Zone::default();
        assert!(report(&Texts::default(), &s, ReadView::FULL, &utc).contains("(AAAA0001): read ·"));
        let reported = report(&Texts::default(), &s, unread, &utc);
        assert!(reported.contains("(AAAA0001): received ·"), "{reported}");
        assert!(!reported.contains(": read ·"), "{reported}");
        let csv = String::from_utf8(csv(&s, ReadView::FULL)).unwrap();
        assert_eq!(csv.lines().count(), 6);
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("Driver 1"), "Driver 1");
        assert!(
            csv.contains("AAAA0003,Driver 3,failed,,,,,,this Threema ID does not exist,"),
            "{csv}"
        );
    }

    #[test]
    fn an_acknowledgement_request_is_settled_when_everyone_answered_or_failed() {
        let mut acked = try_(OutboxState::Sent, Some(2), Some(3));
        acked.reaction = Some(Reaction::Acknowledged);
        acked.reaction_at = Some(4);
        let rows = vec![
            row("AAAA0001", Some(acked)),
            row("AAAA0002", Some(try_(OutboxState::Sent, Some(2), Some(3)))),
            row("AAAA0003", Some(try_(OutboxState::Unknown, None, None))),
        ];
        let s = standings(&rows);
        assert!(settled(&s, false));
        assert!(!settled(&s, true));
        let text = render(&Texts::default(), &s, true, 20, ReadView::FULL);
        assert!(text.contains("acknowledged 1"), "{text}");
        assert!(
            text.contains("Read, not acknowledged yet (1): Driver 2 (AAAA0002)"),
            "{text}"
        );
        assert!(text.contains("outcome unknown 1"), "{text}");
        assert_eq!(time(Some(0)), "1970-01-01 00:00:00");
        // `!report` in bridge.timezone; a copy held for a driver off duty says so.
        let mut held = try_(OutboxState::Queued, None, None);
        held.hold_until = Some(1_700_024_400_000);
        let rows = vec![
            row("AAAA0001", Some(acked_at(1_700_000_000_000))),
            row("AAAA0002", Some(held)),
        ];
        let s = standings(&rows);
        assert!(!settled(&s, false));
        let text = render(&Texts::default(), &s, false, 20, ReadView::FULL);
        assert!(
            text.contains(" · held for drivers off duty 1 (of 2)"),
            "{text}"
        );
        let berlin = Zone::named("Europe/Berlin").unwrap();
        let text = report(&Texts::default(), &s, ReadView::FULL, &berlin);
        assert!(
            text.contains("(AAAA0001): sent · 2023-11-14 23:13:20 CET ·"),
            "{text}"
        );
        assert!(text.contains("(AAAA0002): held (off duty) ·"), "{text}");
    }
}
