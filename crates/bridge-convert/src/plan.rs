//! Matrix → Threema, the pure part: what a dispatcher's event becomes on the driver's phone.
//! The result is stored in the outbox as JSON and sent later (`to_threema`), so everything the
//! send needs is in it; only media bytes are fetched at send time.

use ruma::events::room::{
    MediaSource,
    message::{
        FormattedBody, MessageFormat, MessageType, Relation, RoomMessageEventContent,
        RoomMessageEventContentWithoutRelation,
    },
};
use serde::{Deserialize, Serialize};

use crate::format;

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileToSend {
    pub mxc: String,
    pub mimetype: String,
    pub file_name: Option<String>,
    pub caption: Option<String>,
    pub thumbnail_mxc: Option<String>,
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
    Refuse(String),
}

/// How the driver sees who wrote.
#[derive(Debug, Clone, Copy)]
pub struct Relay<'a> {
    pub template: &'a str,
    pub emote_template: &'a str,
    pub display_name: &'a str,
}

impl Relay<'_> {
    fn render(&self, template: &str, body: &str) -> String {
        template
            .replace("{displayname}", self.display_name)
            .replace("{body}", body)
    }

    /// The template around an empty body, to know how many bytes the signature takes.
    fn overhead(&self, template: &str) -> usize {
        self.render(template, "").len()
    }
}

/// What the edited event became on Threema, as far as planning an edit needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditTarget {
    /// A dispatcher's message sent in this many parts.
    Ours { parts: usize },
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
                EditTarget::Ours { .. } => Plan::Refuse(
                    "This message went to Threema in several parts, so the edit was not sent. \
                     Send the correction as a new message."
                        .into(),
                ),
                EditTarget::Theirs => {
                    Plan::Refuse("A driver's message cannot be edited on Threema.".into())
                }
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
        EditTarget::Theirs => Plan::Refuse(
            "Removed here only: a driver's message cannot be deleted on their phone.".into(),
        ),
        EditTarget::Unknown => Plan::Send(Vec::new()),
    }
}

fn plan_new(msgtype: &MessageType, relay: Relay<'_>, reply_to: Option<String>) -> Plan {
    if let Some((template, body)) = text_message(msgtype, relay) {
        let budget = MAX_TEXT_BYTES - relay.overhead(template) - QUOTE_HEADER_BYTES;
        return Plan::Send(
            format::split_text(&body, budget)
                .into_iter()
                .enumerate()
                .map(|(i, part)| Outgoing::Text {
                    text: relay.render(template, &part),
                    reply_to: reply_to.clone().filter(|_| i == 0),
                })
                .collect(),
        );
    }
    let file = match msgtype {
        MessageType::Location(c) => {
            return match parse_geo_uri(&c.geo_uri) {
                Some((latitude, longitude, accuracy_m)) => Plan::Send(vec![Outgoing::Location {
                    latitude,
                    longitude,
                    accuracy_m,
                    name: Some(relay.render(relay.template, c.body.trim())),
                }]),
                None => Plan::Refuse(format!(
                    "This location could not be sent: {:?} is not a geo: URI.",
                    c.geo_uri
                )),
            };
        }
        MessageType::Image(c) => {
            let info = c.info.as_deref();
            FileParts {
                thumbnail: info.and_then(|i| thumbnail(&i.thumbnail_source, &i.thumbnail_info)),
                width_height: info.and_then(|i| wh(i.width, i.height)),
                ..FileParts::new(
                    Attachment::of(&c.source, &c.body, &c.formatted, &c.filename),
                    info.and_then(|i| i.mimetype.as_deref()),
                    Some("image/jpeg"),
                )
            }
        }
        MessageType::Video(c) => {
            let info = c.info.as_deref();
            FileParts {
                thumbnail: info.and_then(|i| thumbnail(&i.thumbnail_source, &i.thumbnail_info)),
                width_height: info.and_then(|i| wh(i.width, i.height)),
                duration_s: info.and_then(|i| i.duration).map(|d| d.as_secs_f32()),
                ..FileParts::new(
                    Attachment::of(&c.source, &c.body, &c.formatted, &c.filename),
                    info.and_then(|i| i.mimetype.as_deref()),
                    Some("video/mp4"),
                )
            }
        }
        MessageType::Audio(c) => {
            let info = c.info.as_deref();
            FileParts {
                duration_s: info.and_then(|i| i.duration).map(|d| d.as_secs_f32()),
                ..FileParts::new(
                    Attachment::of(&c.source, &c.body, &c.formatted, &c.filename),
                    info.and_then(|i| i.mimetype.as_deref()),
                    Some("audio/ogg"),
                )
            }
        }
        MessageType::File(c) => {
            let info = c.info.as_deref();
            FileParts {
                thumbnail: info.and_then(|i| thumbnail(&i.thumbnail_source, &i.thumbnail_info)),
                ..FileParts::new(
                    Attachment::of(&c.source, &c.body, &c.formatted, &c.filename),
                    info.and_then(|i| i.mimetype.as_deref()),
                    None,
                )
            }
        }
        other => {
            return Plan::Refuse(format!(
                "Messages of type {} cannot be sent to Threema.",
                other.msgtype()
            ));
        }
    };
    plan_file(file, relay)
}

