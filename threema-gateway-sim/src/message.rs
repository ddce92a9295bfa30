//! The end-to-end message layer (§5.2–§5.7): the container with its PKCS#7-style padding, and the
//! encoding and decoding of every message type a Threema phone and the Gateway exchange. Pure
//! byte-level code without IO; blob handling (download, decryption) lives with the phones.

use serde_json::{Map, Value, json};

/// Message type bytes (§5.3).
pub mod message_type {
    pub const TEXT: u8 = 0x01;
    pub const IMAGE: u8 = 0x02;
    pub const LOCATION: u8 = 0x10;
    pub const VIDEO: u8 = 0x13;
    pub const AUDIO: u8 = 0x14;
    pub const POLL_SETUP: u8 = 0x15;
    pub const POLL_VOTE: u8 = 0x16;
    pub const FILE: u8 = 0x17;
    pub const DELIVERY_RECEIPT: u8 = 0x80;
    pub const TYPING_INDICATOR: u8 = 0x90;
    pub const EDIT: u8 = 0x91;
    pub const DELETE: u8 = 0x92;
}

/// Padded data is at least this long, so short messages do not reveal their length (§5.2).
pub const MIN_PADDED_DATA_LEN: usize = 32;

/// Why bytes could not be encoded or decoded as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("empty plaintext")]
    Empty,
    #[error("invalid padding")]
    Padding,
    #[error("invalid UTF-8")]
    Utf8,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid message ID {0:?}: expected 16 hex characters")]
    MessageId(String),
    #[error("invalid Threema ID {0:?}")]
    ThreemaId(String),
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
}

fn invalid(what: &'static str, detail: impl Into<String>) -> CodecError {
    CodecError::Invalid {
        what,
        detail: detail.into(),
    }
}

// ------------------------------------------------------------------------------------ container

/// The padding length for `data_len` bytes of data, given a random draw in 1..=255: the draw,
/// raised so that data plus padding is at least 32 bytes (the current rule of §5.2).
pub fn padding_length(data_len: usize, random: u8) -> u8 {
    let random = random.max(1);
    if data_len + usize::from(random) < MIN_PADDED_DATA_LEN {
        // data_len < 32 here, so the difference fits.
        (MIN_PADDED_DATA_LEN - data_len) as u8
    } else {
        random
    }
}

/// `type || data || pad × pad` — the plaintext that goes into the box.
pub fn build_container(message_type: u8, data: &[u8], padding: u8) -> Vec<u8> {
    assert!(padding >= 1, "PKCS#7 padding is never empty");
    let mut out = Vec::with_capacity(1 + data.len() + usize::from(padding));
    out.push(message_type);
    out.extend_from_slice(data);
    out.extend(std::iter::repeat_n(padding, usize::from(padding)));
    out
}

/// A decrypted container, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Container<'a> {
    pub message_type: u8,
    pub data: &'a [u8],
    pub padding: u8,
}

/// Splits a decrypted plaintext. Like the apps, this trusts the last byte as the padding length
/// and only checks that it fits; it does not insist on the 32-byte minimum, because the official
/// Rust SDK 0.21 does not follow it (§8.3) and the apps still accept such messages.
pub fn open_container(plaintext: &[u8]) -> Result<Container<'_>, CodecError> {
    let (&message_type, rest) = plaintext.split_first().ok_or(CodecError::Empty)?;
    let padding = *rest.last().ok_or(CodecError::Padding)?;
    let pad_len = usize::from(padding);
    if pad_len == 0 || pad_len > rest.len() {
        return Err(CodecError::Padding);
    }
    Ok(Container {
        message_type,
        data: &rest[..rest.len() - pad_len],
        padding,
    })
}

// ------------------------------------------------------------------------------------ identifiers

/// Is `id` a Threema ID: 8 characters `[0-9A-Z]`, the first may be `*` (Gateway IDs)?
pub fn is_threema_id(id: &str) -> bool {
    id.len() == 8
        && id
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || b.is_ascii_uppercase() || (i == 0 && b == b'*'))
}

/// The 8 wire bytes of a message ID given as 16 hex characters (either case).
pub fn message_id_bytes(id: &str) -> Result<[u8; 8], CodecError> {
    let mut out = [0u8; 8];
    if id.len() != 16 {
        return Err(CodecError::MessageId(id.to_owned()));
    }
    hex::decode_to_slice(id, &mut out).map_err(|_| CodecError::MessageId(id.to_owned()))?;
    Ok(out)
}

