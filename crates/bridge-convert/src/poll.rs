//! Polls, the pure part. A dispatcher's Matrix poll (MSC3381 as Element and Element X send it
//! today, or the stable `m.poll.*` names of Matrix 1.7) is read into what Threema's poll-setup
//! carries; a driver's Threema poll, their votes and the poll's end are written as Matrix poll
//! events in the namespace the poll's start uses, so that Element's own poll view counts them.

use ruma::{
    OwnedEventId, UInt,
    events::{
        message::TextContentBlock,
        poll::{
            end::PollEndEventContent,
            response::{PollResponseEventContent, SelectionsContentBlock},
            start::{
                PollAnswer as StableAnswer, PollContentBlock, PollKind, PollStartEventContent,
            },
            unstable_end::UnstablePollEndEventContent,
            unstable_response::UnstablePollResponseEventContent,
            unstable_start::{
                NewUnstablePollStartEventContent, UnstablePollAnswer,
                UnstablePollStartContentBlock, UnstablePollStartEventContent,
            },
        },
    },
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::Refusal;

/// Threema's limit for a poll's question and for each choice, in UTF-8 bytes (poll-setup).
pub const MAX_POLL_TEXT_BYTES: usize = 256;
/// Matrix's limit on a poll's answers (MSC3381).
pub const MAX_ANSWERS: usize = 20;

/// The names a poll's events use: MSC3381's, which today's room versions and clients use, or
/// Matrix 1.7's stable ones. Responses and ends use the start event's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    Unstable,
    Stable,
}

/// Which event of a poll's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollEvent {
    Start,
    Response,
    End,
}

impl Namespace {
    /// The namespace and kind of a poll event type; `None` for any other type.
    pub fn of(event_type: &str) -> Option<(Namespace, PollEvent)> {
        Some(match event_type {
            "org.matrix.msc3381.poll.start" => (Namespace::Unstable, PollEvent::Start),
            "org.matrix.msc3381.poll.response" => (Namespace::Unstable, PollEvent::Response),
            "org.matrix.msc3381.poll.end" => (Namespace::Unstable, PollEvent::End),
            "m.poll.start" => (Namespace::Stable, PollEvent::Start),
            "m.poll.response" => (Namespace::Stable, PollEvent::Response),
            "m.poll.end" => (Namespace::Stable, PollEvent::End),
            _ => return None,
        })
    }

    pub fn event_type(self, event: PollEvent) -> &'static str {
        match (self, event) {
            (Namespace::Unstable, PollEvent::Start) => "org.matrix.msc3381.poll.start",
            (Namespace::Unstable, PollEvent::Response) => "org.matrix.msc3381.poll.response",
            (Namespace::Unstable, PollEvent::End) => "org.matrix.msc3381.poll.end",
            (Namespace::Stable, PollEvent::Start) => "m.poll.start",
            (Namespace::Stable, PollEvent::Response) => "m.poll.response",
            (Namespace::Stable, PollEvent::End) => "m.poll.end",
        }
    }

    /// As the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Unstable => "unstable",
            Namespace::Stable => "stable",
        }
    }

    /// From the store; anything else is the namespace Element uses.
    pub fn parse(s: &str) -> Namespace {
        match s {
            "stable" => Namespace::Stable,
            _ => Namespace::Unstable,
        }
    }
}

/// One choice of a poll: its id on the Matrix side and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollAnswer {
    pub id: String,
    pub text: String,
}

/// A poll as a dispatcher started it in Matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixPoll {
    pub question: String,
    pub answers: Vec<PollAnswer>,
    /// More than one answer may be chosen.
    pub multiple: bool,
    pub namespace: Namespace,
}

