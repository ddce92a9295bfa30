//! The `status` command's answer about one message: each recipient's delivery state with times.
//! Pure: rows in, text out.

use std::collections::BTreeMap;

use crate::zone::Zone;

use crate::{
    bridge::privacy::ReadView,
    store::{OutboxItem, OutboxState, Reaction},
    texts::Texts,
    tr,
};

/// The reaction a dispatcher puts on their message to send it again after a failure.
pub const RESEND_KEYS: &[&str] = &["🔁", "🔄"];

/// The event a `status` argument names: an event id (`$…`) or a message link as Element copies
/// it (`https://matrix.to/#/!room:server/$event?via=…`, escaped or not).
pub fn parse_event_ref(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(event_id) = ruma::EventId::parse(text) {
        return Some(event_id.to_string());
    }
    let id = match ruma::MatrixToUri::parse(text) {
        Ok(uri) => uri.id().clone(),
        Err(_) => ruma::MatrixUri::parse(text).ok()?.id().clone(),
    };
    match id {
        ruma::matrix_uri::MatrixId::Event(_, event_id) => Some(event_id.to_string()),
        _ => None,
    }
}

/// One line per recipient, named by `name_of`; the latest try of each counts, earlier failed
/// tries are mentioned. What `view` does not allow is left out: reading altogether, or every
/// person (then counts only).
pub fn report(
    texts: &Texts,
    rows: &[OutboxItem],
    name_of: impl Fn(&str) -> String,
    view: ReadView,
    zone: &Zone,
) -> String {
    let hidden: Vec<OutboxItem>;
    let rows = if view.reads {
        rows
    } else {
        hidden = rows.iter().cloned().map(without_read).collect();
        &hidden
    };
    let mut by_recipient: BTreeMap<&str, Vec<&OutboxItem>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.part == 0) {
        by_recipient
            .entry(row.recipient.as_str())
            .or_default()
            .push(row);
    }
    if by_recipient.is_empty() {
        return tr!(texts, "status-not-sent");
    }
    if !view.per_person {
        let latest = by_recipient
            .values()
            .map(|tries| *tries.iter().max_by_key(|r| r.resend).expect("non-empty"));
        return counts(texts, latest, view.reads);
    }
    let parts = rows.iter().map(|r| r.part + 1).max().unwrap_or(1);
    let mut lines = Vec::new();
    if parts > 1 {
        lines.push(tr!(texts, "status-parts", parts = parts));
    }
    for (recipient, tries) in by_recipient {
        let latest = tries.iter().max_by_key(|r| r.resend).expect("non-empty");
        let mut line = format!(
            "• {} ({recipient}): {}",
            name_of(recipient),
            state(texts, latest, zone)
        );
        let earlier = tries.len() - 1;
        if earlier > 0 {
            line.push_str(" — ");
            line.push_str(&tr!(texts, "status-earlier-tries", count = earlier));
        }
        lines.push(line);
    }
    lines.join("\n")
}

/// A row as if the phone had never said it was read.
fn without_read(mut row: OutboxItem) -> OutboxItem {
    row.status.read_at = None;
    row
}

/// How many recipients are where, without naming anyone (`privacy.receipt_detail`).
fn counts<'r>(texts: &Texts, latest: impl Iterator<Item = &'r OutboxItem>, reads: bool) -> String {
    let (mut total, mut sent, mut received, mut read, mut failed, mut waiting) = (0, 0, 0, 0, 0, 0);
    for row in latest {
        total += 1;
        match row.state {
            OutboxState::Sent => {
                sent += 1;
                received += usize::from(row.status.received_at.is_some());
                read += usize::from(row.status.read_at.is_some());
            }
            OutboxState::Failed | OutboxState::Unknown => failed += 1,
            OutboxState::Queued | OutboxState::Sending => waiting += 1,
        }
    }
    match reads {
        true => tr!(
            texts,
            "status-counts-read",
            total = total,
            sent = sent,
            received = received,
            read = read,
            failed = failed,
            waiting = waiting
        ),
        false => tr!(
            texts,
            "status-counts",
            total = total,
            sent = sent,
            received = received,
            failed = failed,
            waiting = waiting
        ),
    }
}

fn state(texts: &Texts, row: &OutboxItem, zone: &Zone) -> String {
    let s = &row.status;
    let mut parts = Vec::new();
    match row.state {
        OutboxState::Queued => match row.hold_until {
            Some(until) => parts.push(tr!(texts, "status-held", at = time_in(until, zone))),
            None => parts.push(tr!(
                texts,
                "status-queued",
                at = time_in(row.created_at, zone)
            )),
        },
        OutboxState::Sending => parts.push(tr!(texts, "status-sending")),
        OutboxState::Failed => parts.push(tr!(
            texts,
            "status-failed",
            at = time_in(row.updated_at, zone),
            reason = row.error.as_deref().unwrap_or("?"),
            resend = RESEND_KEYS[0]
        )),
        OutboxState::Unknown => parts.push(tr!(
            texts,
            "status-unknown",
            at = time_in(row.updated_at, zone)
        )),
        OutboxState::Sent => {
            if let Some(at) = s.read_at {
                parts.push(tr!(texts, "status-read", at = time_in(at, zone)));
            }
            if let Some(at) = s.received_at {
                parts.push(tr!(texts, "status-received", at = time_in(at, zone)));
            }
            let sent = time_in(s.sent_at.unwrap_or(row.updated_at), zone);
            parts.push(tr!(texts, "status-sent", at = sent));
        }
    }
    if let (Some(reaction), Some(at)) = (s.reaction, s.reaction_at) {
        let at = time_in(at, zone);
        let shown = match reaction {
            Reaction::Acknowledged => tr!(texts, "status-acknowledged", at = at),
            Reaction::Declined => tr!(texts, "status-declined", at = at),
        };
        parts.insert(0, shown);
    }
    parts.join(" · ")
}

