//! What a client asks for, pure: the requests' shapes, their bounds, a file's bytes, the hash
//! that tells a repeated request from another with the same Idempotency-Key.

use ruma::events::room::message::RoomMessageEventContent;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Accepted, SendRefused};
use crate::store::ApiMessage;

/// A text longer than this is not a dispatch message (the outbox splits what fits Threema).
pub const MAX_TEXT_CHARS: usize = 10_000;
pub const MAX_REFERENCE_CHARS: usize = 200;
pub const MAX_KEY_CHARS: usize = 255;
/// A delivery note or a photo, not a video archive.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;

/// Whom a message is for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Recipient {
    EmployeeId(String),
    ThreemaId(String),
    /// A selection in the broadcast syntax (`depot=North AND shift=late`).
    Selection(String),
}

/// `POST /api/v1/messages`, as the client sent it.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub to: Recipient,
    /// With a file: its caption.
    pub text: String,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub ack_requested: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileUpload>,
}

/// A file sent with the text (a delivery note, a map), in the request's JSON.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileUpload {
    pub name: String,
    pub mime_type: String,
    pub data_base64: String,
}

/// Without the texts and the file's bytes (personal data).
impl std::fmt::Debug for SendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRequest")
            .field("to", &self.to)
            .field("ack_requested", &self.ack_requested)
            .field("file", &self.file.is_some())
            .finish_non_exhaustive()
    }
}

/// A file as stored with the message once it is in the homeserver's media store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct StoredFile {
    pub mxc: String,
    pub name: String,
    pub mime_type: String,
    pub size: usize,
}

impl StoredFile {
    /// As a Matrix message with `caption` (an image or a file; Matrix 1.10 captions).
    pub(super) fn content(&self, caption: &str) -> RoomMessageEventContent {
        let image = self.mime_type.starts_with("image/");
        serde_json::from_value(json!({
            "msgtype": if image { "m.image" } else { "m.file" },
            "body": if caption.is_empty() { self.name.as_str() } else { caption },
            "filename": self.name,
            "url": self.mxc,
            "info": {"mimetype": self.mime_type, "size": self.size},
        }))
        .expect("a file message")
    }
}

/// What a request sends, however it was asked.
pub(super) struct Content {
    pub(super) text: String,
    pub(super) reference: Option<String>,
    pub(super) ack_requested: bool,
    /// A job card (JSON).
    pub(super) job: Option<String>,
    /// A file and its bytes.
    pub(super) file: Option<(FileUpload, Vec<u8>)>,
}

/// The file's bytes, if it is one the bridge sends.
pub(super) fn decode(file: &FileUpload) -> Result<(FileUpload, Vec<u8>), SendRefused> {
    use base64::Engine;
    let invalid = |why: String| Err(SendRefused::Invalid(why));
    let name = file.name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.contains(['/', '\\']) {
        return invalid("file.name must have 1 to 255 characters and no path".into());
    }
    let mime = file.mime_type.trim();
    let media_type = mime.split_once('/').is_some_and(|(kind, sub)| {
        let token =
            |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c.is_control());
        token(kind) && token(sub.split(';').next().unwrap_or_default())
    });
    if !media_type {
        return invalid("file.mime_type is not a media type (like application/pdf)".into());
    }
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(file.data_base64.trim())
    else {
        return invalid("file.data_base64 is not base64".into());
    };
    if bytes.is_empty() || bytes.len() > MAX_FILE_BYTES {
        return invalid(format!("the file must have 1 to {MAX_FILE_BYTES} bytes"));
    }
    let upload = FileUpload {
        name: name.to_owned(),
        mime_type: mime.to_owned(),
        data_base64: String::new(),
    };
    Ok((upload, bytes))
}

/// What a request is, to tell a repeated one from another with the same key.
pub(super) fn hash(request: &impl serde::Serialize) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(request).expect("a request serialises"),
    ))
}

/// Bounds and shape, before anything is looked up.
pub(super) fn check(
    text: &str,
    reference: &Option<String>,
    key: Option<&str>,
) -> Result<(), SendRefused> {
    let invalid = |why: &str| Err(SendRefused::Invalid(why.to_owned()));
    if text.trim().is_empty() {
        return invalid("text is empty");
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(SendRefused::Invalid(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    if (reference.as_ref()).is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS) {
        return Err(SendRefused::Invalid(format!(
            "reference is longer than {MAX_REFERENCE_CHARS} characters"
        )));
    }
    if key.is_some_and(|k| k.is_empty() || k.chars().count() > MAX_KEY_CHARS) {
        return Err(SendRefused::Invalid(format!(
            "the Idempotency-Key header must have 1 to {MAX_KEY_CHARS} characters"
        )));
    }
    Ok(())
}

/// The answer to a request whose Idempotency-Key was seen before.
pub(super) fn replayed(earlier: ApiMessage, request_hash: &str) -> Result<Accepted, SendRefused> {
    match earlier.request_hash == request_hash {
        true => Ok(Accepted {
            id: earlier.id,
            replayed: true,
        }),
        false => Err(SendRefused::KeyReused),
    }
}
