//! What a broadcast looks like once it leaves the broadcast room: the text without its `!ack`,
//! and the signed copy the bot writes into each recipient's portal.

use ruma::events::room::message::{MessageType, RoomMessageEventContent};
use serde_json::Value;

use super::ACK_PREFIX;

/// Takes the leading `!ack` off a message's text (body and HTML).
pub(super) fn strip_ack(content: &mut RoomMessageEventContent, raw: &mut Value) {
    let strip = |s: &str| -> String {
        let t = s.trim_start();
        t.get(ACK_PREFIX.len()..)
            .unwrap_or_default()
            .trim_start()
            .to_owned()
    };
    if let MessageType::Text(text) = &mut content.msgtype {
        text.body = strip(&text.body);
        if let Some(f) = &mut text.formatted
            && f.body.trim_start().to_lowercase().starts_with(ACK_PREFIX)
        {
            f.body = strip(&f.body);
        }
    }
    for key in ["body", "formatted_body"] {
        if let Some(s) = raw.get(key).and_then(Value::as_str)
            && (key == "body" || s.trim_start().to_lowercase().starts_with(ACK_PREFIX))
        {
            raw[key] = Value::String(strip(s));
        }
    }
}

/// The message as it is written into each recipient's portal, by the bot: marked as a
/// broadcast and signed (`marker`, `📢 Broadcast from Anna Dispo`), media and locations as
/// they were.
pub(super) fn portal_copy(content: &Value, marker: &str) -> Value {
    let mut copy = content.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("m.relates_to");
        map.remove("m.mentions");
    }
    let msgtype = copy["msgtype"].as_str().unwrap_or_default().to_owned();
    let body = copy["body"].as_str().unwrap_or_default().to_owned();
    match msgtype.as_str() {
        "m.text" | "m.notice" | "m.emote" => {
            copy["body"] = Value::String(format!("{marker}: {body}"));
            if let Some(html) = copy["formatted_body"].as_str() {
                copy["formatted_body"] = Value::String(format!(
                    "<b>{}</b>: {html}",
                    html_escape::encode_text(&marker)
                ));
            }
        }
        // Media: the file name stays, the caption carries the marker.
        _ => {
            if copy.get("filename").is_none() && copy.get("url").is_some() {
                copy["filename"] = Value::String(body.clone());
                copy["body"] = Value::String(marker.to_owned());
            } else {
                copy["body"] = Value::String(format!("{marker}: {body}"));
            }
        }
    }
    copy
}

impl super::Broadcasts {
    /// What marks a broadcast's copy in a portal: who sent it, whether it asks for 👍.
    pub(super) fn copy_marker(&self, name: &str, ack: bool) -> String {
        match ack {
            true => crate::tr!(self.texts, "broadcast-copy-marker-ack", name = name),
            false => crate::tr!(self.texts, "broadcast-copy-marker", name = name),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_portal_copy_is_marked_and_keeps_media() {
        let text = portal_copy(
            &json!({"msgtype": "m.text", "body": "Road closed", "formatted_body": "<i>Road</i> closed", "format": "org.matrix.custom.html", "m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}}),
            "📢 Broadcast from Ann (asks for 👍)",
        );
        assert_eq!(
            text["body"],
            "📢 Broadcast from Ann (asks for 👍): Road closed"
        );
        assert_eq!(
            text["formatted_body"],
            "<b>📢 Broadcast from Ann (asks for 👍)</b>: <i>Road</i> closed"
        );
        assert!(text.get("m.relates_to").is_none());
        let image = portal_copy(
            &json!({"msgtype": "m.image", "body": "map.png", "url": "mxc://x/y"}),
            "📢 Broadcast from Ann",
        );
        assert_eq!(image["filename"], "map.png");
        assert_eq!(image["body"], "📢 Broadcast from Ann");
        assert_eq!(image["url"], "mxc://x/y");
    }

    #[test]
    fn ack_is_taken_off_the_text() {
        let mut content = RoomMessageEventContent::text_plain("!ack Shift starts at 6");
        let mut raw = json!({"msgtype": "m.text", "body": "!ACK Shift starts at 6"});
        strip_ack(&mut content, &mut raw);
        assert_eq!(content.body(), "Shift starts at 6");
        assert_eq!(raw["body"], "Shift starts at 6");
    }
}
