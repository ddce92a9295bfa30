//! Matrix → Threema, the pure part: what a dispatcher's event becomes on the driver's phone.
//! The result is stored in the outbox as JSON and sent later (`to_threema`), so everything the
//! send needs is in it; only media bytes are fetched at send time.

mod file;
mod poll;

use ruma::events::room::message::{
    FormattedBody, MessageFormat, MessageType, Relation, RoomMessageEventContent,
    RoomMessageEventContentWithoutRelation,
};
use serde::{Deserialize, Serialize};

use crate::{
    format,
    poll::{Namespace, PollAnswer},
};
use file::{file_parts, plan_file};
pub use poll::plan_poll;

/// The Gateway's limit for a text message, in UTF-8 bytes.
pub const MAX_TEXT_BYTES: usize = 3500;
/// Room for the quote header (`> quote #<16 hex>\n\n`) in front of a reply.
const QUOTE_HEADER_BYTES: usize = 27;

/// One Threema message to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outgoing {
    Text {
        text: String,
        /// A Matrix event this answers: quoted on Threema if it maps to a Threema message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
    },
    File(FileToSend),
    Location {
        latitude: f64,
        longitude: f64,
        accuracy_m: Option<f64>,
        name: Option<String>,
    },
    /// Replace the text of the message that `target` (a Matrix event) became.
    Edit {
        target: String,
        text: String,
    },
    /// Delete part `part` of what `target` became.
    Delete {
        target: String,
        part: i64,
    },
    /// Threema's agree (`agree`) or decline on the driver's message `target` (a Matrix event):
    /// a dispatcher's 👍 / 👎 on it.
    Agreement {
        target: String,
        agree: bool,
    },
    /// A quick reply in a broadcast (`!t <name>`): `text` is the template, filled in and signed
    /// for each recipient by the fan-out (it never reaches the Gateway as it is); `dispatcher`
    /// the sender's display name.
    Template {
        text: String,
        dispatcher: String,
    },
    /// A poll for the driver (Threema's poll-setup); their votes come back as Matrix poll
    /// responses in `namespace`.
    Poll(PollToSend),
    /// Close the poll that `target` (a Matrix event) became on the phone, with its results.
    PollClose {
        target: String,
    },
    /// The company's vote in the driver's poll that `target` (a Matrix event) shows: the
    /// Matrix ids of the answers chosen (none takes the vote back).
    PollVote {
        target: String,
        answers: Vec<String>,
    },
}

/// A poll as it goes to the phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollToSend {
    /// Threema's poll id: random, kept with the item so a retry sends the same poll.
    pub poll_id: u64,
    /// Signed like a message.
    pub question: String,
    /// In order; the Threema choice ids are their positions.
    pub answers: Vec<PollAnswer>,
    pub multiple: bool,
    pub namespace: Namespace,
    /// The broadcast's event in its room, for a broadcast's poll (its board counts the votes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileToSend {
    pub mxc: String,
    /// In an encrypted room: how to decrypt what `mxc` holds (the message's `file`: key, IV,
    /// hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<serde_json::Value>,
    pub mimetype: String,
    pub file_name: Option<String>,
    pub caption: Option<String>,
    pub thumbnail_mxc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_encrypted: Option<serde_json::Value>,
    pub thumbnail_mimetype: Option<String>,
    /// Shown inline (image, video, audio) rather than as a file.
    pub media: bool,
    pub width_height: Option<(u32, u32)>,
    pub duration_s: Option<f32>,
    /// Goes to many recipients (a broadcast): its blobs are uploaded once and shared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

/// What to do with a dispatcher's event.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Send(Vec<Outgoing>),
    /// Cannot go to Threema: tell the dispatcher why (a notice replying to the event).
    Refuse(Refusal),
}