fn plan_edit(
    new_content: &RoomMessageEventContentWithoutRelation,
    relay: Relay<'_>,
    target: String,
) -> Plan {
    let Some((template, body)) = text_message(&new_content.msgtype, relay) else {
        return Plan::Refuse("Only text can be edited on Threema.".into());
    };
    let text = relay.render(template, &body);
    if text.len() > MAX_TEXT_BYTES {
        return Plan::Refuse(format!(
            "The edited text is too long for Threema ({} of at most {MAX_TEXT_BYTES} bytes); \
             the edit was not sent.",
            text.len()
        ));
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

/// The fields every Matrix media message has, whatever its msgtype.
struct Attachment<'a> {
    source: &'a MediaSource,
    body: &'a str,
    formatted: Option<&'a FormattedBody>,
    filename: Option<&'a str>,
}

impl<'a> Attachment<'a> {
    fn of(
        source: &'a MediaSource,
        body: &'a str,
        formatted: &'a Option<FormattedBody>,
        filename: &'a Option<String>,
    ) -> Self {
        Attachment {
            source,
            body,
            formatted: formatted.as_ref(),
            filename: filename.as_deref(),
        }
    }
}

/// An attachment with what its msgtype adds: media types, thumbnail, size, duration.
struct FileParts<'a> {
    attachment: Attachment<'a>,
    mimetype: &'a str,
    thumbnail: Option<(String, Option<String>)>,
    /// Shown inline (image, video, audio) rather than as a file.
    media: bool,
    width_height: Option<(u32, u32)>,
    duration_s: Option<f32>,
}

impl<'a> FileParts<'a> {
    /// `media_default` is the media type assumed when the event names none; `None` for a plain
    /// file, which is not shown inline.
    fn new(
        attachment: Attachment<'a>,
        mimetype: Option<&'a str>,
        media_default: Option<&'static str>,
    ) -> Self {
        FileParts {
            attachment,
            mimetype: mimetype
                .or(media_default)
                .unwrap_or("application/octet-stream"),
            thumbnail: None,
            media: media_default.is_some(),
            width_height: None,
            duration_s: None,
        }
    }
}

fn plan_file(parts: FileParts<'_>, relay: Relay<'_>) -> Plan {
    let Attachment {
        source,
        body,
        formatted,
        filename,
    } = parts.attachment;
    let MediaSource::Plain(mxc) = source else {
        return Plan::Refuse("Encrypted attachments cannot be sent to Threema.".into());
    };
    // Since Matrix 1.10 a `filename` different from `body` makes `body` a caption.
    let (file_name, caption) = match filename {
        Some(name) if name != body => (name, Some(text_of(body, formatted))),
        _ => (body, None),
    };
    // The driver should see who sent it, also without a caption.
    let caption = match caption {
        Some(caption) => relay.render(relay.template, &caption),
        None => relay.display_name.to_owned(),
    };
    let (thumbnail_mxc, thumbnail_mimetype) = parts.thumbnail.unzip();
    Plan::Send(vec![Outgoing::File(FileToSend {
        mxc: mxc.to_string(),
        mimetype: parts.mimetype.to_owned(),
        file_name: Some(file_name.to_owned()).filter(|n| !n.is_empty()),
        caption: Some(caption),
        thumbnail_mxc,
        thumbnail_mimetype: thumbnail_mimetype.flatten(),
        media: parts.media,
        width_height: parts.width_height,
        duration_s: parts.duration_s,
        shared: false,
    })])
}

