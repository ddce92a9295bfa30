//! PURE: the Matrix event content (`m.room.message`) for what a driver sent. No IO: uploads,
//! look-ups and sending happen in the caller, which passes in what they produced (mxc URIs,
//! the events to reply to or to replace, the HTML of the text).

use serde_json::{Map, Value, json};

use crate::{
    matrix::MediaRef,
    store::PollChoice,
    texts::Texts,
    threema::{
        Media,
        codec::{Location, Message, PollSetup, Rendering},
    },
    tr,
};

/// How long the ghost shows as typing when the driver's app says "typing" (the apps repeat
/// the indicator while the driver keeps typing).
pub const TYPING_TIMEOUT_S: u64 = 30;

/// A text (or notice) message; `html` becomes `formatted_body`.
pub fn text(msgtype: &str, body: &str, html: Option<String>) -> Value {
    let mut content = json!({"msgtype": msgtype, "body": body});
    if let Some(html) = html {
        content["format"] = json!("org.matrix.custom.html");
        content["formatted_body"] = json!(html);
    }
    content
}

/// Makes `content` a reply to `event_id` (rich reply, without the deprecated fallback).
pub fn reply_to(content: &mut Value, event_id: &str) {
    content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": event_id}});
}

/// A short note in front of a text (e.g. "reply to a message not in this room"), in both the
/// plain and the HTML body.
pub fn with_note(note: &str, body: &str, html: Option<String>) -> (String, Option<String>) {
    (
        format!("{note}\n{body}"),
        html.map(|html| format!("<em>{}</em><br>{html}", escape_html(note))),
    )
}

/// An edit of `original`: `m.new_content` is what the message shows now; the outer body is the
/// fallback for clients without edits (`* new text`).
pub fn edit(original: &str, new_content: Value) -> Value {
    let mut content = new_content.clone();
    if let Some(body) = new_content["body"].as_str() {
        content["body"] = json!(format!("* {body}"));
    }
    if let Some(html) = new_content["formatted_body"].as_str() {
        content["formatted_body"] = json!(format!("* {html}"));
    }
    content["m.new_content"] = new_content;
    content["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": original});
    content
}

/// The content of a media event with a new caption (an edited file message): the file stays.
/// `None` when `original` is not a media event.
pub fn recaption(original: &Value, caption: &str, html: Option<String>) -> Option<Value> {
    let msgtype = original["msgtype"].as_str()?;
    if !matches!(msgtype, "m.image" | "m.video" | "m.audio" | "m.file")
        || (original["url"].is_null() && original["file"].is_null())
    {
        return None;
    }
    let mut content = original.clone();
    let object = content.as_object_mut()?;
    for key in ["m.relates_to", "m.new_content", "format", "formatted_body"] {
        object.remove(key);
    }
    let file_name = original["filename"]
        .as_str()
        .or(original["body"].as_str())
        .unwrap_or("file")
        .to_owned();
    object.insert("filename".into(), json!(file_name));
    if caption.is_empty() {
        object.insert("body".into(), json!(file_name));
    } else {
        object.insert("body".into(), json!(caption));
        if let Some(html) = html {
            object.insert("format".into(), json!("org.matrix.custom.html"));
            object.insert("formatted_body".into(), json!(html));
        }
    }
    Some(content)
}

/// What a media event will say about its file, worked out before the upload.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlan {
    /// `m.image`, `m.video`, `m.audio` or `m.file`.
    pub msgtype: &'static str,
    pub mimetype: String,
    pub file_name: String,
    pub caption: Option<String>,
    pub size: usize,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// A voice message: Element shows a waveform player.
    pub voice: bool,
    /// The thumbnail's media type, when there is a thumbnail.
    pub thumbnail_mimetype: Option<String>,
}