/// Reads a poll start. `Err` says why it cannot go to Threema.
pub fn read_start(event_type: &str, content: &Value) -> Result<MatrixPoll, Refusal> {
    // Not the parser's words: they may quote the poll's text, and the reason is kept.
    let not_understood = |_: serde_json::Error| Refusal::PollNotUnderstood;
    let poll = match Namespace::of(event_type) {
        Some((Namespace::Unstable, PollEvent::Start)) => {
            match serde_json::from_value::<UnstablePollStartEventContent>(content.clone())
                .map_err(not_understood)?
            {
                UnstablePollStartEventContent::New(new) => {
                    let block = new.poll_start;
                    MatrixPoll {
                        question: block.question.text,
                        answers: (block.answers.iter())
                            .map(|a| PollAnswer {
                                id: a.id.clone(),
                                text: a.text.clone(),
                            })
                            .collect(),
                        multiple: block.max_selections > UInt::from(1u8),
                        namespace: Namespace::Unstable,
                    }
                }
                UnstablePollStartEventContent::Replacement(_) => return Err(Refusal::PollEdited),
                _ => return Err(Refusal::PollEdited),
            }
        }
        Some((Namespace::Stable, PollEvent::Start)) => {
            if content["m.relates_to"]["rel_type"] == "m.replace" {
                return Err(Refusal::PollEdited);
            }
            let start: PollStartEventContent =
                serde_json::from_value(content.clone()).map_err(not_understood)?;
            let plain = |text: &TextContentBlock| text.find_plain().unwrap_or_default().to_owned();
            MatrixPoll {
                question: plain(&start.poll.question.text),
                answers: (start.poll.answers.iter())
                    .map(|a| PollAnswer {
                        id: a.id.clone(),
                        text: plain(&a.text),
                    })
                    .collect(),
                multiple: start.poll.max_selections > UInt::from(1u8),
                namespace: Namespace::Stable,
            }
        }
        _ => return Err(Refusal::PollNotUnderstood),
    };
    if poll.question.trim().is_empty() || poll.answers.is_empty() {
        return Err(Refusal::PollEmpty);
    }
    Ok(poll)
}

/// The poll a response or an end refers to, and (for a response) the answers chosen; an empty
/// list takes the vote back. `None` when the event names no poll.
pub fn read_response(event_type: &str, content: &Value) -> Option<(String, Vec<String>)> {
    let target = reference(content)?;
    let answers = match Namespace::of(event_type)? {
        (Namespace::Unstable, PollEvent::Response) => {
            serde_json::from_value::<UnstablePollResponseEventContent>(content.clone())
                .ok()?
                .poll_response
                .answers
        }
        (Namespace::Stable, PollEvent::Response) => {
            serde_json::from_value::<PollResponseEventContent>(content.clone())
                .ok()?
                .selections
                .to_vec()
        }
        _ => return None,
    };
    Some((target, answers))
}

/// The event type of a poll start's content (a broadcast's copy of one); `None` for any other
/// content.
pub fn start_type_of(content: &Value) -> Option<&'static str> {
    let namespace = match () {
        _ if content.get("org.matrix.msc3381.poll.start").is_some() => Namespace::Unstable,
        _ if content.get("m.poll").is_some() => Namespace::Stable,
        _ => return None,
    };
    Some(namespace.event_type(PollEvent::Start))
}

/// The event an `m.reference` (a poll's response or end) points to.
pub fn reference(content: &Value) -> Option<String> {
    let relates = &content["m.relates_to"];
    (relates["rel_type"] == "m.reference")
        .then(|| relates["event_id"].as_str().map(str::to_owned))
        .flatten()
}

