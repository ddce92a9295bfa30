//! Drivers' quick codes (`quick_codes: {"1": "arrived", "2": "loaded"}`): a driver's message
//! that is exactly a code (any case, spaces around it ignored) is shown in the portal with its
//! meaning and counts as the driver's status, which the shared inbox's desk board shows. A
//! status is a report, not a question: it does not wait for an answer.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The configured codes, looked up by their folded form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuickCodes(BTreeMap<String, (String, String)>);

/// A message that is a code: the code as configured and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: String,
    pub meaning: String,
}

/// Marks a status event's content (what a client or the export may read back).
pub const STATUS_KEY: &str = "org.threema_bridge.quick_code";

impl QuickCodes {
    pub fn new(codes: &BTreeMap<String, String>) -> Self {
        QuickCodes(
            (codes.iter())
                .map(|(code, meaning)| {
                    let folded = code.trim().to_lowercase();
                    (folded, (code.trim().to_owned(), meaning.trim().to_owned()))
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The status a driver's text reports, if it is exactly a code.
    pub fn status(&self, text: &str) -> Option<Status> {
        let (code, meaning) = self.0.get(&text.trim().to_lowercase())?;
        Some(Status {
            code: code.clone(),
            meaning: meaning.clone(),
        })
    }
}

impl Status {
    /// The portal's message: the meaning first, the code as the driver typed it after.
    pub fn content(&self) -> Value {
        let meaning = html_escape::encode_text(&self.meaning);
        let code = html_escape::encode_text(&self.code);
        json!({
            "msgtype": "m.text",
            "body": format!("🏷️ {} ({})", self.meaning, self.code),
            "format": "org.matrix.custom.html",
            "formatted_body": format!("🏷️ <b>{meaning}</b> ({code})"),
            STATUS_KEY: {"code": self.code, "meaning": self.meaning},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> QuickCodes {
        QuickCodes::new(&BTreeMap::from([
            ("1".to_owned(), "arrived".to_owned()),
            ("OK".to_owned(), "all <fine>".to_owned()),
        ]))
    }

    #[test]
    fn only_a_message_that_is_exactly_a_code_is_a_status() {
        let codes = codes();
        assert_eq!(
            codes.status(" 1 "),
            Some(Status {
                code: "1".into(),
                meaning: "arrived".into()
            })
        );
        assert_eq!(codes.status("ok").unwrap().code, "OK", "any case");
        for text in ["1 km", "11", "", "arrived"] {
            assert_eq!(codes.status(text), None, "{text:?}");
        }
        assert!(QuickCodes::default().status("1").is_none());
    }

    #[test]
    fn a_status_shows_its_meaning_and_its_code() {
        let content = codes().status("ok").unwrap().content();
        assert_eq!(content["body"], "🏷️ all <fine> (OK)");
        assert_eq!(content["formatted_body"], "🏷️ <b>all &lt;fine&gt;</b> (OK)");
        assert_eq!(content[STATUS_KEY]["meaning"], "all <fine>");
    }
}