/// The media event for a file or a legacy image/audio/video message; `None` for other
/// messages. The type follows the media type and how the driver's app shows it: "as file"
/// stays `m.file` even for an image, as Threema shows it.
pub fn media_plan(message: &Message, media: &Media) -> Option<MediaPlan> {
    let has_thumbnail = media.thumbnail.is_some();
    let plan = |msgtype, mimetype: &str, voice, duration_ms, thumbnail: Option<&str>| MediaPlan {
        msgtype,
        mimetype: mimetype.to_owned(),
        file_name: default_file_name(msgtype, mimetype),
        caption: None,
        size: media.data.len(),
        width: None,
        height: None,
        duration_ms,
        voice,
        thumbnail_mimetype: thumbnail.filter(|_| has_thumbnail).map(str::to_owned),
    };
    Some(match message {
        Message::File(file) => {
            let major = file.media_type.split('/').next().unwrap_or_default();
            let msgtype = match (file.rendering(), major) {
                (Rendering::File, _) => "m.file",
                (Rendering::Sticker, _) | (Rendering::Media, "image") => "m.image",
                (Rendering::Media, "video") => "m.video",
                (Rendering::Media, "audio") => "m.audio",
                (Rendering::Media, _) => "m.file",
            };
            let mut plan = plan(
                msgtype,
                &file.media_type,
                msgtype == "m.audio",
                file.metadata
                    .duration
                    .filter(|d| d.is_finite() && *d >= 0.0)
                    .map(|d| (d * 1000.0).round() as u64),
                Some(file.thumbnail_media_type()),
            );
            if let Some(name) = file.file_name.as_deref().filter(|n| !n.trim().is_empty()) {
                plan.file_name = name.to_owned();
            }
            plan.caption = file.caption.clone().filter(|c| !c.trim().is_empty());
            (plan.width, plan.height) = (file.metadata.width, file.metadata.height);
            plan
        }
        Message::LegacyImage { .. } => plan("m.image", "image/jpeg", false, None, None),
        Message::LegacyAudio { duration_s, .. } => plan(
            "m.audio",
            "audio/aac",
            true,
            Some(u64::from(*duration_s) * 1000),
            None,
        ),
        Message::LegacyVideo { duration_s, .. } => plan(
            "m.video",
            "video/mp4",
            false,
            Some(u64::from(*duration_s) * 1000),
            Some("image/jpeg"),
        ),
        _ => return None,
    })
}

/// The mxc URIs of an uploaded file and its thumbnail (with the thumbnail's size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub file: MediaRef,
    /// The thumbnail and its size.
    pub thumbnail: Option<(MediaRef, usize)>,
}

/// A media event (spec v1.10 captions: `body` is the caption when there is one, `filename` the
/// file's name).
pub fn media(plan: &MediaPlan, uploaded: &Uploaded, caption_html: Option<String>) -> Value {
    let mut info = Map::new();
    info.insert("mimetype".into(), json!(plan.mimetype));
    info.insert("size".into(), json!(plan.size));
    if plan.msgtype != "m.file" {
        if let Some(w) = plan.width {
            info.insert("w".into(), json!(w));
        }
        if let Some(h) = plan.height {
            info.insert("h".into(), json!(h));
        }
        if let Some(d) = plan.duration_ms {
            info.insert("duration".into(), json!(d));
        }
    }
    if let (Some((thumbnail, size)), Some(mimetype)) =
        (&uploaded.thumbnail, &plan.thumbnail_mimetype)
    {
        thumbnail.insert_into(&mut info, "thumbnail_url", "thumbnail_file");
        info.insert(
            "thumbnail_info".into(),
            json!({"mimetype": mimetype, "size": size}),
        );
    }
    let mut content = json!({
        "msgtype": plan.msgtype,
        "body": plan.caption.as_deref().unwrap_or(&plan.file_name),
        "filename": plan.file_name,
        "info": info,
    });
    if let Some(object) = content.as_object_mut() {
        uploaded.file.insert_into(object, "url", "file");
    }
    if let (Some(_), Some(html)) = (&plan.caption, caption_html) {
        content["format"] = json!("org.matrix.custom.html");
        content["formatted_body"] = json!(html);
    }
    if plan.voice {
        let mut audio = Map::new();
        if let Some(d) = plan.duration_ms {
            audio.insert("duration".into(), json!(d));
        }
        content["org.matrix.msc1767.audio"] = Value::Object(audio);
        content["org.matrix.msc3245.voice"] = json!({});
    }
    content
}

/// `image.jpg`, `file.pdf`…: a name for a file the driver's app sent without one.
fn default_file_name(msgtype: &str, mimetype: &str) -> String {
    let stem = match msgtype {
        "m.image" => "image",
        "m.video" => "video",
        "m.audio" => "audio",
        _ => "file",
    };
    let subtype = mimetype.split(['/', ';']).nth(1).unwrap_or_default().trim();
    let extension = match subtype {
        "jpeg" => "jpg",
        "mpeg" if stem == "audio" => "mp3",
        "quicktime" => "mov",
        "plain" => "txt",
        "octet-stream" | "" => return stem.to_owned(),
        s if s.len() <= 5 && s.chars().all(|c| c.is_ascii_alphanumeric()) => s,
        _ => return stem.to_owned(),
    };
    format!("{stem}.{extension}")
}

