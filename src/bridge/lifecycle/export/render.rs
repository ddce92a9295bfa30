//! The export's readable files: pure functions from what was gathered to bytes.

use std::collections::HashMap;

use bridge_convert::poll::{self, MatrixPoll, Namespace, PollEvent};
use html_escape::encode_text;
use serde::Serialize;
use serde_json::Value;

use super::art15::Art15;
use crate::bridge::status::time;

/// One row of `delivery.csv`: a Threema message to or from the subject, as the bridge tracked it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeliveryLine {
    /// `out` (desk → driver) or `in` (driver → desk).
    pub direction: &'static str,
    pub event_id: String,
    /// The driver: the subject's own Threema ID, or a colleague's pseudonym.
    pub driver: String,
    pub threema_message_id: Option<String>,
    pub part: i64,
    pub resend: i64,
    /// The send's state (`out`), empty for `in`.
    pub state: String,
    pub sent_at: Option<String>,
    pub received_at: Option<String>,
    pub read_at: Option<String>,
    pub reaction: Option<String>,
    pub reaction_at: Option<String>,
    /// `in`: when the driver was told the desk read it.
    pub read_reported_at: Option<String>,
}

pub fn csv(lines: &[DeliveryLine]) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    for line in lines {
        out.serialize(line).expect("writing CSV to memory");
    }
    if lines.is_empty() {
        // The header alone, so the file says what it would hold.
        out.write_record([
            "direction",
            "event_id",
            "driver",
            "threema_message_id",
            "part",
            "resend",
            "state",
            "sent_at",
            "received_at",
            "read_at",
            "reaction",
            "reaction_at",
            "read_reported_at",
        ])
        .expect("writing CSV to memory");
    }
    out.into_inner().expect("flushing CSV to memory")
}

/// One JSON document per line.
pub fn jsonl<T: Serialize>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        serde_json::to_writer(&mut out, item).expect("JSON to memory");
        out.push(b'\n');
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:2em auto}\
    table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;\
    padding:.3em;text-align:left;vertical-align:top}.meta{color:#555;font-size:.9em}";

fn page(title: &str, body: &str) -> Vec<u8> {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body><h1>{}</h1>\n{body}</body></html>\n",
        encode_text(title),
        encode_text(title)
    )
    .into_bytes()
}

fn list(items: &[String]) -> String {
    let items: String = items
        .iter()
        .map(|i| format!("<li>{}</li>", encode_text(i)))
        .collect();
    format!("<ul>{items}</ul>\n")
}

pub fn art15_html(art15: &Art15) -> Vec<u8> {
    let mut body = format!(
        "<p>Controller: {}</p>\n<p>About: {}</p>\n",
        encode_text(&art15.controller),
        encode_text(&art15.subject.join(", "))
    );
    body += "<h2>Purposes</h2>\n";
    body += &list(&art15.purposes);
    body += "<h2>Data held</h2>\n<table><tr><th>Category</th><th>In this export</th></tr>\n";
    for c in &art15.categories {
        body += &format!(
            "<tr><td>{}</td><td>{}</td></tr>\n",
            encode_text(&c.category),
            encode_text(&c.in_export)
        );
    }
    body += "</table>\n<h2>Recipients</h2>\n";
    body += &list(&art15.recipients);
    body += "<h2>How long it is kept</h2>\n<table>\n";
    for p in &art15.retention {
        body += &format!(
            "<tr><td>{}</td><td>{}</td></tr>\n",
            encode_text(&p.what),
            encode_text(&p.kept)
        );
    }
    body += "</table>\n<h2>Where it comes from</h2>\n";
    body += &list(&art15.sources);
    body += &format!(
        "<h2>Your rights</h2>\n<p>{}</p>\n",
        encode_text(&art15.rights)
    );
    if let Some(notice) = &art15.privacy_notice {
        body += &format!("<h2>Privacy notice</h2>\n<p>{}</p>\n", encode_text(notice));
    }
    page("Information about your data (Art. 15 GDPR)", &body)
}

/// The history as a table: time, sender, what it is, and its delivery status.
pub fn messages_html(events: &[Value]) -> Vec<u8> {
    let mut body = format!("<p class=\"meta\">{} event(s)</p>\n", events.len());
    body += "<table><tr><th>Time</th><th>From</th><th>Message</th><th>Status</th></tr>\n";
    let polls = polls(events);
    for event in events {
        let ts = event["origin_server_ts"].as_i64().unwrap_or_default();
        let sender = event["sender"].as_str().unwrap_or_default();
        let mut what = encode_text(&summary(event, &polls)).into_owned();
        if let Some(file) = event["export"]["media"].as_str() {
            what += &format!(
                " <a href=\"{}\">{}</a>",
                html_escape::encode_double_quoted_attribute(file),
                encode_text(file)
            );
        }
        body += &format!(
            "<tr><td>{}</td><td>{}</td><td>{what}</td><td class=\"meta\">{}</td></tr>\n",
            encode_text(&time(ts)),
            encode_text(sender),
            encode_text(&status(&event["export"]["delivery"])),
        );
    }
    body += "</table>\n";
    page("Messages", &body)
}

