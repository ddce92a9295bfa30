//! What the simulated phones send and what they received, in the library's and the admin API's
//! terms. The byte-level codec is in [`crate::message`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::serde_util::{b64, opt_b64};

/// A message a simulated phone sends towards the Gateway ID, built like a Threema app does.
///
/// In JSON (admin API) a message is an object tagged by `type`, binary fields in base64, e.g.
/// `{"type":"text","text":"hi"}`; see the README for every form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "MessageJson", try_from = "MessageJson")]
pub enum UserMessage {
    Text(String),
    File {
        data: Vec<u8>,
        media_type: String,
        file_name: Option<String>,
        caption: Option<String>,
        /// Thumbnail bytes and media type.
        thumbnail: Option<(Vec<u8>, String)>,
        /// `j`: 0 file, 1 media, 2 sticker.
        rendering: u8,
        /// `x`: e.g. `{"w":640,"h":480}`.
        metadata: Option<Value>,
    },
    Location {
        lat: f64,
        lon: f64,
        accuracy: Option<f64>,
        name: Option<String>,
        address: Option<String>,
    },
    /// Status 1 received, 2 read, 3 👍, 4 👎; 16-hex message IDs.
    DeliveryReceipt {
        status: u8,
        message_ids: Vec<String>,
    },
    Typing(bool),
    Edit {
        message_id: String,
        text: String,
    },
    Delete {
        message_id: String,
    },
    PollSetup {
        poll_id: u64,
        description: String,
        choices: Vec<String>,
        multiple: bool,
        /// Sent a second time, closed: the poll takes no more votes.
        closed: bool,
    },
    PollVote {
        creator: String,
        poll_id: u64,
        choices: Vec<(u32, bool)>,
    },
    LegacyImage {
        data: Vec<u8>,
    },
    LegacyAudio {
        data: Vec<u8>,
        duration_s: u16,
    },
    LegacyVideo {
        data: Vec<u8>,
        thumbnail: Vec<u8>,
        duration_s: u16,
    },
    /// Any other type byte with raw data (padding is added).
    Raw {
        message_type: u8,
        data: Vec<u8>,
    },
    /// A box the Gateway ID cannot open (encrypted with a key that is not the sender's); the
    /// callback and its MAC are valid.
    Undecryptable,
}

impl UserMessage {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Self {
        UserMessage::Text(text.into())
    }