/// Unix milliseconds as `2026-11-22 10:02:11 UTC`, for records (exports, the audit trail).
pub fn time(ms: i64) -> String {
    time_in(ms, &Zone::default())
}

/// Unix milliseconds as `2026-11-22 10:02:11 CET`, in `zone` (`bridge.timezone`): what the
/// bot tells people.
pub fn time_in(ms: i64, zone: &Zone) -> String {
    // What retention.delivery_times_days left of a time: that it happened.
    if ms == 0 {
        return "(time no longer kept)".to_owned();
    }
    zone.time(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryStatus;

    fn row(recipient: &str, resend: i64, state: OutboxState) -> OutboxItem {
        OutboxItem {
            seq: 1,
            event_id: "$e".try_into().unwrap(),
            recipient: crate::threema::ThreemaId::parse(recipient).unwrap(),
            part: 0,
            room_id: "!r:x".try_into().unwrap(),
            sender: "@d:x".try_into().unwrap(),
            payload: "{}".into(),
            state,
            threema_message_id: None,
            error: None,
            attempts: 1,
            resend,
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_001_000,
            hold_until: None,
            broadcast_copy: false,
            status: DeliveryStatus::default(),
        }
    }

    #[test]
    fn event_references_are_read_from_ids_and_links() {
        assert_eq!(parse_event_ref("$abc:x.org").as_deref(), Some("$abc:x.org"));
        assert_eq!(
            parse_event_ref("https://matrix.to/#/!room:x.org/$Ab-C_d?via=x.org").as_deref(),
            Some("$Ab-C_d")
        );
        assert_eq!(
            parse_event_ref("https://matrix.to/#/%21room%3Ax.org/%24Ab%2BC?via=x.org").as_deref(),
            Some("$Ab+C")
        );
        assert_eq!(parse_event_ref("https://matrix.to/#/!room:x.org"), None);
        assert_eq!(parse_event_ref("hello"), None);
    }

    #[test]
    fn each_recipient_shows_its_latest_try_with_times() {
        let mut read = row("AAAAAAAA", 0, OutboxState::Sent);
        read.status = DeliveryStatus {
            sent_at: Some(1_700_000_001_000),
            received_at: Some(1_700_000_002_000),
            read_at: Some(1_700_000_003_000),
            reaction: Some(Reaction::Acknowledged),
            reaction_at: Some(1_700_000_004_000),
            ..Default::default()
        };
        let mut failed = row("BBBBBBBB", 0, OutboxState::Failed);
        failed.error = Some("no credits".into());
        let retried = row("BBBBBBBB", 1, OutboxState::Queued);
        let rows = [read, failed, retried];
        let text = report(
            &Texts::default(),
            &rows,
            |id| format!("Name {id}"),
            ReadView::FULL,
            &Zone::default(),
        );
        // Counts only, or without reading: what the works council's settings leave.
        let counts = ReadView {
            per_person: false,
            reads: true,
        };
        assert_eq!(
            report(
                &Texts::default(),
                &rows,
                |id| format!("Name {id}"),
                counts,
                &Zone::default()
            ),
            "2 recipient(s): sent 1 · received 1 · read 1 · failed 0 · on the way 1 (not per \
             person: privacy.receipt_detail)"
        );
        let unread = ReadView {
            per_person: true,
            reads: false,
        };
        let without = report(
            &Texts::default(),
            &rows,
            |id| format!("Name {id}"),
            unread,
            &Zone::default(),
        );
        assert!(
            without.contains("Name AAAAAAAA") && !without.contains("read 2023"),
            "{without}"
        );
        assert_eq!(
            text,
            "• Name AAAAAAAA (AAAAAAAA): 👍 acknowledged 2023-11-14 22:13:24 UTC · \
             read 2023-11-14 22:13:23 UTC · received 2023-11-14 22:13:22 UTC · \
             sent 2023-11-14 22:13:21 UTC\n\
             • Name BBBBBBBB (BBBBBBBB): queued since 2023-11-14 22:13:20 UTC — after 1 earlier \
             try(s)"
        );
    }

    #[test]
    fn failures_say_how_to_resend_and_unknown_events_say_so() {
        let mut failed = row("AAAAAAAA", 0, OutboxState::Failed);
        failed.error = Some("the Threema Gateway account has no credits left".into());
        let text = report(
            &Texts::default(),
            &[failed],
            |_| "Erika".into(),
            ReadView::FULL,
            &Zone::default(),
        );
        assert!(text.contains("failed at 2023-11-14 22:13:21 UTC: the Threema Gateway"));
        assert!(text.contains("react with 🔁"));
        let mut held = row("AAAAAAAA", 0, OutboxState::Queued);
        held.hold_until = Some(1_700_024_400_000);
        let berlin = Zone::named("Europe/Berlin").unwrap();
        let text = report(
            &Texts::default(),
            &[held],
            |_| "Erika".into(),
            ReadView::FULL,
            &berlin,
        );
        assert_eq!(
            text,
            "• Erika (AAAAAAAA): held until 2023-11-15 06:00:00 CET (the driver is off duty; \
             !urgent sends it now)"
        );
        assert!(
            report(
                &Texts::default(),
                &[],
                |_| String::new(),
                ReadView::FULL,
                &Zone::default()
            )
            .contains("not sent to Threema")
        );
    }
}