/// The public form of a message ID: lowercase hex of the 8 wire bytes (§2).
pub fn message_id_hex(bytes: [u8; 8]) -> String {
    hex::encode(bytes)
}

fn blob_id_bytes(id: &str) -> Result<[u8; 16], CodecError> {
    let mut out = [0u8; 16];
    if id.len() != 32 {
        return Err(invalid("blob ID", id));
    }
    hex::decode_to_slice(id, &mut out).map_err(|_| invalid("blob ID", id))?;
    Ok(out)
}

fn read_array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N]
        .try_into()
        .expect("length checked by caller")
}

// ------------------------------------------------------------------------------------ encoders

/// Location (0x10): `lat,lon[,accuracy]`, then optionally `address` or `name` and `address`;
/// a line feed inside name or address is escaped as a literal `\n` (§5.6).
pub fn encode_location(
    lat: f64,
    lon: f64,
    accuracy: Option<f64>,
    name: Option<&str>,
    address: Option<&str>,
) -> Result<Vec<u8>, CodecError> {
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(invalid("coordinates", format!("{lat},{lon}")));
    }
    let mut out = format!("{lat},{lon}");
    if let Some(accuracy) = accuracy {
        out.push_str(&format!(",{accuracy}"));
    }
    match (name, address) {
        (None, None) => {}
        (None, Some(address)) => out.push_str(&format!("\n{}", escape_line(address))),
        (Some(name), Some(address)) => out.push_str(&format!(
            "\n{}\n{}",
            escape_line(name),
            escape_line(address)
        )),
        (Some(_), None) => return Err(invalid("location", "a name requires an address")),
    }
    Ok(out.into_bytes())
}

fn escape_line(s: &str) -> String {
    s.replace('\n', "\\n")
}

/// Delivery receipt (0x80): `status || message-id × n`, n ≥ 1 (§5.4).
pub fn encode_delivery_receipt(status: u8, message_ids: &[String]) -> Result<Vec<u8>, CodecError> {
    if message_ids.is_empty() {
        return Err(invalid("delivery receipt", "needs at least one message ID"));
    }
    let mut out = vec![status];
    for id in message_ids {
        out.extend_from_slice(&message_id_bytes(id)?);
    }
    Ok(out)
}

/// Typing indicator (0x90): one byte, 1 typing, 0 stopped.
pub fn encode_typing(typing: bool) -> Vec<u8> {
    vec![u8::from(typing)]
}

/// Edit (0x91): protobuf `EditMessage { fixed64 message_id = 1; string text = 2; }`.
pub fn encode_edit(message_id: &str, text: &str) -> Result<Vec<u8>, CodecError> {
    let mut out = proto_fixed64(1, message_id_bytes(message_id)?);
    proto_bytes(&mut out, 2, text.as_bytes());
    Ok(out)
}

/// Delete (0x92): protobuf `DeleteMessage { fixed64 message_id = 1; }`.
pub fn encode_delete(message_id: &str) -> Result<Vec<u8>, CodecError> {
    Ok(proto_fixed64(1, message_id_bytes(message_id)?))
}

/// Poll setup (0x15): `poll-id:u64-le || JSON` for a poll that reports votes only to the
/// creator, shown as a list (§5.7); sent open, then once more closed.
pub fn encode_poll_setup(
    poll_id: u64,
    description: &str,
    choices: &[String],
    multiple: bool,
    closed: bool,
) -> Vec<u8> {
    let choices: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, text)| json!({"i": i, "n": text, "o": i}))
        .collect();
    let body = json!({
        "d": description, "s": u8::from(closed), "a": u8::from(multiple), "t": 0, "u": 0, "o": 0, "c": choices,
    });
    let mut out = poll_id.to_le_bytes().to_vec();
    out.extend_from_slice(body.to_string().as_bytes());
    out
}

/// Poll vote (0x16): `creator(8) || poll-id:u64-le || JSON [[choice, 0|1], …]` (§5.7).
pub fn encode_poll_vote(
    creator: &str,
    poll_id: u64,
    choices: &[(u32, bool)],
) -> Result<Vec<u8>, CodecError> {
    if !is_threema_id(creator) {
        return Err(CodecError::ThreemaId(creator.to_owned()));
    }
    let votes: Vec<Value> = choices
        .iter()
        .map(|(choice, chosen)| json!([choice, u8::from(*chosen)]))
        .collect();
    let mut out = creator.as_bytes().to_vec();
    out.extend_from_slice(&poll_id.to_le_bytes());
    out.extend_from_slice(Value::Array(votes).to_string().as_bytes());
    Ok(out)
}

