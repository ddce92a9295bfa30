//! PURE: the end-to-end message container and the message types Threema apps send to a Gateway
//! ID. No IO, no keys: bytes in, values out, so it is fuzzed and table-tested.
//!
//! Container: `type:u8 ‖ data ‖ padding`, where padding is `n` bytes of value `n`, 1 ≤ n ≤ 255,
//! and the padded data is at least 32 bytes (reference §5.2).
//!
//! The official crate decodes text, receipts, typing, edit and delete well and is used for
//! those. Written here because the crate lacks them: the 32-byte padding minimum, file
//! messages without the `j`/`i` keys, unescaping location addresses, polls, the legacy
//! image/audio/video types, and a typed answer for everything else (groups, reactions, calls).

use rand::Rng;
use serde::Deserialize;

use crate::{BlobId, MessageId, wire};

pub const TEXT: u8 = 0x01;
pub const LEGACY_IMAGE: u8 = 0x02;
pub const LOCATION: u8 = 0x10;
pub const LEGACY_VIDEO: u8 = 0x13;
pub const LEGACY_AUDIO: u8 = 0x14;
pub const POLL_SETUP: u8 = 0x15;
pub const POLL_VOTE: u8 = 0x16;
pub const FILE: u8 = 0x17;
pub const DELIVERY_RECEIPT: u8 = 0x80;
pub const TYPING: u8 = 0x90;
pub const EDIT: u8 = 0x91;
pub const DELETE: u8 = 0x92;

/// Smallest padded data (everything after the type byte), so short messages do not reveal
/// their length.
const MIN_PADDED: usize = 32;

/// What a driver's app sent, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Text(String),
    File(FileMessage),
    Location(Location),
    DeliveryReceipt {
        status: ReceiptStatus,
        message_ids: Vec<MessageId>,
    },
    Typing(bool),
    Edit {
        message_id: MessageId,
        text: String,
    },
    Delete {
        message_id: MessageId,
    },
    PollSetup(PollSetup),
    PollVote {
        creator: String,
        poll_id: u64,
        choices: Vec<(u64, bool)>,
    },
    /// Image encrypted with crypto_box under the given nonce (deprecated type).
    LegacyImage {
        blob_id: BlobId,
        size: u32,
        nonce: [u8; 24],
    },
    /// Secretbox-encrypted audio, nonce …01 (deprecated type).
    LegacyAudio {
        duration_s: u16,
        blob_id: BlobId,
        size: u32,
        key: [u8; 32],
    },
    /// Secretbox-encrypted video (nonce …01) and thumbnail (nonce …02) (deprecated type).
    LegacyVideo {
        duration_s: u16,
        blob_id: BlobId,
        size: u32,
        thumbnail_blob_id: BlobId,
        thumbnail_size: u32,
        key: [u8; 32],
    },
    /// A type the bridge does not bridge (group messages, reactions, calls, unknown): kept,
    /// never dropped silently.
    Unsupported {
        message_type: u8,
        data: Vec<u8>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptStatus {
    Received,
    Read,
    /// 👍 (legacy "user acknowledged").
    Acknowledged,
    /// 👎 (legacy "user declined").
    Declined,
    Other(u8),
}

impl From<u8> for ReceiptStatus {
    fn from(status: u8) -> Self {
        match status {
            wire::RECEIVED => Self::Received,
            wire::READ => Self::Read,
            wire::ACKNOWLEDGED => Self::Acknowledged,
            wire::DECLINED => Self::Declined,
            n => Self::Other(n),
        }
    }
}

impl From<ReceiptStatus> for u8 {
    fn from(status: ReceiptStatus) -> Self {
        match status {
            ReceiptStatus::Received => wire::RECEIVED,
            ReceiptStatus::Read => wire::READ,
            ReceiptStatus::Acknowledged => wire::ACKNOWLEDGED,
            ReceiptStatus::Declined => wire::DECLINED,
            ReceiptStatus::Other(n) => n,
        }
    }
}

/// A file message (0x17), read tolerantly: unknown keys are ignored, `j` falls back to `i`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FileMessage {
    #[serde(rename = "b", deserialize_with = "hex_array")]
    pub blob_id: [u8; 16],
    #[serde(rename = "k", deserialize_with = "hex_array")]
    pub key: [u8; 32],
    #[serde(rename = "m", default = "octet_stream")]
    pub media_type: String,
    #[serde(rename = "n", default)]
    pub file_name: Option<String>,
    #[serde(rename = "s", default)]
    pub size: u64,
    #[serde(rename = "t", default, deserialize_with = "opt_hex_array")]
    pub thumbnail_blob_id: Option<[u8; 16]>,
    #[serde(rename = "p", default)]
    pub thumbnail_media_type: Option<String>,
    #[serde(rename = "d", default)]
    pub caption: Option<String>,
    #[serde(rename = "j", default)]
    rendering: Option<i64>,
    #[serde(rename = "i", default)]
    legacy_rendering: Option<i64>,
    #[serde(rename = "c", default)]
    pub correlation_id: Option<String>,
    #[serde(rename = "x", default)]
    pub metadata: FileMetadata,
}