/// Why a dispatcher's event cannot go to Threema; the bridge says it in the desk's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An edit of a message that went in several parts.
    EditOfParts,
    /// An edit of a colleague's message.
    EditOfColleagues,
    /// An edit of a driver's message.
    EditOfDrivers,
    /// A deletion of a colleague's message (removed on the desk only).
    DeleteOfColleagues,
    /// A deletion of a driver's message (removed on the desk only).
    DeleteOfDrivers,
    /// A message type Threema has nothing for.
    UnsupportedType(String),
    /// A location whose `geo:` URI does not parse.
    BadLocation,
    /// An edit into something other than text.
    EditNotText,
    /// An edit longer than Threema's text (its bytes).
    EditTooLong(usize),
    /// A poll's question, signed, is longer than Threema takes.
    PollQuestionTooLong,
    /// A poll's answer (1-based) is longer than Threema takes.
    PollAnswerTooLong(usize),
    /// A poll's question and answers together are more than a Threema poll holds.
    PollTooLarge,
    /// A poll's edit.
    PollEdited,
    /// A poll in a form the bridge does not read.
    PollNotUnderstood,
    /// A poll without question or answers.
    PollEmpty,
    /// More answers than Matrix polls hold.
    PollTooManyAnswers,
}

/// How the driver sees who wrote.
#[derive(Debug, Clone, Copy)]
pub struct Relay<'a> {
    pub template: &'a str,
    pub emote_template: &'a str,
    pub display_name: &'a str,
}

impl Relay<'_> {
    pub(crate) fn render(&self, template: &str, body: &str) -> String {
        template
            .replace("{displayname}", self.display_name)
            .replace("{body}", body)
    }

    /// The template around an empty body, to know how many bytes the signature takes.
    fn overhead(&self, template: &str) -> usize {
        self.render(template, "").len()
    }
}

/// A deployment's signatures (`bridge.relay_template`, `emote_template`): each dispatcher's
/// [`Relay`] is made from them with their display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayTemplates {
    pub template: String,
    pub emote_template: String,
}

impl RelayTemplates {
    /// How `display_name`'s messages are signed.
    pub fn by<'a>(&'a self, display_name: &'a str) -> Relay<'a> {
        Relay {
            template: &self.template,
            emote_template: &self.emote_template,
            display_name,
        }
    }
}

/// What the edited event became on Threema, as far as planning an edit needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditTarget {
    /// The editor's own message, sent in this many parts.
    Ours { parts: usize },
    /// A colleague's message (or a broadcast of theirs): only its author changes what the
    /// driver has, so that an edit or a delete on the phone is always its author's.
    Colleagues,
    /// A driver's message.
    Theirs,
    /// Not bridged.
    Unknown,
}

/// Plans a new message or an edit (`m.replace`). `edit_target` says what the edited event is;
/// it is only consulted for edits.
pub fn plan_message(
    content: &RoomMessageEventContent,
    relay: Relay<'_>,
    edit_target: impl FnOnce(&str) -> EditTarget,
) -> Plan {
    match &content.relates_to {
        Some(Relation::Replacement(replacement)) => {
            let target = replacement.event_id.to_string();
            match edit_target(&target) {
                EditTarget::Ours { parts: 1 } => plan_edit(&replacement.new_content, relay, target),
                EditTarget::Ours { .. } => Plan::Refuse(Refusal::EditOfParts),
                EditTarget::Colleagues => Plan::Refuse(Refusal::EditOfColleagues),
                EditTarget::Theirs => Plan::Refuse(Refusal::EditOfDrivers),
                EditTarget::Unknown => Plan::Send(Vec::new()),
            }
        }
        relation => {
            let reply_to = match relation {
                Some(Relation::Reply(reply)) => Some(reply.in_reply_to.event_id.to_string()),
                Some(Relation::Thread(thread)) => {
                    thread.in_reply_to.as_ref().map(|r| r.event_id.to_string())
                }
                _ => None,
            };
            plan_new(&content.msgtype, relay, reply_to)
        }
    }
}

/// Plans a redaction of a dispatcher's message sent in `parts` parts.
pub fn plan_redaction(target: &str, what: EditTarget) -> Plan {
    match what {
        EditTarget::Ours { parts } => Plan::Send(
            (0..parts as i64)
                .map(|part| Outgoing::Delete {
                    target: target.to_owned(),
                    part,
                })
                .collect(),
        ),
        EditTarget::Colleagues => Plan::Refuse(Refusal::DeleteOfColleagues),
        EditTarget::Theirs => Plan::Refuse(Refusal::DeleteOfDrivers),
        EditTarget::Unknown => Plan::Send(Vec::new()),
    }
}