/// The polls among `events`: each start's event id with the poll, so that a vote can be shown
/// by its answers' texts.
fn polls(events: &[Value]) -> HashMap<&str, MatrixPoll> {
    (events.iter())
        .filter_map(|e| {
            let kind = e["type"].as_str()?;
            let poll = poll::read_start(kind, &e["content"]).ok()?;
            Some((e["event_id"].as_str()?, poll))
        })
        .collect()
}

/// What an event says, in a line.
fn summary(event: &Value, polls: &HashMap<&str, MatrixPoll>) -> String {
    let content = &event["content"];
    let kind = event["type"].as_str().unwrap_or_default();
    if let Some(body) = content["body"].as_str() {
        return body.to_owned();
    }
    match Namespace::of(kind) {
        Some((_, PollEvent::Start)) => {
            if let Ok(poll) = poll::read_start(kind, content) {
                let answers: Vec<&str> = poll.answers.iter().map(|a| a.text.as_str()).collect();
                return format!("poll: {} ({})", poll.question, answers.join(" / "));
            }
        }
        Some((_, PollEvent::Response)) => {
            if let Some((start, chosen)) = poll::read_response(kind, content) {
                let texts: Vec<String> = match polls.get(start.as_str()) {
                    Some(poll) => (poll.answers.iter())
                        .filter(|a| chosen.contains(&a.id))
                        .map(|a| a.text.clone())
                        .collect(),
                    None => chosen,
                };
                return match texts.is_empty() {
                    true => "vote taken back".into(),
                    false => format!("vote: {}", texts.join(", ")),
                };
            }
        }
        Some((_, PollEvent::End)) => {
            let text = (content["org.matrix.msc1767.text"].as_str())
                .or_else(|| content["m.text"][0]["body"].as_str())
                .unwrap_or("poll ended");
            return text.to_owned();
        }
        None => {}
    }
    match kind {
        "m.room.member" => format!(
            "{} {}",
            event["state_key"].as_str().unwrap_or_default(),
            content["membership"].as_str().unwrap_or_default()
        ),
        "m.room.name" => format!(
            "room name: {}",
            content["name"].as_str().unwrap_or_default()
        ),
        "m.room.topic" => format!(
            "room topic: {}",
            content["topic"].as_str().unwrap_or_default()
        ),
        "m.reaction" => format!(
            "reaction {}",
            content["m.relates_to"]["key"].as_str().unwrap_or_default()
        ),
        _ if content.as_object().is_some_and(|c| c.is_empty()) => format!("{kind} (removed)"),
        _ => kind.to_owned(),
    }
}

/// The delivery rows of an event, in a line.
fn status(delivery: &Value) -> String {
    let Some(rows) = delivery.as_array() else {
        return String::new();
    };
    rows.iter()
        .map(|row| {
            let mut parts = vec![row["state"].as_str().unwrap_or_default().to_owned()];
            for key in ["received_at", "read_at", "read_reported_at"] {
                if let Some(at) = row[key].as_str() {
                    parts.push(format!("{} {at}", key.trim_end_matches("_at")));
                }
            }
            parts.retain(|p| !p.is_empty());
            parts.join(", ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_history_page_escapes_and_links_media() {
        let events = vec![json!({
            "origin_server_ts": 0, "sender": "@a:x", "type": "m.room.message",
            "content": {"body": "<b>Stau</b>"},
            "export": {"media": "media/1.jpg", "delivery": [{"state": "sent", "read_at": "t"}]},
        })];
        let html = String::from_utf8(messages_html(&events)).unwrap();
        assert!(html.contains("&lt;b&gt;Stau&lt;/b&gt;"), "{html}");
        assert!(html.contains("href=\"media/1.jpg\""), "{html}");
        assert!(html.contains("sent, read t"), "{html}");
    }

    #[test]
    fn a_poll_and_the_votes_in_it_read_as_text() {
        let events = vec![
            json!({
                "event_id": "$poll", "origin_server_ts": 0, "sender": "@d:x",
                "type": "org.matrix.msc3381.poll.start",
                "content": {
                    "org.matrix.msc3381.poll.start": {
                        "kind": "org.matrix.msc3381.poll.disclosed", "max_selections": 1,
                        "question": {"org.matrix.msc1767.text": "Tour 17?"},
                        "answers": [{"id": "a", "org.matrix.msc1767.text": "Yes"},
                                    {"id": "b", "org.matrix.msc1767.text": "No"}]
                    },
                    "org.matrix.msc1767.text": "Tour 17?"
                },
            }),
            json!({
                "event_id": "$vote", "origin_server_ts": 1, "sender": "@threema_x:x",
                "type": "org.matrix.msc3381.poll.response",
                "content": {
                    "org.matrix.msc3381.poll.response": {"answers": ["b"]},
                    "m.relates_to": {"rel_type": "m.reference", "event_id": "$poll"}
                },
            }),
        ];
        let html = String::from_utf8(messages_html(&events)).unwrap();
        assert!(html.contains("poll: Tour 17? (Yes / No)"), "{html}");
        assert!(html.contains("vote: No"), "{html}");
    }

    #[test]
    fn an_empty_delivery_file_still_has_its_header() {
        let text = String::from_utf8(csv(&[])).unwrap();
        assert!(text.starts_with("direction,event_id,driver,"), "{text}");
    }
}