impl FileMessage {
    pub fn rendering(&self) -> Rendering {
        match self.rendering.or(self.legacy_rendering) {
            Some(1) => Rendering::Media,
            Some(2) => Rendering::Sticker,
            _ => Rendering::File,
        }
    }

    /// The thumbnail's media type (JPEG when the sender did not say).
    pub fn thumbnail_media_type(&self) -> &str {
        self.thumbnail_media_type.as_deref().unwrap_or("image/jpeg")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    File,
    Media,
    Sticker,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FileMetadata {
    #[serde(rename = "w", default)]
    pub width: Option<u32>,
    #[serde(rename = "h", default)]
    pub height: Option<u32>,
    /// Seconds, for audio and video.
    #[serde(rename = "d", default)]
    pub duration: Option<f64>,
    #[serde(rename = "a", default)]
    pub animated: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub accuracy_m: Option<f64>,
    pub name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PollSetup {
    pub poll_id: u64,
    pub description: String,
    pub closed: bool,
    pub multiple_choice: bool,
    pub choices: Vec<PollChoice>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PollChoice {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("bad padding")]
    Padding,
    #[error("message type 0x{0:02x}: not UTF-8")]
    Utf8(u8),
    #[error("message type 0x{message_type:02x}: {reason}")]
    Malformed { message_type: u8, reason: String },
}

fn malformed(message_type: u8, reason: impl ToString) -> DecodeError {
    DecodeError::Malformed {
        message_type,
        reason: reason.to_string(),
    }
}

/// Pads `data` and prefixes the type byte: the plaintext that gets encrypted.
pub fn pad(message_type: u8, data: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let mut n: usize = rng.random_range(1..=255);
    if data.len() + n < MIN_PADDED {
        n = MIN_PADDED - data.len();
    }
    let mut out = Vec::with_capacity(1 + data.len() + n);
    out.push(message_type);
    out.extend_from_slice(data);
    out.resize(1 + data.len() + n, n as u8);
    out
}

/// Strips the padding; returns the type byte and the data.
pub fn unpad(plaintext: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    let (&message_type, rest) = plaintext.split_first().ok_or(DecodeError::Empty)?;
    let n = *rest.last().ok_or(DecodeError::Padding)? as usize;
    if n == 0 || n > rest.len() {
        return Err(DecodeError::Padding);
    }
    Ok((message_type, &rest[..rest.len() - n]))
}

/// Decodes an unpadded message.
pub fn decode(message_type: u8, data: &[u8]) -> Result<Message, DecodeError> {
    let text = || std::str::from_utf8(data).map_err(|_| DecodeError::Utf8(message_type));
    Ok(match message_type {
        TEXT => Message::Text(text()?.to_owned()),
        FILE => Message::File(serde_json::from_str(text()?).map_err(|e| malformed(FILE, e))?),
        LOCATION => Message::Location(decode_location(text()?)?),
        DELIVERY_RECEIPT => {
            let (status, message_ids) =
                wire::decode_receipt(data).map_err(|e| malformed(message_type, e))?;
            Message::DeliveryReceipt {
                status: status.into(),
                message_ids,
            }
        }
        TYPING => {
            Message::Typing(wire::decode_typing(data).map_err(|e| malformed(message_type, e))?)
        }
        EDIT => {
            let edit = wire::decode_edit(data).map_err(|e| malformed(message_type, e))?;
            Message::Edit {
                message_id: MessageId::from_u64(edit.message_id),
                text: edit.text,
            }
        }
        DELETE => {
            let delete = wire::decode_delete(data).map_err(|e| malformed(message_type, e))?;
            Message::Delete {
                message_id: MessageId::from_u64(delete.message_id),
            }
        }
        POLL_SETUP => Message::PollSetup(decode_poll_setup(data)?),
        POLL_VOTE => decode_poll_vote(data)?,
        LEGACY_IMAGE => {
            let b = fixed::<44>(LEGACY_IMAGE, data)?;
            Message::LegacyImage {
                blob_id: blob(&b[..16]),
                size: u32_le(&b[16..20]),
                nonce: b[20..44].try_into().unwrap(),
            }
        }
        LEGACY_AUDIO => {
            let b = fixed::<54>(LEGACY_AUDIO, data)?;
            Message::LegacyAudio {
                duration_s: u16::from_le_bytes([b[0], b[1]]),
                blob_id: blob(&b[2..18]),
                size: u32_le(&b[18..22]),
                key: b[22..54].try_into().unwrap(),
            }
        }
        LEGACY_VIDEO => {
            let b = fixed::<74>(LEGACY_VIDEO, data)?;
            Message::LegacyVideo {
                duration_s: u16::from_le_bytes([b[0], b[1]]),
                blob_id: blob(&b[2..18]),
                size: u32_le(&b[18..22]),
                thumbnail_blob_id: blob(&b[22..38]),
                thumbnail_size: u32_le(&b[38..42]),
                key: b[42..74].try_into().unwrap(),
            }
        }
        other => Message::Unsupported {
            message_type: other,
            data: data.to_vec(),
        },
    })
}

fn fixed<const N: usize>(message_type: u8, data: &[u8]) -> Result<[u8; N], DecodeError> {
    data.try_into().map_err(|_| {
        malformed(
            message_type,
            format!("expected {N} bytes, got {}", data.len()),
        )
    })
}

fn blob(bytes: &[u8]) -> BlobId {
    BlobId(bytes.try_into().expect("callers pass 16 bytes"))
}

fn u32_le(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("callers pass 4 bytes"))
}

/// `lat,lon[,accuracy]`, then optionally an address line, or a name line and an address line;
/// line breaks inside the address travel as a literal `\n`.
fn decode_location(text: &str) -> Result<Location, DecodeError> {
    let bad = |reason: &str| malformed(LOCATION, reason);
    let mut lines = text.split('\n');
    let coordinates = lines.next().ok_or_else(|| bad("no coordinates"))?;
    let numbers: Vec<f64> = coordinates
        .split(',')
        .map(|n| n.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("coordinates are not numbers"))?;
    let (latitude, longitude, accuracy_m) = match numbers[..] {
        [lat, lon] => (lat, lon, None),
        [lat, lon, acc] => (lat, lon, Some(acc)),
        _ => return Err(bad("expected lat,lon[,accuracy]")),
    };
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return Err(bad("coordinates out of range"));
    }
    let rest: Vec<String> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.replace("\\n", "\n"))
        .collect();
    let (name, address) = match rest.len() {
        0 => (None, None),
        1 => (None, Some(rest[0].clone())),
        _ => (Some(rest[0].clone()), Some(rest[1..].join("\n"))),
    };
    Ok(Location {
        latitude,
        longitude,
        accuracy_m,
        name,
        address,
    })
}

