//! Job cards, pure: what `POST /api/v1/jobs` asks for, how a card reads on the phone and in
//! the portal, and which answer of the driver moves it to which state.

use serde::{Deserialize, Serialize};

use bridge_convert::poll::{MAX_ANSWERS, MAX_POLL_TEXT_BYTES, MatrixPoll, Namespace, PollAnswer};

use super::Recipient;
use crate::{bridge::quick_codes::QuickCodes, texts::Texts, tr};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_FIELDS: usize = 20;
pub const MAX_FIELD_CHARS: usize = 500;

/// `POST /api/v1/jobs`, as the client sent it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    pub to: Recipient,
    #[serde(flatten)]
    pub job: Job,
    #[serde(default)]
    pub reference: Option<String>,
}

/// The card itself, as stored with the message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Job {
    pub title: String,
    /// In the order given: address, time window, order number, …
    #[serde(default)]
    pub fields: Vec<Field>,
    pub answers: Answers,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// What the driver may answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Answers {
    /// 👍 accepts, 👎 declines (Threema's agree / disagree on the card).
    AcceptDecline,
    /// One of these quick codes (`quick_codes:`) is the state: its meaning.
    QuickCodes { codes: Vec<String> },
    /// A poll on the phone (and in the portal): the chosen answer is the state.
    Choices { choices: Vec<String> },
}

/// A job's state: `open` until the driver answers.
pub const OPEN: &str = "open";
pub const ACCEPTED: &str = "accepted";
pub const DECLINED: &str = "declined";
pub const FAILED: &str = "failed";

impl Job {
    /// Why the card cannot go as asked, if so.
    pub fn problem(&self, codes: &QuickCodes) -> Option<String> {
        if self.title.trim().is_empty() || self.title.chars().count() > MAX_TITLE_CHARS {
            return Some(format!("title must have 1 to {MAX_TITLE_CHARS} characters"));
        }
        if self.fields.len() > MAX_FIELDS {
            return Some(format!("a job has at most {MAX_FIELDS} fields"));
        }
        let long = |s: &str| s.trim().is_empty() || s.chars().count() > MAX_FIELD_CHARS;
        if let Some(field) = self.fields.iter().find(|f| long(&f.name) || long(&f.value)) {
            return Some(format!(
                "field {:?}: name and value must have 1 to {MAX_FIELD_CHARS} characters",
                field.name.chars().take(40).collect::<String>()
            ));
        }
        match &self.answers {
            Answers::AcceptDecline => None,
            Answers::Choices { choices } if !(2..=MAX_ANSWERS).contains(&choices.len()) => Some(
                format!("answers.choices must have 2 to {MAX_ANSWERS} answers"),
            ),
            Answers::Choices { choices } => (choices.iter())
                .any(|c| c.trim().is_empty() || c.trim().len() > MAX_POLL_TEXT_BYTES)
                .then(|| format!("each answer must have 1 to {MAX_POLL_TEXT_BYTES} bytes")),
            Answers::QuickCodes { codes: asked } if asked.is_empty() => {
                Some("answers.codes is empty".into())
            }
            Answers::QuickCodes { codes: asked } => (asked.iter())
                .find(|code| codes.status(code).is_none())
                .map(|code| format!("answers.codes: {code:?} is not one of quick_codes")),
        }
    }

    /// The card as the driver reads it (and the portal shows it).
    pub fn render(&self, texts: &Texts, codes: &QuickCodes) -> String {
        let mut lines = vec![tr!(texts, "job-title", title = self.title.trim())];
        lines.extend(
            (self.fields.iter()).map(|f| format!("• {}: {}", f.name.trim(), f.value.trim())),
        );
        lines.push(match &self.answers {
            Answers::AcceptDecline => tr!(texts, "job-answer-accept-decline"),
            Answers::QuickCodes { codes: asked } => {
                let choices: Vec<String> = (asked.iter())
                    .filter_map(|code| codes.status(code))
                    .map(|s| format!("{} = {}", s.code, s.meaning))
                    .collect();
                tr!(texts, "job-answer-codes", codes = choices.join(", "))
            }
            Answers::Choices { .. } => tr!(texts, "job-answer-poll"),
        });
        lines.join("\n")
    }

