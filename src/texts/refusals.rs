//! Why a dispatcher's event did not go to Threema ([`Refusal`], decided by the pure planning),
//! in the desk's language.

use bridge_convert::plan::Refusal;

use super::Texts;

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
            Refusal::EncryptedAttachment => tr!(self, "refused-encrypted-attachment"),
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