/// `poll-id:u64-le ‖ JSON{d, s, a, c:[{i, n, o}]}`.
fn decode_poll_setup(data: &[u8]) -> Result<PollSetup, DecodeError> {
    #[derive(Deserialize)]
    struct Json {
        #[serde(default)]
        d: String,
        #[serde(default)]
        s: u8,
        #[serde(default)]
        a: u8,
        #[serde(default)]
        c: Vec<Choice>,
    }
    #[derive(Deserialize)]
    struct Choice {
        i: u64,
        #[serde(default)]
        n: String,
        #[serde(default)]
        o: u64,
    }
    if data.len() < 8 {
        return Err(malformed(POLL_SETUP, "shorter than a poll id"));
    }
    let poll_id = u64::from_le_bytes(data[..8].try_into().unwrap());
    let json = std::str::from_utf8(&data[8..]).map_err(|_| DecodeError::Utf8(POLL_SETUP))?;
    let mut parsed: Json = serde_json::from_str(json).map_err(|e| malformed(POLL_SETUP, e))?;
    parsed.c.sort_by_key(|c| c.o);
    Ok(PollSetup {
        poll_id,
        description: parsed.d,
        closed: parsed.s == 1,
        multiple_choice: parsed.a == 1,
        choices: parsed
            .c
            .into_iter()
            .map(|c| PollChoice { id: c.i, name: c.n })
            .collect(),
    })
}

