//! Why a dispatcher's event did not go to Threema ([`Refusal`], decided by the pure planning)
//! and why an admin's data-protection command changed nothing ([`Refused`], [`Unfinished`]),
//! in the desk's language.

use bridge_convert::plan::Refusal;

use super::Texts;
use crate::{
    bridge::lifecycle::{Refused, Unfinished},
    store::HoldTarget,
};

impl Texts {
    pub fn refusal(&self, refusal: &Refusal) -> String {
        match refusal {
            Refusal::EditOfParts => tr!(self, "refused-edit-of-parts"),
            Refusal::EditOfColleagues => tr!(self, "refused-edit-of-colleagues"),
            Refusal::EditOfDrivers => tr!(self, "refused-edit-of-drivers"),
            Refusal::DeleteOfColleagues => tr!(self, "refused-delete-of-colleagues"),
            Refusal::DeleteOfDrivers => tr!(self, "refused-delete-of-drivers"),
            Refusal::UnsupportedType(msgtype) => {
                tr!(self, "refused-type", msgtype = msgtype.as_str())
            }
            Refusal::BadLocation => tr!(self, "refused-location"),
            Refusal::EditNotText => tr!(self, "refused-edit-not-text"),
            Refusal::EditTooLong(bytes) => tr!(
                self,
                "refused-edit-too-long",
                bytes = *bytes,
                max = bridge_convert::plan::MAX_TEXT_BYTES
            ),
            Refusal::PollQuestionTooLong => tr!(
                self,
                "refused-poll-question",
                max = bridge_convert::poll::MAX_POLL_TEXT_BYTES
            ),
            Refusal::PollAnswerTooLong(n) => tr!(
                self,
                "refused-poll-answer",
                n = *n,
                max = bridge_convert::poll::MAX_POLL_TEXT_BYTES
            ),
            Refusal::PollTooLarge => tr!(self, "refused-poll-too-large"),
            Refusal::PollEdited => tr!(self, "refused-poll-edited"),
            Refusal::PollNotUnderstood => tr!(self, "refused-poll-not-understood"),
            Refusal::PollEmpty => tr!(self, "refused-poll-empty"),
            Refusal::PollTooManyAnswers => tr!(self, "poll-too-many-answers"),
        }
    }
}

impl Texts {
    pub fn lifecycle_refused(&self, refused: &Refused) -> String {
        match refused {
            Refused::NotAUserId(text) => tr!(self, "refused-not-a-user-id", text = text.as_str()),
            Refused::NobodyNamed(text) => tr!(self, "refused-nobody-named", text = text.as_str()),
            Refused::NotARoomId(text) => tr!(self, "refused-not-a-room-id", text = text.as_str()),
            Refused::NotAPortalAlias { text, domain } => tr!(
                self,
                "refused-not-a-portal-alias",
                text = text.as_str(),
                domain = domain.as_str()
            ),
            Refused::NoPortal(driver) => tr!(self, "refused-no-portal", driver = driver.as_str()),
            Refused::StillActive(subject) => {
                tr!(self, "refused-still-active", subject = subject.said(self))
            }
            Refused::NothingToErase(subject) => {
                tr!(
                    self,
                    "refused-nothing-to-erase",
                    subject = subject.said(self)
                )
            }
            Refused::HoldWithoutReason => tr!(self, "refused-hold-without-reason"),
            Refused::NoHoldOn(target) => {
                tr!(
                    self,
                    "refused-no-hold-on",
                    target = self.hold_target(target)
                )
            }
        }
    }

    pub fn unfinished(&self, unfinished: &Unfinished) -> String {
        match unfinished {
            Unfinished::RoomDeleteFailed { room, task } => tr!(
                self,
                "unfinished-room-delete-failed",
                room = room.as_str(),
                task = task.as_str()
            ),
            Unfinished::RoomStillDeleting { room } => {
                tr!(self, "unfinished-room-deleting", room = room.as_str())
            }
            Unfinished::PurgeFailed { room, purge } => tr!(
                self,
                "unfinished-purge-failed",
                room = room.as_str(),
                purge = purge.as_str()
            ),
            Unfinished::PurgeStillRunning { room, purge } => tr!(
                self,
                "unfinished-purging",
                room = room.as_str(),
                purge = purge.as_str()
            ),
        }
    }

    /// What a legal hold is on: `employee E-17`, `room !abc:example.org`.
    pub fn hold_target(&self, target: &HoldTarget) -> String {
        let id = target.id();
        match target {
            HoldTarget::Employee(_) => tr!(self, "target-employee", id = id),
            HoldTarget::Driver(_) => tr!(self, "target-driver", id = id),
            HoldTarget::User(_) => tr!(self, "target-user", id = id),
            HoldTarget::Room(_) => tr!(self, "target-room", id = id),
        }
    }
}
