//! Media messages (image, video, audio, file) as Threema file messages: the attachment, its
//! caption and what the msgtype adds.

use ruma::events::room::{
    MediaSource,
    message::{FormattedBody, MessageType},
};

use super::{FileToSend, Outgoing, Plan, Relay, text_of};

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
pub(super) struct FileParts<'a> {
    attachment: Attachment<'a>,
    mimetype: &'a str,
    thumbnail: Option<Thumbnail>,
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

/// What a media message (image, video, audio, file) sends; `None` for other msgtypes.
pub(super) fn file_parts(msgtype: &MessageType) -> Option<FileParts<'_>> {
    Some(match msgtype {
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
        _ => return None,
    })
}

pub(super) fn plan_file(parts: FileParts<'_>, relay: Relay<'_>) -> Plan {
    let Attachment {
        source,
        body,
        formatted,
        filename,
    } = parts.attachment;
    // In an encrypted room the file comes encrypted, with what opens it.
    let (mxc, encrypted) = match source {
        MediaSource::Plain(mxc) => (mxc.to_string(), None),
        MediaSource::Encrypted(file) => (file.url.to_string(), Some(encrypted_json(file))),
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
    let thumbnail = parts.thumbnail;
    Plan::Send(vec![Outgoing::File(FileToSend {
        mxc,
        encrypted,
        mimetype: parts.mimetype.to_owned(),
        file_name: Some(file_name.to_owned()).filter(|n| !n.is_empty()),
        caption: Some(caption),
        thumbnail_mxc: thumbnail.as_ref().map(|t| t.mxc.clone()),
        thumbnail_encrypted: thumbnail.as_ref().and_then(|t| t.encrypted.clone()),
        thumbnail_mimetype: thumbnail.and_then(|t| t.mimetype),
        media: parts.media,
        width_height: parts.width_height,
        duration_s: parts.duration_s,
        shared: false,
    })])
}

/// A file's thumbnail: where it is (with its `file` description where it is encrypted) and its
/// type.
struct Thumbnail {
    mxc: String,
    encrypted: Option<serde_json::Value>,
    mimetype: Option<String>,
}

fn thumbnail(
    source: &Option<MediaSource>,
    info: &Option<Box<ruma::events::room::ThumbnailInfo>>,
) -> Option<Thumbnail> {
    let (mxc, encrypted) = match source.as_ref()? {
        MediaSource::Plain(mxc) => (mxc.to_string(), None),
        MediaSource::Encrypted(file) => (file.url.to_string(), Some(encrypted_json(file))),
    };
    Some(Thumbnail {
        mxc,
        encrypted,
        mimetype: info.as_ref().and_then(|i| i.mimetype.clone()),
    })
}

fn encrypted_json(file: &ruma::events::room::EncryptedFile) -> serde_json::Value {
    serde_json::to_value(file).expect("an encrypted file description serialises")
}

fn wh(width: Option<ruma::UInt>, height: Option<ruma::UInt>) -> Option<(u32, u32)> {
    Some((u32::try_from(width?).ok()?, u32::try_from(height?).ok()?))
}