/// `creator(8) ‖ poll-id:u64-le ‖ JSON [[choice id, 0|1], …]`.
fn decode_poll_vote(data: &[u8]) -> Result<Message, DecodeError> {
    if data.len() < 16 {
        return Err(malformed(POLL_VOTE, "shorter than creator and poll id"));
    }
    let creator = std::str::from_utf8(&data[..8])
        .map_err(|_| DecodeError::Utf8(POLL_VOTE))?
        .to_owned();
    let poll_id = u64::from_le_bytes(data[8..16].try_into().unwrap());
    let json = std::str::from_utf8(&data[16..]).map_err(|_| DecodeError::Utf8(POLL_VOTE))?;
    let pairs: Vec<(u64, u8)> = serde_json::from_str(json).map_err(|e| malformed(POLL_VOTE, e))?;
    Ok(Message::PollVote {
        creator,
        poll_id,
        choices: pairs.into_iter().map(|(id, v)| (id, v == 1)).collect(),
    })
}

fn hex_array<'de, D: serde::Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    let s = String::deserialize(d)?;
    let bytes = hex::decode(&s).map_err(serde::de::Error::custom)?;
    bytes
        .try_into()
        .map_err(|_| serde::de::Error::custom(format!("expected {N} bytes")))
}

fn opt_hex_array<'de, D: serde::Deserializer<'de>, const N: usize>(
    d: D,
) -> Result<Option<[u8; N]>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => {
            let bytes = hex::decode(&s).map_err(serde::de::Error::custom)?;
            bytes
                .try_into()
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("expected {N} bytes")))
        }
    }
}

fn octet_stream() -> String {
    "application/octet-stream".into()
}

/// Encoders for what the bridge sends (the data part; `pad` adds type and padding).
pub mod encode {
    use serde::Serialize;

    use super::{Location, PollSetup, ReceiptStatus};
    use crate::{MessageId, wire};

    /// Who voted what in a poll being closed: each participant's Threema ID with the ids of
    /// the choices they chose (none: they took their vote back).
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct PollResults {
        pub votes: Vec<(String, Vec<u64>)>,
    }