/// An `m.location`: a `geo:` URI (with the accuracy in metres) and a readable body with the
/// place's name, address and coordinates.
pub fn location(texts: &Texts, location: &Location) -> Value {
    let Location {
        latitude,
        longitude,
        accuracy_m,
        name,
        address,
    } = location;
    let geo_uri = match accuracy_m {
        Some(u) => format!("geo:{latitude},{longitude};u={u}"),
        None => format!("geo:{latitude},{longitude}"),
    };
    let place: Vec<String> = name
        .iter()
        .chain(address)
        .flat_map(|s| s.lines())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let coordinates = format!("{latitude}, {longitude}");
    let body = if place.is_empty() {
        tr!(texts, "location-body", coordinates = coordinates)
    } else {
        format!("📍 {} ({coordinates})", place.join(", "))
    };
    let description = name.clone().or_else(|| address.clone());
    json!({
        "msgtype": "m.location",
        "body": body,
        "geo_uri": geo_uri,
        "org.matrix.msc3488.location": {"uri": geo_uri, "description": description},
        // A named place is a pin; a bare position is where the driver is.
        "org.matrix.msc3488.asset": {"type": if name.is_some() { "m.pin" } else { "m.self" }},
    })
}

/// A poll as readable text (one Matrix cannot hold as a poll): the question, the numbered
/// choices, how to answer.
pub fn poll_setup(texts: &Texts, poll: &PollSetup) -> Value {
    let how = match (poll.closed, poll.multiple_choice) {
        (true, _) => tr!(texts, "poll-text-closed"),
        (false, true) => tr!(texts, "poll-text-multiple"),
        (false, false) => tr!(texts, "poll-text-single"),
    };
    let poll_word = tr!(texts, "poll-text-poll");
    let mut body = format!("📊 {poll_word}: {}", poll.description);
    let mut html = format!(
        "<p>📊 <strong>{}:</strong> {}</p><ol>",
        escape_html(&poll_word),
        escape_html(&poll.description)
    );
    for (n, choice) in poll.choices.iter().enumerate() {
        body.push_str(&format!("\n{}. {}", n + 1, choice.name));
        html.push_str(&format!("<li>{}</li>", escape_html(&choice.name)));
    }
    body.push_str(&format!("\n({how})"));
    html.push_str(&format!("</ol><p><em>({})</em></p>", escape_html(&how)));
    text("m.text", &body, Some(html))
}

/// A vote as a notice naming the chosen choices (`choices` of the poll when it is known; a
/// vote carries choice ids only).
pub fn poll_vote(texts: &Texts, choices: Option<&[PollChoice]>, votes: &[(u64, bool)]) -> Value {
    let chosen: Vec<u64> = votes
        .iter()
        .filter(|(_, on)| *on)
        .map(|(id, _)| *id)
        .collect();
    let body = match choices {
        Some(choices) => {
            let names: Vec<String> = chosen
                .iter()
                .map(|id| {
                    choices
                        .iter()
                        .find(|c| c.id == *id)
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| tr!(texts, "poll-text-choice", id = *id))
                })
                .collect();
            if names.is_empty() {
                tr!(texts, "poll-text-withdrew")
            } else {
                tr!(texts, "poll-text-voted", choices = names.join(", "))
            }
        }
        None => {
            let ids: Vec<String> = chosen.iter().map(|id| format!("#{id}")).collect();
            if ids.is_empty() {
                tr!(texts, "poll-text-withdrew-elsewhere")
            } else {
                tr!(texts, "poll-text-voted-elsewhere", choices = ids.join(", "))
            }
        }
    };
    text("m.notice", &body, None)
}

/// The poll's choices as the store keeps them.
pub fn poll_choices(poll: &PollSetup) -> Vec<PollChoice> {
    poll.choices
        .iter()
        .map(|c| PollChoice {
            id: c.id,
            name: c.name.clone(),
            answer: None,
        })
        .collect()
}

/// A "typing" older than the time it would show is not shown (a backlog after an outage).
pub fn typing_is_current(date_s: i64, now_s: i64) -> bool {
    now_s.saturating_sub(date_s) < TYPING_TIMEOUT_S as i64
}

/// The Threema IDs mentioned as `@[ID]` in `text`, each once, in order.
pub fn mentioned_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("@[") {
        let candidate = &rest[start + 2..];
        match candidate.get(..9) {
            Some(id)
                if id.ends_with(']')
                    && id[..8]
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'*') =>
            {
                if !ids.iter().any(|known| known == &id[..8]) {
                    ids.push(id[..8].to_owned());
                }
                rest = &candidate[9..];
            }
            _ => rest = candidate,
        }
    }
    ids
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