    /// A plain file message (rendering 0) without thumbnail or caption.
    pub fn file(data: impl Into<Vec<u8>>, media_type: &str, file_name: Option<&str>) -> Self {
        UserMessage::File {
            data: data.into(),
            media_type: media_type.to_owned(),
            file_name: file_name.map(str::to_owned),
            caption: None,
            thumbnail: None,
            rendering: 0,
            metadata: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum MessageJson {
    Text {
        text: String,
    },
    File {
        #[serde(with = "b64")]
        data: Vec<u8>,
        media_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
        #[serde(default, with = "opt_b64", skip_serializing_if = "Option::is_none")]
        thumbnail: Option<Vec<u8>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thumbnail_media_type: Option<String>,
        #[serde(default)]
        rendering: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<Value>,
    },
    Location {
        lat: f64,
        lon: f64,
        #[serde(default)]
        accuracy: Option<f64>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        address: Option<String>,
    },
    DeliveryReceipt {
        status: u8,
        message_ids: Vec<String>,
    },
    Typing {
        typing: bool,
    },
    Edit {
        message_id: String,
        text: String,
    },
    Delete {
        message_id: String,
    },
    PollSetup {
        poll_id: u64,
        description: String,
        choices: Vec<String>,
        #[serde(default)]
        multiple: bool,
        #[serde(default)]
        closed: bool,
    },
    PollVote {
        creator: String,
        poll_id: u64,
        choices: Vec<(u32, bool)>,
    },
    LegacyImage {
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    LegacyAudio {
        #[serde(with = "b64")]
        data: Vec<u8>,
        duration_s: u16,
    },
    LegacyVideo {
        #[serde(with = "b64")]
        data: Vec<u8>,
        #[serde(with = "b64")]
        thumbnail: Vec<u8>,
        duration_s: u16,
    },
    Raw {
        message_type: u8,
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    Undecryptable,
}

impl From<UserMessage> for MessageJson {
    fn from(message: UserMessage) -> Self {
        match message {
            UserMessage::Text(text) => MessageJson::Text { text },
            UserMessage::File {
                data,
                media_type,
                file_name,
                caption,
                thumbnail,
                rendering,
                metadata,
            } => {
                let (thumbnail, thumbnail_media_type) = thumbnail.unzip();
                MessageJson::File {
                    data,
                    media_type,
                    file_name,
                    caption,
                    thumbnail,
                    thumbnail_media_type,
                    rendering,
                    metadata,
                }
            }
            UserMessage::Location {
                lat,
                lon,
                accuracy,
                name,
                address,
            } => MessageJson::Location {
                lat,
                lon,
                accuracy,
                name,
                address,
            },
            UserMessage::DeliveryReceipt {
                status,
                message_ids,
            } => MessageJson::DeliveryReceipt {
                status,
                message_ids,
            },
            UserMessage::Typing(typing) => MessageJson::Typing { typing },
            UserMessage::Edit { message_id, text } => MessageJson::Edit { message_id, text },
            UserMessage::Delete { message_id } => MessageJson::Delete { message_id },
            UserMessage::PollSetup {
                poll_id,
                description,
                choices,
                multiple,
                closed,
            } => MessageJson::PollSetup {
                poll_id,
                description,
                choices,
                multiple,
                closed,
            },
            UserMessage::PollVote {
                creator,
                poll_id,
                choices,
            } => MessageJson::PollVote {
                creator,
                poll_id,
                choices,
            },
            UserMessage::LegacyImage { data } => MessageJson::LegacyImage { data },
            UserMessage::LegacyAudio { data, duration_s } => {
                MessageJson::LegacyAudio { data, duration_s }
            }
            UserMessage::LegacyVideo {
                data,
                thumbnail,
                duration_s,
            } => MessageJson::LegacyVideo {
                data,
                thumbnail,
                duration_s,
            },
            UserMessage::Raw { message_type, data } => MessageJson::Raw { message_type, data },
            UserMessage::Undecryptable => MessageJson::Undecryptable,
        }
    }
}

impl TryFrom<MessageJson> for UserMessage {
    type Error = String;

    fn try_from(json: MessageJson) -> Result<Self, String> {
        Ok(match json {
            MessageJson::Text { text } => UserMessage::Text(text),
            MessageJson::File {
                data,
                media_type,
                file_name,
                caption,
                thumbnail,
                thumbnail_media_type,
                rendering,
                metadata,
            } => UserMessage::File {
                data,
                media_type,
                file_name,
                caption,
                // The thumbnail media type defaults to JPEG, as in the file message spec (§5.5).
                thumbnail: thumbnail.map(|t| {
                    (
                        t,
                        thumbnail_media_type.unwrap_or_else(|| "image/jpeg".into()),
                    )
                }),
                rendering,
                metadata,
            },
            MessageJson::Location {
                lat,
                lon,
                accuracy,
                name,
                address,
            } => UserMessage::Location {
                lat,
                lon,
                accuracy,
                name,
                address,
            },
            MessageJson::DeliveryReceipt {
                status,
                message_ids,
            } => UserMessage::DeliveryReceipt {
                status,
                message_ids,
            },
            MessageJson::Typing { typing } => UserMessage::Typing(typing),
            MessageJson::Edit { message_id, text } => UserMessage::Edit { message_id, text },
            MessageJson::Delete { message_id } => UserMessage::Delete { message_id },
            MessageJson::PollSetup {
                poll_id,
                description,
                choices,
                multiple,
                closed,
            } => UserMessage::PollSetup {
                poll_id,
                description,
                choices,
                multiple,
                closed,
            },
            MessageJson::PollVote {
                creator,
                poll_id,
                choices,
            } => UserMessage::PollVote {
                creator,
                poll_id,
                choices,
            },
            MessageJson::LegacyImage { data } => UserMessage::LegacyImage { data },
            MessageJson::LegacyAudio { data, duration_s } => {
                UserMessage::LegacyAudio { data, duration_s }
            }
            MessageJson::LegacyVideo {
                data,
                thumbnail,
                duration_s,
            } => UserMessage::LegacyVideo {
                data,
                thumbnail,
                duration_s,
            },
            MessageJson::Raw { message_type, data } => UserMessage::Raw { message_type, data },
            MessageJson::Undecryptable => UserMessage::Undecryptable,
        })
    }
}

/// A message as a simulated phone understood it. In JSON: `{"type":"text","content":"hi"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "content", rename_all = "snake_case")]
pub enum Decoded {
    Text(String),
    /// The file message JSON with the blob (and thumbnail) downloaded and decrypted.
    File {
        json: Value,
        #[serde(with = "b64")]
        data: Vec<u8>,
        #[serde(with = "opt_b64")]
        thumbnail: Option<Vec<u8>>,
    },
    Location {
        lat: f64,
        lon: f64,
        accuracy: Option<f64>,
        name: Option<String>,
        address: Option<String>,
    },
    DeliveryReceipt {
        status: u8,
        message_ids: Vec<String>,
    },
    Typing(bool),
    Edit {
        message_id: String,
        text: String,
    },
    Delete {
        message_id: String,
    },
    PollSetup {
        poll_id: u64,
        json: Value,
    },
    PollVote {
        creator: String,
        poll_id: u64,
        choices: Vec<(u32, bool)>,
    },
    /// Deprecated image (0x02), blob downloaded and decrypted.
    Image {
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    /// Deprecated audio (0x14).
    Audio {
        duration_s: u16,
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    /// Deprecated video (0x13).
    Video {
        duration_s: u16,
        #[serde(with = "b64")]
        data: Vec<u8>,
        #[serde(with = "b64")]
        thumbnail: Vec<u8>,
    },
    /// A type the phones do not interpret (groups, reactions, …), unpadded data.
    Other {
        message_type: u8,
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    /// The box did not open with the gateway's public key and the phone's secret key.
    Undecryptable,
    /// The box opened but the content is broken (padding, UTF-8, JSON, missing blob, size).
    Invalid {
        message_type: Option<u8>,
        reason: String,
    },
}

/// One message the Gateway delivered to a simulated phone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceivedMessage {
    /// The 16-hex ID the API answered with.
    pub message_id: String,
    /// The sending Gateway ID.
    pub from: String,
    /// When the Gateway accepted it (UNIX seconds, simulated clock).
    pub date: u64,
    pub no_delivery_receipts: bool,
    /// `noPush` of `send_e2e_bulk` (and `send_e2e`, if a client sends it).
    pub no_push: bool,
    /// `group` of `send_e2e_bulk`: `None` when absent or `null`.
    pub group: Option<bool>,
    /// The endpoint it came through: `send_e2e`, `send_e2e_bulk` or `send_simple`.
    pub via: String,
    pub message: Decoded,
    /// Type byte + data, padding removed (empty when undecryptable).
    #[serde(with = "b64")]
    pub plaintext: Vec<u8>,
    /// The padding length found (0 when undecryptable or for `send_simple`). Lets tests check
    /// the 32-byte minimum of §5.2: `plaintext.len() - 1 + padding >= 32`.
    pub padding: u8,
}

/// One message a simulated phone sent towards the Gateway ID (queued for callback delivery).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentMessage {
    pub message_id: String,
    pub date: u64,
    pub message: UserMessage,
    /// Type byte + data, unpadded (what the Gateway client should decrypt).
    #[serde(with = "b64")]
    pub plaintext: Vec<u8>,
}