    /// Poll setup (0x15): `poll-id:u64-le ‖ JSON{d, s, a, t, u, o, c[, p]}`. A closed poll
    /// (sent the second and last time) carries the participants (`p`) and, per choice, each
    /// one's vote in their order (`r`) and the total (`t`). Votes go only to the creator
    /// (`t: 0`), shown as a list (`u: 0`); choices are ordered as given.
    pub fn poll_setup(poll: &PollSetup, results: Option<&PollResults>) -> Vec<u8> {
        #[derive(Serialize)]
        struct Json<'a> {
            d: &'a str,
            s: u8,
            a: u8,
            t: u8,
            u: u8,
            o: u8,
            c: Vec<Choice<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            p: Option<Vec<&'a str>>,
        }
        #[derive(Serialize)]
        struct Choice<'a> {
            i: u64,
            n: &'a str,
            o: usize,
            #[serde(skip_serializing_if = "Option::is_none")]
            r: Option<Vec<u8>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            t: Option<usize>,
        }
        let json = Json {
            d: &poll.description,
            s: u8::from(poll.closed),
            a: u8::from(poll.multiple_choice),
            t: 0,
            u: 0,
            o: 0,
            c: (poll.choices.iter().enumerate())
                .map(|(o, choice)| {
                    let chose = |(_, chosen): &(String, Vec<u64>)| chosen.contains(&choice.id);
                    let r = results.map(|r| r.votes.iter().map(|v| u8::from(chose(v))).collect());
                    Choice {
                        i: choice.id,
                        n: &choice.name,
                        o,
                        t: results.map(|r| r.votes.iter().filter(|v| chose(v)).count()),
                        r,
                    }
                })
                .collect(),
            p: results.map(|r| r.votes.iter().map(|(id, _)| id.as_str()).collect()),
        };
        let mut out = poll.poll_id.to_le_bytes().to_vec();
        out.extend(serde_json::to_vec(&json).expect("a poll serialises"));
        out
    }

    /// Poll vote (0x16): `creator(8) ‖ poll-id:u64-le ‖ JSON [[choice id, 0|1], …]`, every
    /// choice of the poll named (`choices`: each id and whether it is chosen).
    pub fn poll_vote(creator: &str, poll_id: u64, choices: &[(u64, bool)]) -> Vec<u8> {
        let pairs: Vec<(u64, u8)> = (choices.iter())
            .map(|(id, chosen)| (*id, u8::from(*chosen)))
            .collect();
        let mut out = creator.as_bytes().to_vec();
        out.extend_from_slice(&poll_id.to_le_bytes());
        out.extend(serde_json::to_vec(&pairs).expect("votes serialise"));
        out
    }

    /// The JSON of a poll setup is limited to this many bytes.
    pub const MAX_POLL_JSON_BYTES: usize = 6000;

    /// `None` for an empty list: a receipt names at least one message.
    pub fn delivery_receipt(status: ReceiptStatus, message_ids: &[MessageId]) -> Option<Vec<u8>> {
        wire::encode_receipt(status.into(), message_ids)
    }

    pub fn edit(message_id: MessageId, text: &str) -> Vec<u8> {
        wire::encode_edit(message_id, text)
    }

    pub fn delete(message_id: MessageId) -> Vec<u8> {
        wire::encode_delete(message_id)
    }

    /// `lat,lon[,accuracy]` then the name and address lines; newlines in the address are
    /// escaped as the apps do.
    pub fn location(location: &Location) -> Vec<u8> {
        let Location {
            latitude,
            longitude,
            accuracy_m,
            name,
            address,
        } = location;
        let mut text = match accuracy_m {
            Some(a) => format!("{latitude},{longitude},{a}"),
            None => format!("{latitude},{longitude}"),
        };
        let one_line = |s: &str| s.replace('\n', "\\n");
        match (name, address) {
            (Some(n), Some(a)) => {
                text.push_str(&format!("\n{}\n{}", n.replace('\n', " "), one_line(a)))
            }
            (None, Some(a)) => text.push_str(&format!("\n{}", one_line(a))),
            // A name without an address is not allowed by the format: send it as the address.
            (Some(n), None) => text.push_str(&format!("\n{}", one_line(n))),
            (None, None) => {}
        }
        text.into_bytes()
    }
}

#[cfg(test)]
mod tests;
