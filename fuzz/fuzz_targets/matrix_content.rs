//! Whatever a Matrix client puts in a message: converting it for Threema (HTML to Threema
//! markup, reply fallbacks, splitting, relay prefix) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ruma::events::room::message::RoomMessageEventContent;
use bridge_convert::plan::{EditTarget, Relay, plan_message};

fn plan(content: &RoomMessageEventContent, display_name: &str) {
    let relay = Relay {
        template: "{displayname}: {body}",
        emote_template: "* {displayname} {body}",
        display_name,
    };
    let _ = plan_message(content, relay, |_| EditTarget::Ours { parts: 1 });
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // As HTML with a plain body (the input split in two), and as the display name.
    let (body, html) = text.split_at(
        text.char_indices()
            .nth(text.chars().count() / 2)
            .map_or(0, |(i, _)| i),
    );
    for msgtype in ["m.text", "m.notice", "m.emote"] {
        let content = serde_json::json!({
            "msgtype": msgtype,
            "body": body,
            "format": "org.matrix.custom.html",
            "formatted_body": html,
        });
        if let Ok(content) = serde_json::from_value::<RoomMessageEventContent>(content) {
            plan(&content, body);
        }
    }
    // And as a whole event content, as a client could send any JSON.
    if let Ok(content) = serde_json::from_slice::<RoomMessageEventContent>(data) {
        plan(&content, "Desk");
    }
});