/// The fields of a file message (0x17, §5.5).
#[derive(Debug, Clone, PartialEq)]
pub struct FileRef {
    /// 32 lowercase hex characters.
    pub blob_id: String,
    pub key: [u8; 32],
    pub media_type: String,
    pub file_name: Option<String>,
    pub size: u64,
    pub thumbnail_blob_id: Option<String>,
    pub thumbnail_media_type: Option<String>,
    pub caption: Option<String>,
    /// `j`: 0 file, 1 media, 2 sticker.
    pub rendering: u8,
    pub correlation_id: Option<String>,
    pub metadata: Option<Value>,
}

/// File message JSON as the apps write it, including the deprecated `i` beside `j` (the
/// official Rust SDK refuses file messages without `i`).
pub fn encode_file(file: &FileRef) -> Vec<u8> {
    let mut map = Map::new();
    map.insert("j".into(), json!(file.rendering));
    map.insert("i".into(), json!(u8::from(file.rendering != 0)));
    map.insert("k".into(), json!(hex::encode(file.key)));
    map.insert("b".into(), json!(file.blob_id));
    map.insert("m".into(), json!(file.media_type));
    map.insert("s".into(), json!(file.size));
    let optional = [
        ("n", &file.file_name),
        ("t", &file.thumbnail_blob_id),
        ("p", &file.thumbnail_media_type),
        ("d", &file.caption),
        ("c", &file.correlation_id),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            map.insert(key.into(), json!(value));
        }
    }
    if let Some(metadata) = &file.metadata {
        map.insert("x".into(), metadata.clone());
    }
    Value::Object(map).to_string().into_bytes()
}

/// Deprecated image (0x02): `blob-id(16) || size:u32-le || nonce(24)`; the blob is a
/// `crypto_box` under the sender's and recipient's keys with that nonce.
pub fn encode_legacy_image(
    blob_id: &str,
    size: u32,
    nonce: &[u8; 24],
) -> Result<Vec<u8>, CodecError> {
    let mut out = blob_id_bytes(blob_id)?.to_vec();
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(nonce);
    Ok(out)
}

/// Deprecated audio (0x14): `duration:u16-le || blob-id || size:u32-le || key(32)`.
pub fn encode_legacy_audio(
    duration_s: u16,
    blob_id: &str,
    size: u32,
    key: &[u8; 32],
) -> Result<Vec<u8>, CodecError> {
    let mut out = duration_s.to_le_bytes().to_vec();
    out.extend_from_slice(&blob_id_bytes(blob_id)?);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(key);
    Ok(out)
}

/// Deprecated video (0x13): `duration:u16-le || video-blob || video-size:u32-le || thumb-blob ||
/// thumb-size:u32-le || key(32)`; secretbox nonces 1 (video) and 2 (thumbnail).
pub fn encode_legacy_video(
    duration_s: u16,
    video: (&str, u32),
    thumbnail: (&str, u32),
    key: &[u8; 32],
) -> Result<Vec<u8>, CodecError> {
    let mut out = duration_s.to_le_bytes().to_vec();
    out.extend_from_slice(&blob_id_bytes(video.0)?);
    out.extend_from_slice(&video.1.to_le_bytes());
    out.extend_from_slice(&blob_id_bytes(thumbnail.0)?);
    out.extend_from_slice(&thumbnail.1.to_le_bytes());
    out.extend_from_slice(key);
    Ok(out)
}

// ------------------------------------------------------------------------------------ decoder

/// A message body parsed from its type and unpadded data. Blob references are not resolved here.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Text(String),
    File {
        json: Value,
        file: FileRef,
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
    LegacyImage {
        blob_id: String,
        size: u32,
        nonce: [u8; 24],
    },
    LegacyAudio {
        duration_s: u16,
        blob_id: String,
        size: u32,
        key: [u8; 32],
    },
    LegacyVideo {
        duration_s: u16,
        blob_id: String,
        size: u32,
        thumbnail_blob_id: String,
        thumbnail_size: u32,
        key: [u8; 32],
    },
    /// Any type this codec does not interpret (groups, reactions, calls, …).
    Other {
        message_type: u8,
        data: Vec<u8>,
    },
}