/// A driver's Threema poll as a Matrix poll start (its choice ids as the answers' ids), with a
/// text for clients without polls. `None` when Matrix cannot hold it (no choices, or more
/// than Matrix's 20): the caller shows it as text.
pub fn start_content(
    namespace: Namespace,
    question: &str,
    answers: &[PollAnswer],
    multiple: bool,
) -> Option<Value> {
    if answers.is_empty() || answers.len() > MAX_ANSWERS {
        return None;
    }
    let mut fallback = format!("📊 {question}");
    for (n, answer) in answers.iter().enumerate() {
        fallback.push_str(&format!("\n{}. {}", n + 1, answer.text));
    }
    let max = UInt::try_from(if multiple { answers.len() } else { 1 }).ok()?;
    let content = match namespace {
        Namespace::Unstable => {
            let list: Vec<UnstablePollAnswer> = (answers.iter())
                .map(|a| UnstablePollAnswer::new(a.id.clone(), a.text.clone()))
                .collect();
            let mut block = UnstablePollStartContentBlock::new(question, list.try_into().ok()?);
            block.max_selections = max;
            // As in the Threema app: the votes show as they come.
            block.kind = PollKind::Disclosed;
            serde_json::to_value(NewUnstablePollStartEventContent::plain_text(
                fallback, block,
            ))
        }
        Namespace::Stable => {
            let list: Vec<StableAnswer> = (answers.iter())
                .map(|a| StableAnswer::new(a.id.clone(), TextContentBlock::plain(a.text.clone())))
                .collect();
            let mut block =
                PollContentBlock::new(TextContentBlock::plain(question), list.try_into().ok()?);
            block.max_selections = max;
            block.kind = PollKind::Disclosed;
            serde_json::to_value(PollStartEventContent::with_plain_text(fallback, block))
        }
    };
    content.ok()
}

/// A vote: the answers chosen in the poll `start` (none takes the vote back).
pub fn response_content(namespace: Namespace, start: OwnedEventId, answers: Vec<String>) -> Value {
    let content = match namespace {
        Namespace::Unstable => {
            serde_json::to_value(UnstablePollResponseEventContent::new(answers, start))
        }
        Namespace::Stable => serde_json::to_value(PollResponseEventContent::new(
            SelectionsContentBlock::from(answers),
            start,
        )),
    };
    content.expect("poll responses serialise")
}

/// The end of the poll `start`, with the results as text for clients without polls.
pub fn end_content(namespace: Namespace, start: OwnedEventId, text: &str) -> Value {
    let content = match namespace {
        Namespace::Unstable => serde_json::to_value(UnstablePollEndEventContent::new(text, start)),
        Namespace::Stable => {
            serde_json::to_value(PollEndEventContent::with_plain_text(text, start))
        }
    };
    content.expect("poll ends serialise")
}

/// How many chose each answer, in the poll's order, from each voter's current choice.
pub fn tally<'a>(
    answers: &'a [PollAnswer],
    votes: impl IntoIterator<Item = &'a [String]>,
) -> Vec<(&'a PollAnswer, usize)> {
    let mut counts: Vec<(&PollAnswer, usize)> = answers.iter().map(|a| (a, 0)).collect();
    for chosen in votes {
        for (answer, count) in &mut counts {
            if chosen.contains(&answer.id) {
                *count += 1;
            }
        }
    }
    counts
}