fn thumbnail(
    source: &Option<MediaSource>,
    info: &Option<Box<ruma::events::room::ThumbnailInfo>>,
) -> Option<(String, Option<String>)> {
    match source {
        Some(MediaSource::Plain(mxc)) => Some((
            mxc.to_string(),
            info.as_ref().and_then(|i| i.mimetype.clone()),
        )),
        _ => None,
    }
}

fn wh(width: Option<ruma::UInt>, height: Option<ruma::UInt>) -> Option<(u32, u32)> {
    Some((u32::try_from(width?).ok()?, u32::try_from(height?).ok()?))
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
mod tests {
    use super::*;
    use serde_json::json;

    const RELAY: Relay<'static> = Relay {
        template: "{displayname}: {body}",
        emote_template: "* {displayname} {body}",
        display_name: "Anna Dispo",
    };

    fn content(value: serde_json::Value) -> RoomMessageEventContent {
        serde_json::from_value(value).unwrap()
    }

    fn plan(value: serde_json::Value) -> Plan {
        plan_message(&content(value), RELAY, |_| EditTarget::Unknown)
    }

    fn texts(plan: &Plan) -> Vec<String> {
        match plan {
            Plan::Send(items) => items
                .iter()
                .map(|o| match o {
                    Outgoing::Text { text, .. } => text.clone(),
                    other => panic!("not text: {other:?}"),
                })
                .collect(),
            Plan::Refuse(r) => panic!("refused: {r}"),
        }
    }

    #[test]
    fn text_notice_and_emote_carry_the_dispatchers_name() {
        assert_eq!(
            texts(&plan(
                json!({"msgtype": "m.text", "body": "Tour 7 fällt aus"})
            )),
            ["Anna Dispo: Tour 7 fällt aus"]
        );
        assert_eq!(
            texts(&plan(json!({"msgtype": "m.notice", "body": "Hinweis"}))),
            ["Anna Dispo: Hinweis"]
        );
        assert_eq!(
            texts(&plan(json!({"msgtype": "m.emote", "body": "winkt"}))),
            ["* Anna Dispo winkt"]
        );
    }

    #[test]
    fn a_reply_names_its_target_once_and_drops_the_fallback() {
        let plan = plan(json!({
            "msgtype": "m.text",
            "body": "> <@threema_abcd1234:d.test> Wo?\n\nAm Tor 3",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$orig"}}
        }));
        assert_eq!(
            plan,
            Plan::Send(vec![Outgoing::Text {
                text: "Anna Dispo: Am Tor 3".into(),
                reply_to: Some("$orig".into())
            }])
        );
    }

    #[test]
    fn long_text_is_split_into_signed_parts_within_the_limit() {
        let body = "Wort ".repeat(1500);
        let parts = texts(&plan(json!({"msgtype": "m.text", "body": body})));
        assert!(parts.len() >= 2, "{} parts", parts.len());
        for part in &parts {
            assert!(
                part.len() + QUOTE_HEADER_BYTES <= MAX_TEXT_BYTES,
                "{}",
                part.len()
            );
            assert!(part.starts_with("Anna Dispo: "));
        }
        let words: usize = parts
            .iter()
            .map(|p| {
                p.trim_start_matches("Anna Dispo: ")
                    .split_whitespace()
                    .count()
            })
            .sum();
        assert_eq!(words, 1500, "nothing lost");
    }

    #[test]
    fn an_image_keeps_its_caption_dimensions_and_thumbnail() {
        let plan = plan(json!({
            "msgtype": "m.image", "body": "Schaden hinten links", "filename": "IMG_1.jpg",
            "url": "mxc://d.test/abc",
            "info": {"mimetype": "image/jpeg", "size": 1234, "w": 640, "h": 480,
                     "thumbnail_url": "mxc://d.test/thumb", "thumbnail_info": {"mimetype": "image/png"}}
        }));
        assert_eq!(
            plan,
            Plan::Send(vec![Outgoing::File(FileToSend {
                mxc: "mxc://d.test/abc".into(),
                mimetype: "image/jpeg".into(),
                file_name: Some("IMG_1.jpg".into()),
                caption: Some("Anna Dispo: Schaden hinten links".into()),
                thumbnail_mxc: Some("mxc://d.test/thumb".into()),
                thumbnail_mimetype: Some("image/png".into()),
                media: true,
                width_height: Some((640, 480)),
                duration_s: None,
                shared: false,
            })])
        );
    }

    #[test]
    fn a_file_without_caption_is_signed_by_name() {
        let Plan::Send(items) = plan(json!({
            "msgtype": "m.file", "body": "Lieferschein.pdf", "url": "mxc://d.test/pdf",
            "info": {"mimetype": "application/pdf"}
        })) else {
            panic!()
        };
        let Outgoing::File(file) = &items[0] else {
            panic!()
        };
        assert_eq!(file.file_name.as_deref(), Some("Lieferschein.pdf"));
        assert_eq!(file.caption.as_deref(), Some("Anna Dispo"));
        assert!(!file.media);
    }

    #[test]
    fn encrypted_media_and_unknown_types_are_refused_with_a_reason() {
        let encrypted = plan(json!({
            "msgtype": "m.image", "body": "x.jpg",
            "file": {
                "url": "mxc://d.test/e", "v": "v2", "iv": "X85+XgHN+HEAAAAAAAAAAA",
                "key": {"kty": "oct", "key_ops": ["encrypt", "decrypt"], "alg": "A256CTR",
                        "k": "qcHVMSgYg-71CauWBezXI5qkaRb0LuIy-Wx5kIaHMIA", "ext": true},
                "hashes": {"sha256": "5qG4fFnbbVdlAB1Q72JDKwCagV6Dbkx9qpn4lLHuz84"}
            }
        }));
        assert!(matches!(encrypted, Plan::Refuse(r) if r.contains("Encrypted")));
        let custom = plan(json!({"msgtype": "org.example.custom", "body": "?"}));
        assert!(matches!(custom, Plan::Refuse(r) if r.contains("org.example.custom")));
    }

    #[test]
    fn location_goes_with_accuracy_and_a_signed_name() {
        let plan = plan(
            json!({"msgtype": "m.location", "body": "Rampe 4", "geo_uri": "geo:52.52,13.405;u=20"}),
        );
        assert_eq!(
            plan,
            Plan::Send(vec![Outgoing::Location {
                latitude: 52.52,
                longitude: 13.405,
                accuracy_m: Some(20.0),
                name: Some("Anna Dispo: Rampe 4".into())
            }])
        );
        assert_eq!(parse_geo_uri("geo:91,0"), None);
        assert_eq!(parse_geo_uri("http://x"), None);
        assert_eq!(parse_geo_uri("geo:1.5,-2.25,30"), Some((1.5, -2.25, None)));
    }

    #[test]
    fn edits_go_only_to_our_single_part_messages() {
        let edit = json!({
            "msgtype": "m.text", "body": "* Tor 4",
            "m.new_content": {"msgtype": "m.text", "body": "Tor 4"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}
        });
        let ours = plan_message(&content(edit.clone()), RELAY, |t| {
            assert_eq!(t, "$orig");
            EditTarget::Ours { parts: 1 }
        });
        assert_eq!(
            ours,
            Plan::Send(vec![Outgoing::Edit {
                target: "$orig".into(),
                text: "Anna Dispo: Tor 4".into()
            }])
        );
        let split = plan_message(&content(edit.clone()), RELAY, |_| EditTarget::Ours {
            parts: 2,
        });
        assert!(matches!(split, Plan::Refuse(_)));
        let theirs = plan_message(&content(edit.clone()), RELAY, |_| EditTarget::Theirs);
        assert!(matches!(theirs, Plan::Refuse(_)));
        let unknown = plan_message(&content(edit), RELAY, |_| EditTarget::Unknown);
        assert_eq!(unknown, Plan::Send(vec![]));
    }

    #[test]
    fn redactions_delete_every_part_of_our_messages_only() {
        assert_eq!(
            plan_redaction("$e", EditTarget::Ours { parts: 2 }),
            Plan::Send(vec![
                Outgoing::Delete {
                    target: "$e".into(),
                    part: 0
                },
                Outgoing::Delete {
                    target: "$e".into(),
                    part: 1
                }
            ])
        );
        assert!(matches!(
            plan_redaction("$e", EditTarget::Theirs),
            Plan::Refuse(_)
        ));
        assert_eq!(
            plan_redaction("$e", EditTarget::Unknown),
            Plan::Send(vec![])
        );
    }

    #[test]
    fn the_payload_round_trips_through_json() {
        let item = Outgoing::Text {
            text: "a".into(),
            reply_to: None,
        };
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(json, r#"{"kind":"text","text":"a"}"#);
        assert_eq!(serde_json::from_str::<Outgoing>(&json).unwrap(), item);
    }
}