fn plan_new(msgtype: &MessageType, relay: Relay<'_>, reply_to: Option<String>) -> Plan {
    if let Some((template, body)) = text_message(msgtype, relay) {
        return plan_text(&body, template, relay, reply_to);
    }
    if let MessageType::Location(c) = msgtype {
        return plan_location(&c.geo_uri, &c.body, relay);
    }
    match file_parts(msgtype) {
        Some(file) => plan_file(file, relay),
        None => Plan::Refuse(Refusal::UnsupportedType(msgtype.msgtype().to_owned())),
    }
}

/// A plain text of the bridge's making (a filled-in template, a vote's line), signed like a
/// dispatcher's message, in as many parts as it needs.
pub fn signed_text(body: &str, relay: Relay<'_>) -> Vec<Outgoing> {
    match plan_text(body, relay.template, relay, None) {
        Plan::Send(items) => items,
        Plan::Refuse(_) => unreachable!("plain text is always planned"),
    }
}

/// Text in as many parts as it needs, each signed; only the first answers `reply_to`.
fn plan_text(body: &str, template: &str, relay: Relay<'_>, reply_to: Option<String>) -> Plan {
    let budget = MAX_TEXT_BYTES - relay.overhead(template) - QUOTE_HEADER_BYTES;
    Plan::Send(
        format::split_text(body, budget)
            .into_iter()
            .enumerate()
            .map(|(i, part)| Outgoing::Text {
                text: relay.render(template, &part),
                reply_to: reply_to.clone().filter(|_| i == 0),
            })
            .collect(),
    )
}

/// A location, named by the signed description.
fn plan_location(geo_uri: &str, body: &str, relay: Relay<'_>) -> Plan {
    match parse_geo_uri(geo_uri) {
        Some((latitude, longitude, accuracy_m)) => Plan::Send(vec![Outgoing::Location {
            latitude,
            longitude,
            accuracy_m,
            name: Some(relay.render(relay.template, body.trim())),
        }]),
        None => Plan::Refuse(Refusal::BadLocation),
    }
}

fn plan_edit(
    new_content: &RoomMessageEventContentWithoutRelation,
    relay: Relay<'_>,
    target: String,
) -> Plan {
    let Some((template, body)) = text_message(&new_content.msgtype, relay) else {
        return Plan::Refuse(Refusal::EditNotText);
    };
    let text = relay.render(template, &body);
    if text.len() > MAX_TEXT_BYTES {
        return Plan::Refuse(Refusal::EditTooLong(text.len()));
    }
    Plan::Send(vec![Outgoing::Edit { target, text }])
}

/// For `m.text`, `m.notice` and `m.emote`: the relay template to use and the text in Threema
/// markup. `None` for every other msgtype.
fn text_message<'r>(msgtype: &MessageType, relay: Relay<'r>) -> Option<(&'r str, String)> {
    Some(match msgtype {
        MessageType::Text(c) => (relay.template, text_of(&c.body, c.formatted.as_ref())),
        MessageType::Notice(c) => (relay.template, text_of(&c.body, c.formatted.as_ref())),
        MessageType::Emote(c) => (relay.emote_template, text_of(&c.body, c.formatted.as_ref())),
        _ => return None,
    })
}

/// The message text in Threema markup: from the HTML when there is some, else the plain body,
/// without a reply fallback either way.
fn text_of(body: &str, formatted: Option<&FormattedBody>) -> String {
    match formatted {
        Some(f) if f.format == MessageFormat::Html => format::html_to_threema(&f.body),
        _ => format::strip_reply_fallback(body).to_owned(),
    }
}

/// `geo:<lat>,<lon>[,<alt>][;u=<uncertainty>][;…]` (RFC 5870) → latitude, longitude, accuracy.
pub fn parse_geo_uri(uri: &str) -> Option<(f64, f64, Option<f64>)> {
    let rest = uri.strip_prefix("geo:")?;
    let mut params = rest.split(';');
    let mut coords = params.next()?.split(',');
    let latitude: f64 = coords.next()?.trim().parse().ok()?;
    let longitude: f64 = coords.next()?.trim().parse().ok()?;
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return None;
    }
    let accuracy = params
        .filter_map(|p| p.strip_prefix("u="))
        .find_map(|u| u.parse::<f64>().ok());
    Some((latitude, longitude, accuracy))
}

#[cfg(test)]
mod tests;
