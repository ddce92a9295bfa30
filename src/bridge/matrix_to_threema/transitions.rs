//! PURE: the outbox's rules in one function. A row moves `queued → sending → sent | failed |
//! unknown`, back to `queued` when the Gateway was not reached, and from `queued` straight to
//! `failed` when it cannot go at all. `next` says, for a row's state and what just happened to
//! it, what to write (only if the row is still in the state it was read in) and what to do next;
//! the IO shell (`outbox`) carries that out and never decides anything itself.

use crate::store::OutboxState;

/// What just happened to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The row was read to work on it: the first time, on a retry, after a restart.
    Read,
    /// Its message is prepared (media fetched, quotes resolved, the key known).
    Ready,
    /// It cannot go, for good, and the Gateway was not asked: the reason, for the dispatcher.
    Refused(String),
    /// The Gateway's answer to the send.
    Answered(Answer),
}

/// How the Gateway answered a send, as far as the row's state is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Accepted, with the Threema message id.
    Accepted(String),
    /// The request went out and no answer came: the driver may have the message.
    NoAnswer(String),
    /// Not reached, or "try later" (5xx, 429): nothing was delivered.
    NotReached,
    /// Refused for good (no credits, unknown ID, …): the reason, for the dispatcher.
    Refused(String),
}

/// A state change, written only if the row is still in `from` (another process may have moved
/// it; then the row is read again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub from: OutboxState,
    pub to: OutboxState,
    pub message_id: Option<String>,
    pub error: Option<String>,
}

/// What the shell does after the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Fetch media, resolve quotes and the key: everything that can fail without the Gateway
    /// comes before `sending`.
    Prepare,
    /// Ask the Gateway.
    Send,
    /// Record the message in the chat (quotes and receipts refer to it): done.
    RecordSent,
    /// Tell the dispatcher it was not delivered: final.
    ReportFailure,
    /// Tell the dispatcher nobody knows whether it arrived; never resent by itself: final.
    ReportUnknown,
    /// Nothing was delivered: the durable queue tries again later.
    Retry,
    /// The event does not fit the state (the row moved on meanwhile): read it again.
    ReadAgain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub write: Option<Write>,
    pub then: Then,
}

/// Why an interrupted send is not repeated.
pub const INTERRUPTED: &str = "the bridge stopped while sending";

pub fn next(state: OutboxState, event: Event) -> Transition {
    use OutboxState::{Failed, Queued, Sending, Sent, Unknown};
    let stay = |then| Transition { write: None, then };
    let write = |from, to, message_id, error, then| Transition {
        write: Some(Write {
            from,
            to,
            message_id,
            error,
        }),
        then,
    };
    match (state, event) {
        // Final states say what they are again (a retry after the answer was recorded).
        (Sent, _) => stay(Then::RecordSent),
        (Failed, _) => stay(Then::ReportFailure),
        (Unknown, _) => stay(Then::ReportUnknown),
        (Queued, Event::Read) => stay(Then::Prepare),
        (Queued, Event::Ready) => write(Queued, Sending, None, None, Then::Send),
        (Queued, Event::Refused(reason)) => {
            write(Queued, Failed, None, Some(reason), Then::ReportFailure)
        }
        // Found in `sending`: the bridge died during the call, so the driver may have it.
        (Sending, Event::Read) => write(
            Sending,
            Unknown,
            None,
            Some(INTERRUPTED.into()),
            Then::ReportUnknown,
        ),
        (Sending, Event::Answered(answer)) => match answer {
            Answer::Accepted(id) => write(Sending, Sent, Some(id), None, Then::RecordSent),
            Answer::NoAnswer(error) => {
                write(Sending, Unknown, None, Some(error), Then::ReportUnknown)
            }
            Answer::NotReached => write(Sending, Queued, None, None, Then::Retry),
            Answer::Refused(reason) => {
                write(Sending, Failed, None, Some(reason), Then::ReportFailure)
            }
        },
        (Queued, Event::Answered(_)) | (Sending, Event::Ready | Event::Refused(_)) => {
            stay(Then::ReadAgain)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OutboxState::*;

    fn w(
        from: OutboxState,
        to: OutboxState,
        id: Option<&str>,
        error: Option<&str>,
    ) -> Option<Write> {
        Some(Write {
            from,
            to,
            message_id: id.map(Into::into),
            error: error.map(Into::into),
        })
    }

    #[test]
    fn every_state_and_event() {
        let refused = || Event::Refused("no such ID".into());
        let answered = |a: Answer| Event::Answered(a);
        let cases: Vec<(OutboxState, Event, Option<Write>, Then)> = vec![
            (Queued, Event::Read, None, Then::Prepare),
            (
                Queued,
                Event::Ready,
                w(Queued, Sending, None, None),
                Then::Send,
            ),
            (
                Queued,
                refused(),
                w(Queued, Failed, None, Some("no such ID")),
                Then::ReportFailure,
            ),
            (Queued, answered(Answer::NotReached), None, Then::ReadAgain),
            (
                Sending,
                Event::Read,
                w(Sending, Unknown, None, Some(INTERRUPTED)),
                Then::ReportUnknown,
            ),
            (
                Sending,
                answered(Answer::Accepted("0102030405060708".into())),
                w(Sending, Sent, Some("0102030405060708"), None),
                Then::RecordSent,
            ),
            (
                Sending,
                answered(Answer::NoAnswer("timed out".into())),
                w(Sending, Unknown, None, Some("timed out")),
                Then::ReportUnknown,
            ),
            (
                Sending,
                answered(Answer::NotReached),
                w(Sending, Queued, None, None),
                Then::Retry,
            ),
            (
                Sending,
                answered(Answer::Refused("no credits".into())),
                w(Sending, Failed, None, Some("no credits")),
                Then::ReportFailure,
            ),
            (Sending, Event::Ready, None, Then::ReadAgain),
            (Sending, refused(), None, Then::ReadAgain),
            (Sent, Event::Read, None, Then::RecordSent),
            (Sent, refused(), None, Then::RecordSent),
            (Failed, Event::Read, None, Then::ReportFailure),
            (Unknown, Event::Read, None, Then::ReportUnknown),
            (Unknown, refused(), None, Then::ReportUnknown),
        ];
        for (state, event, write, then) in cases {
            let what = format!("{state:?} + {event:?}");
            assert_eq!(next(state, event), Transition { write, then }, "{what}");
        }
    }

    #[test]
    fn a_send_is_asked_for_at_most_once_per_claim() {
        // Only the claim `queued → sending` leads to a send, and nothing leads from `sending`
        // to a send without passing `queued` again, so a row is never sent twice unawares.
        let events = || {
            [
                Event::Read,
                Event::Ready,
                Event::Refused("x".into()),
                Event::Answered(Answer::Accepted("id".into())),
                Event::Answered(Answer::NoAnswer("x".into())),
                Event::Answered(Answer::NotReached),
                Event::Answered(Answer::Refused("x".into())),
            ]
        };
        for state in [Queued, Sending, Sent, Failed, Unknown] {
            for event in events() {
                let t = next(state, event);
                if t.then == Then::Send {
                    assert_eq!(t.write, w(Queued, Sending, None, None));
                }
                if let Some(write) = &t.write {
                    assert_eq!(write.from, state);
                }
            }
        }
    }
}
