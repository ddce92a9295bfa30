//! Threema's quote format (v2): a text message that starts with `> quote #<message id>` and a
//! blank line quotes that message.

/// `text` as a reply quoting `message_id` (16 hex digits).
pub fn encode(message_id: &str, text: &str) -> String {
    format!("> quote #{message_id}\n\n{text}")
}