/// Parses the data of a container of the given type.
pub fn parse(message_type: u8, data: &[u8]) -> Result<Parsed, CodecError> {
    use crate::message::message_type as t;
    match message_type {
        t::TEXT => Ok(Parsed::Text(utf8(data)?.to_owned())),
        t::FILE => parse_file(data),
        t::LOCATION => parse_location(utf8(data)?),
        t::DELIVERY_RECEIPT => {
            if data.len() < 9 || !(data.len() - 1).is_multiple_of(8) {
                return Err(invalid(
                    "delivery receipt",
                    format!("length {}", data.len()),
                ));
            }
            let message_ids = data[1..]
                .chunks_exact(8)
                .map(|chunk| message_id_hex(chunk.try_into().expect("chunk of 8")))
                .collect();
            Ok(Parsed::DeliveryReceipt {
                status: data[0],
                message_ids,
            })
        }
        t::TYPING_INDICATOR => match data {
            [0] => Ok(Parsed::Typing(false)),
            [1] => Ok(Parsed::Typing(true)),
            _ => Err(invalid("typing indicator", format!("{data:02x?}"))),
        },
        t::EDIT => {
            let fields = proto_fields(data)?;
            Ok(Parsed::Edit {
                message_id: message_id_hex(fields.fixed64(1)),
                text: String::from_utf8(fields.bytes(2).to_vec()).map_err(|_| CodecError::Utf8)?,
            })
        }
        t::DELETE => Ok(Parsed::Delete {
            message_id: message_id_hex(proto_fields(data)?.fixed64(1)),
        }),
        t::POLL_SETUP => {
            if data.len() < 8 {
                return Err(invalid("poll setup", "shorter than the poll ID"));
            }
            Ok(Parsed::PollSetup {
                poll_id: u64::from_le_bytes(read_array(data, 0)),
                json: json_value(&data[8..])?,
            })
        }
        t::POLL_VOTE => parse_poll_vote(data),
        t::IMAGE => {
            if data.len() != 44 {
                return Err(invalid("image message", format!("length {}", data.len())));
            }
            Ok(Parsed::LegacyImage {
                blob_id: hex::encode(&data[..16]),
                size: u32::from_le_bytes(read_array(data, 16)),
                nonce: read_array(data, 20),
            })
        }
        t::AUDIO => {
            if data.len() != 54 {
                return Err(invalid("audio message", format!("length {}", data.len())));
            }
            Ok(Parsed::LegacyAudio {
                duration_s: u16::from_le_bytes(read_array(data, 0)),
                blob_id: hex::encode(&data[2..18]),
                size: u32::from_le_bytes(read_array(data, 18)),
                key: read_array(data, 22),
            })
        }
        t::VIDEO => {
            if data.len() != 74 {
                return Err(invalid("video message", format!("length {}", data.len())));
            }
            Ok(Parsed::LegacyVideo {
                duration_s: u16::from_le_bytes(read_array(data, 0)),
                blob_id: hex::encode(&data[2..18]),
                size: u32::from_le_bytes(read_array(data, 18)),
                thumbnail_blob_id: hex::encode(&data[22..38]),
                thumbnail_size: u32::from_le_bytes(read_array(data, 38)),
                key: read_array(data, 42),
            })
        }
        other => Ok(Parsed::Other {
            message_type: other,
            data: data.to_vec(),
        }),
    }
}

fn utf8(data: &[u8]) -> Result<&str, CodecError> {
    std::str::from_utf8(data).map_err(|_| CodecError::Utf8)
}

fn json_value(data: &[u8]) -> Result<Value, CodecError> {
    serde_json::from_slice(data).map_err(|e| CodecError::Json(e.to_string()))
}

fn parse_file(data: &[u8]) -> Result<Parsed, CodecError> {
    let json = json_value(data)?;
    let obj = json
        .as_object()
        .ok_or_else(|| CodecError::Json("file message is not an object".into()))?;
    let string = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
    let required = |key: &'static str| {
        string(key).ok_or_else(|| invalid("file message", format!("missing {key:?}")))
    };
    let blob_id = required("b")?;
    blob_id_bytes(&blob_id)?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(required("k")?, &mut key)
        .map_err(|_| invalid("file message", "bad key \"k\""))?;
    let size = obj
        .get("s")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("file message", "missing \"s\""))?;
    // `j` wins; without it the deprecated `i` decides (§5.5).
    let rendering = match (
        obj.get("j").and_then(Value::as_u64),
        obj.get("i").and_then(Value::as_u64),
    ) {
        (Some(j), _) => u8::try_from(j).unwrap_or(0),
        (None, Some(1)) => 1,
        _ => 0,
    };
    let file = FileRef {
        blob_id,
        key,
        media_type: required("m")?,
        file_name: string("n"),
        size,
        thumbnail_blob_id: string("t"),
        thumbnail_media_type: string("p"),
        caption: string("d"),
        rendering,
        correlation_id: string("c"),
        metadata: obj.get("x").cloned(),
    };
    Ok(Parsed::File { json, file })
}