/// `Yes 2 · No 1`: a tally as one line.
pub fn tally_line(tally: &[(&PollAnswer, usize)]) -> String {
    (tally.iter())
        .map(|(answer, n)| format!("{} {n}", answer.text))
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn element_poll() -> Value {
        // As Element Web sends it.
        json!({
            "org.matrix.msc3381.poll.start": {
                "kind": "org.matrix.msc3381.poll.disclosed",
                "max_selections": 1,
                "question": {"org.matrix.msc1767.text": "Take tour 17?", "body": "Take tour 17?", "msgtype": "m.text"},
                "answers": [
                    {"id": "a1", "org.matrix.msc1767.text": "Yes"},
                    {"id": "a2", "org.matrix.msc1767.text": "No"}
                ]
            },
            "org.matrix.msc1767.text": "Take tour 17?\n1. Yes\n2. No"
        })
    }

    #[test]
    fn a_poll_from_element_is_read_with_its_answer_ids() {
        let poll = read_start("org.matrix.msc3381.poll.start", &element_poll()).unwrap();
        assert_eq!(poll.question, "Take tour 17?");
        assert_eq!(
            poll.answers,
            vec![
                PollAnswer {
                    id: "a1".into(),
                    text: "Yes".into()
                },
                PollAnswer {
                    id: "a2".into(),
                    text: "No".into()
                }
            ]
        );
        assert!(!poll.multiple);
        assert_eq!(poll.namespace, Namespace::Unstable);
    }

    #[test]
    fn a_stable_poll_is_read_and_its_responses_use_the_stable_names() {
        let content = json!({
            "m.text": [{"body": "Lunch?"}],
            "m.poll": {
                "question": {"m.text": [{"body": "Lunch?"}]},
                "max_selections": 2,
                "answers": [
                    {"m.id": "x", "m.text": [{"body": "Pizza"}]},
                    {"m.id": "y", "m.text": [{"body": "Salad"}]}
                ]
            }
        });
        let poll = read_start("m.poll.start", &content).unwrap();
        assert_eq!(poll.question, "Lunch?");
        assert_eq!(poll.answers[1].id, "y");
        assert!(poll.multiple);
        let start = OwnedEventId::try_from("$start").unwrap();
        let response = response_content(Namespace::Stable, start.clone(), vec!["x".into()]);
        assert_eq!(response["m.selections"], json!(["x"]));
        assert_eq!(response["m.relates_to"]["event_id"], "$start");
        assert_eq!(
            read_response("m.poll.response", &response),
            Some(("$start".into(), vec!["x".into()]))
        );
        let end = end_content(Namespace::Stable, start, "Pizza 1");
        assert_eq!(reference(&end).as_deref(), Some("$start"));
    }

    #[test]
    fn a_poll_without_answers_or_an_edited_poll_is_refused() {
        let mut content = element_poll();
        content["org.matrix.msc3381.poll.start"]["answers"] = json!([]);
        assert!(read_start("org.matrix.msc3381.poll.start", &content).is_err());
        let mut edit = element_poll();
        edit["m.new_content"] = element_poll();
        edit["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": "$old"});
        assert_eq!(
            read_start("org.matrix.msc3381.poll.start", &edit),
            Err(Refusal::PollEdited)
        );
        assert!(read_start("m.room.message", &json!({"body": "hi"})).is_err());
    }

    #[test]
    fn a_drivers_poll_becomes_a_start_element_reads_back_and_votes_in() {
        let answers = vec![
            PollAnswer {
                id: "0".into(),
                text: "Now".into(),
            },
            PollAnswer {
                id: "1".into(),
                text: "Later".into(),
            },
        ];
        let content = start_content(Namespace::Unstable, "Unload?", &answers, false).unwrap();
        assert_eq!(
            start_type_of(&content),
            Some("org.matrix.msc3381.poll.start")
        );
        assert_eq!(start_type_of(&json!({"body": "hi"})), None);
        let read = read_start("org.matrix.msc3381.poll.start", &content).unwrap();
        assert_eq!(read.answers, answers);
        assert_eq!(read.question, "Unload?");
        assert!(
            content["org.matrix.msc1767.text"]
                .as_str()
                .unwrap()
                .contains("2. Later")
        );
        // A vote from Element.
        let vote = json!({
            "org.matrix.msc3381.poll.response": {"answers": ["1"]},
            "m.relates_to": {"rel_type": "m.reference", "event_id": "$poll"}
        });
        assert_eq!(
            read_response("org.matrix.msc3381.poll.response", &vote),
            Some(("$poll".into(), vec!["1".into()]))
        );
        let too_many: Vec<PollAnswer> = (0..21)
            .map(|i| PollAnswer {
                id: i.to_string(),
                text: i.to_string(),
            })
            .collect();
        assert_eq!(
            start_content(Namespace::Unstable, "?", &too_many, false),
            None
        );
    }

    #[test]
    fn the_tally_counts_each_voters_current_choice() {
        let answers = vec![
            PollAnswer {
                id: "a".into(),
                text: "Yes".into(),
            },
            PollAnswer {
                id: "b".into(),
                text: "No".into(),
            },
        ];
        let votes = [
            vec!["a".to_string()],
            vec!["a".to_string(), "b".to_string()],
            vec![],
        ];
        let tally = tally(&answers, votes.iter().map(Vec::as_slice));
        assert_eq!(tally_line(&tally), "Yes 2 · No 1");
    }
}