    /// The poll the driver answers in (choice ids `1`, `2`, … in order), for `Choices`.
    pub fn poll(&self) -> Option<MatrixPoll> {
        let Answers::Choices { choices } = &self.answers else {
            return None;
        };
        Some(MatrixPoll {
            question: self.title.trim().to_owned(),
            answers: (choices.iter().enumerate())
                .map(|(i, text)| PollAnswer {
                    id: (i + 1).to_string(),
                    text: text.trim().to_owned(),
                })
                .collect(),
            multiple: false,
            namespace: Namespace::Unstable,
        })
    }

    /// The state the driver's vote for `chosen` (answers' texts) moves it to.
    pub fn state_of_vote(&self, chosen: &[String]) -> Option<String> {
        match &self.answers {
            Answers::Choices { .. } => chosen.first().cloned(),
            _ => None,
        }
    }

    /// The state a 👍 (`true`) or 👎 on the card moves it to.
    pub fn state_of_reaction(&self, acknowledged: bool) -> Option<&'static str> {
        match (&self.answers, acknowledged) {
            (Answers::AcceptDecline, true) => Some(ACCEPTED),
            (Answers::AcceptDecline, false) => Some(DECLINED),
            (Answers::QuickCodes { .. } | Answers::Choices { .. }, _) => None,
        }
    }

    /// The state the driver's quick code `code` moves it to: its meaning, if the card asks
    /// for that code.
    pub fn state_of_code(&self, code: &str, meaning: &str) -> Option<String> {
        match &self.answers {
            Answers::QuickCodes { codes } if codes.iter().any(|c| c.trim() == code.trim()) => {
                Some(meaning.to_owned())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn codes() -> QuickCodes {
        let map: BTreeMap<String, String> = [("1", "arrived"), ("2", "loaded")]
            .map(|(c, m)| (c.into(), m.into()))
            .into();
        QuickCodes::new(&map)
    }

    #[test]
    fn a_card_reads_title_fields_and_how_to_answer() {
        let job: JobRequest = serde_json::from_value(serde_json::json!({
            "to": {"employee_id": "E-1"},
            "title": "Tour 17",
            "fields": [{"name": "Address", "value": "Hafenstr. 1"}, {"name": "Window", "value": "14:00–15:00"}],
            "answers": {"kind": "quick_codes", "codes": ["1", "2"]},
        }))
        .unwrap();
        let texts = Texts::default();
        assert_eq!(job.job.problem(&codes()), None);
        assert_eq!(
            job.job.render(&texts, &codes()),
            "📋 Job: Tour 17\n• Address: Hafenstr. 1\n• Window: 14:00–15:00\n\
             Answer with a code: 1 = arrived, 2 = loaded"
        );
        assert_eq!(
            job.job.state_of_code("2", "loaded").as_deref(),
            Some("loaded")
        );
        assert_eq!(job.job.state_of_reaction(true), None);
        let agree = Job {
            answers: Answers::AcceptDecline,
            ..job.job.clone()
        };
        assert_eq!(agree.state_of_reaction(false), Some(DECLINED));
        assert_eq!(agree.state_of_code("2", "loaded"), None);
        let unknown = Job {
            answers: Answers::QuickCodes {
                codes: vec!["9".into()],
            },
            ..job.job
        };
        assert!(unknown.problem(&codes()).unwrap().contains("\"9\""));
        let polled = Job {
            answers: Answers::Choices {
                choices: vec!["Jetzt".into(), " Später ".into()],
            },
            ..agree.clone()
        };
        assert_eq!(polled.problem(&codes()), None);
        let poll = polled.poll().unwrap();
        assert_eq!(
            (poll.question.as_str(), poll.answers[1].text.as_str()),
            ("Tour 17", "Später")
        );
        assert_eq!(
            polled.state_of_vote(&["Später".into()]).as_deref(),
            Some("Später")
        );
        assert_eq!(agree.state_of_vote(&["Später".into()]), None);
        let single = Job {
            answers: Answers::Choices {
                choices: vec!["Ja".into()],
            },
            ..agree
        };
        assert!(single.problem(&codes()).unwrap().contains("2 to 20"));
    }
}