fn parse_location(text: &str) -> Result<Parsed, CodecError> {
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.len() > 3 {
        return Err(invalid("location", "more than three lines"));
    }
    let mut coordinates = lines[0].split(',').map(|part| part.trim().parse::<f64>());
    let mut next = |what: &'static str| match coordinates.next() {
        Some(Ok(value)) => Ok(Some(value)),
        Some(Err(_)) => Err(invalid("location", format!("bad {what}"))),
        None => Ok(None),
    };
    let lat = next("latitude")?.ok_or_else(|| invalid("location", "missing latitude"))?;
    let lon = next("longitude")?.ok_or_else(|| invalid("location", "missing longitude"))?;
    let accuracy = next("accuracy")?;
    let unescape = |s: &str| s.replace("\\n", "\n");
    let (name, address) = match lines.len() {
        2 => (None, Some(unescape(lines[1]))),
        3 => (Some(unescape(lines[1])), Some(unescape(lines[2]))),
        _ => (None, None),
    };
    Ok(Parsed::Location {
        lat,
        lon,
        accuracy,
        name,
        address,
    })
}

fn parse_poll_vote(data: &[u8]) -> Result<Parsed, CodecError> {
    if data.len() < 16 {
        return Err(invalid("poll vote", "shorter than creator and poll ID"));
    }
    let creator = utf8(&data[..8])?.to_owned();
    let poll_id = u64::from_le_bytes(read_array(data, 8));
    let votes = json_value(&data[16..])?;
    let choices = votes
        .as_array()
        .ok_or_else(|| invalid("poll vote", "votes are not an array"))?
        .iter()
        .map(|vote| match vote.as_array().map(Vec::as_slice) {
            Some([choice, chosen]) => Ok((
                choice
                    .as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(|| invalid("poll vote", "bad choice ID"))?,
                chosen
                    .as_u64()
                    .ok_or_else(|| invalid("poll vote", "bad vote"))?
                    != 0,
            )),
            _ => Err(invalid("poll vote", "vote is not a pair")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Parsed::PollVote {
        creator,
        poll_id,
        choices,
    })
}

// ------------------------------------------------------------------------------------ protobuf
// Edit and delete are tiny protobuf messages; a hand-written codec for the two wire types they
// use keeps the simulator independent of any generated code.

fn proto_fixed64(field: u32, value: [u8; 8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    put_varint(&mut out, u64::from(field << 3 | 1));
    out.extend_from_slice(&value);
    out
}

fn proto_bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    // proto3 omits fields with default values.
    if value.is_empty() {
        return;
    }
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(data: &[u8], pos: &mut usize) -> Result<u64, CodecError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data
            .get(*pos)
            .ok_or_else(|| invalid("protobuf", "truncated varint"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(invalid("protobuf", "varint too long"))
}

#[derive(Default)]
struct ProtoFields<'a> {
    fixed64: Vec<(u64, [u8; 8])>,
    bytes: Vec<(u64, &'a [u8])>,
}

impl<'a> ProtoFields<'a> {
    /// Last occurrence wins, as in protobuf; absent means the default (zero).
    fn fixed64(&self, field: u64) -> [u8; 8] {
        self.fixed64
            .iter()
            .rev()
            .find(|(f, _)| *f == field)
            .map_or([0; 8], |(_, v)| *v)
    }
    fn bytes(&self, field: u64) -> &'a [u8] {
        self.bytes
            .iter()
            .rev()
            .find(|(f, _)| *f == field)
            .map_or(&[], |(_, v)| v)
    }
}

fn proto_fields(data: &[u8]) -> Result<ProtoFields<'_>, CodecError> {
    let mut fields = ProtoFields::default();
    let mut pos = 0;
    while pos < data.len() {
        let key = get_varint(data, &mut pos)?;
        let (field, wire_type) = (key >> 3, key & 7);
        let take = |pos: &mut usize, n: usize| -> Result<&[u8], CodecError> {
            let end = pos.checked_add(n).filter(|&end| end <= data.len());
            let end = end.ok_or_else(|| invalid("protobuf", "truncated field"))?;
            let slice = &data[*pos..end];
            *pos = end;
            Ok(slice)
        };
        match wire_type {
            0 => {
                get_varint(data, &mut pos)?;
            }
            1 => fields
                .fixed64
                .push((field, take(&mut pos, 8)?.try_into().expect("8 bytes"))),
            2 => {
                let len = usize::try_from(get_varint(data, &mut pos)?)
                    .map_err(|_| invalid("protobuf", "length overflow"))?;
                fields.bytes.push((field, take(&mut pos, len)?));
            }
            5 => {
                take(&mut pos, 4)?;
            }
            other => return Err(invalid("protobuf", format!("wire type {other}"))),
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_32_bytes_and_round_trips() {
        assert_eq!(padding_length(5, 1), 27);
        assert_eq!(padding_length(5, 200), 200);
        assert_eq!(padding_length(40, 1), 1);
        let container = build_container(0x01, b"Hello", padding_length(5, 3));
        assert_eq!(container.len(), 1 + 32);
        let opened = open_container(&container).unwrap();
        assert_eq!(
            (opened.message_type, opened.data, opened.padding),
            (1, &b"Hello"[..], 27)
        );
    }

    #[test]
    fn bad_padding_is_rejected() {
        assert_eq!(open_container(&[1, b'a', 0]), Err(CodecError::Padding));
        assert_eq!(open_container(&[1, b'a', 3]), Err(CodecError::Padding));
        assert_eq!(open_container(&[]), Err(CodecError::Empty));
    }

    #[test]
    fn every_encoder_round_trips() {
        let id = "0102030405060708".to_string();
        let cases: Vec<(u8, Vec<u8>, Parsed)> = vec![
            (
                message_type::LOCATION,
                encode_location(
                    47.5,
                    8.25,
                    Some(10.0),
                    Some("Depot"),
                    Some("Street 1\nCity"),
                )
                .unwrap(),
                Parsed::Location {
                    lat: 47.5,
                    lon: 8.25,
                    accuracy: Some(10.0),
                    name: Some("Depot".into()),
                    address: Some("Street 1\nCity".into()),
                },
            ),
            (
                message_type::DELIVERY_RECEIPT,
                encode_delivery_receipt(2, std::slice::from_ref(&id)).unwrap(),
                Parsed::DeliveryReceipt {
                    status: 2,
                    message_ids: vec![id.clone()],
                },
            ),
            (
                message_type::TYPING_INDICATOR,
                encode_typing(true),
                Parsed::Typing(true),
            ),
            (
                message_type::EDIT,
                encode_edit(&id, "fixed").unwrap(),
                Parsed::Edit {
                    message_id: id.clone(),
                    text: "fixed".into(),
                },
            ),
            (
                message_type::DELETE,
                encode_delete(&id).unwrap(),
                Parsed::Delete {
                    message_id: id.clone(),
                },
            ),
            (
                message_type::POLL_VOTE,
                encode_poll_vote("ECHOECHO", 7, &[(0, true), (1, false)]).unwrap(),
                Parsed::PollVote {
                    creator: "ECHOECHO".into(),
                    poll_id: 7,
                    choices: vec![(0, true), (1, false)],
                },
            ),
        ];
        for (message_type, data, expected) in cases {
            assert_eq!(
                parse(message_type, &data).unwrap(),
                expected,
                "type {message_type:#x}"
            );
        }
    }

    #[test]
    fn edit_matches_protobuf_layout() {
        // field 1 fixed64 (tag 0x09) with the raw wire bytes, field 2 string (tag 0x12).
        let data = encode_edit("0102030405060708", "ab").unwrap();
        assert_eq!(data, [0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x12, 2, b'a', b'b']);
    }

    #[test]
    fn file_without_j_falls_back_to_i() {
        let json = br#"{"b":"00112233445566778899aabbccddeeff","k":"4444444444444444444444444444444444444444444444444444444444444444","m":"image/png","n":"a.png","s":3,"i":1}"#;
        match parse(message_type::FILE, json).unwrap() {
            Parsed::File { file, .. } => assert_eq!((file.rendering, file.size), (1, 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn threema_ids() {
        assert!(is_threema_id("ECHOECHO"));
        assert!(is_threema_id("*DISPTCH"));
        assert!(!is_threema_id("echoecho"));
        assert!(!is_threema_id("ECHO*CHO"));
        assert!(!is_threema_id("ECHO"));
    }
}
