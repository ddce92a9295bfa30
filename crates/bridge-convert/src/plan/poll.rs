//! A dispatcher's Matrix poll as a Threema poll: the question signed like a message, the
//! answers in order, within Threema's limits.

use super::{Outgoing, Plan, PollToSend, Refusal, Relay};
use crate::poll::{MAX_POLL_TEXT_BYTES, MatrixPoll};

/// What Threema's poll-setup JSON may hold (6000 bytes), less room for its keys.
const MAX_POLL_CONTENT_BYTES: usize = 5000;

/// Plans `poll` for the phone as poll `poll_id` (random, chosen once by the caller);
/// `broadcast` names the broadcast it belongs to. A question or answer over Threema's limits
/// is refused with the reason.
pub fn plan_poll(
    poll: &MatrixPoll,
    relay: Relay<'_>,
    poll_id: u64,
    broadcast: Option<String>,
) -> Plan {
    let question = relay.render(relay.template, poll.question.trim());
    if question.len() > MAX_POLL_TEXT_BYTES {
        return Plan::Refuse(Refusal::PollQuestionTooLong);
    }
    if let Some(n) = poll
        .answers
        .iter()
        .position(|a| a.text.len() > MAX_POLL_TEXT_BYTES)
    {
        return Plan::Refuse(Refusal::PollAnswerTooLong(n + 1));
    }
    // As JSON, escapes and all, with room for each choice's keys.
    let json_len = |text: &str| serde_json::to_string(text).map_or(text.len() * 6, |j| j.len());
    let size: usize = json_len(&question)
        + (poll.answers.iter())
            .map(|a| json_len(&a.text) + 30)
            .sum::<usize>();
    if size > MAX_POLL_CONTENT_BYTES {
        return Plan::Refuse(Refusal::PollTooLarge);
    }
    Plan::Send(vec![Outgoing::Poll(PollToSend {
        poll_id,
        question,
        answers: poll.answers.clone(),
        multiple: poll.multiple,
        namespace: poll.namespace,
        broadcast,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poll::{Namespace, PollAnswer};

    fn poll(question: &str, answers: &[&str]) -> MatrixPoll {
        MatrixPoll {
            question: question.into(),
            answers: (answers.iter().enumerate())
                .map(|(i, text)| PollAnswer {
                    id: format!("a{i}"),
                    text: (*text).into(),
                })
                .collect(),
            multiple: false,
            namespace: Namespace::Unstable,
        }
    }

    const RELAY: Relay<'static> = Relay {
        template: "{displayname}: {body}",
        emote_template: "* {displayname} {body}",
        display_name: "Anna",
    };

    #[test]
    fn the_question_is_signed_and_the_answers_keep_their_ids() {
        let Plan::Send(items) = plan_poll(&poll("Take tour 17?", &["Yes", "No"]), RELAY, 9, None)
        else {
            panic!("refused")
        };
        let [Outgoing::Poll(sent)] = &items[..] else {
            panic!("{items:?}")
        };
        assert_eq!(sent.question, "Anna: Take tour 17?");
        assert_eq!(sent.poll_id, 9);
        assert_eq!(sent.answers[1].id, "a1");
        assert_eq!(sent.answers[1].text, "No");
    }

    #[test]
    fn what_threema_cannot_hold_is_refused() {
        let long = "x".repeat(251); // 257 bytes with "Anna: "
        assert!(matches!(
            plan_poll(&poll(&long, &["Yes"]), RELAY, 1, None),
            Plan::Refuse(Refusal::PollQuestionTooLong)
        ));
        let answer = "y".repeat(300);
        assert!(matches!(
            plan_poll(&poll("?", &[&answer]), RELAY, 1, None),
            Plan::Refuse(Refusal::PollAnswerTooLong(1))
        ));
        // Within the limits as text, not once escaped as JSON.
        let quoted: Vec<String> = (0..19).map(|_| "\"".repeat(200)).collect();
        let quoted: Vec<&str> = quoted.iter().map(String::as_str).collect();
        assert!(matches!(
            plan_poll(&poll("?", &quoted), RELAY, 1, None),
            Plan::Refuse(_)
        ));
        let many: Vec<String> = (0..20).map(|_| "z".repeat(250)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(matches!(
            plan_poll(&poll("?", &many), RELAY, 1, None),
            Plan::Refuse(_)
        ));
    }
}
