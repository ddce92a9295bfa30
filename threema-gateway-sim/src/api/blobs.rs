//! The blob server: `upload_blob` (§3.10) and `blobs/{id}` (§3.11).

use std::time::Instant;

use super::{ApiError, ApiResult, Ctx, bytes, content_type, text};
use crate::state::Blob;

/// Multipart with a part named `blob` (any filename or none); auth in the URL, but text parts
/// `from`/`secret`/`persist` are accepted as well.
pub(super) async fn upload(mut ctx: Ctx) -> ApiResult {
    let mut blob = None;
    // A malformed body simply yields no `blob` part: after auth that is a 400. No size limit
    // here: the body is already in memory, bounded by the API's body limit.
    if let Ok(boundary) = multer::parse_boundary(content_type(&ctx.headers)) {
        let reader = std::io::Cursor::new(ctx.body.clone());
        let mut multipart = multer::Multipart::with_reader(reader, boundary);
        while let Ok(Some(field)) = multipart.next_field().await {
            let name = field.name().unwrap_or_default().to_owned();
            let Ok(data) = field.bytes().await else { break };
            if name == "blob" {
                blob.get_or_insert(data);
            } else if let Ok(value) = String::from_utf8(data.to_vec()) {
                ctx.params.add_form(name, value);
            }
        }
    }
    ctx.auth()?;
    let data = blob.ok_or_else(|| ApiError::bad_request("missing blob"))?;
    if data.is_empty() {
        return Err(ApiError::bad_request("blob is empty"));
    }
    if data.len() > ctx.shared.config.limits.blob_bytes {
        return Err(ApiError::too_large("blob too big"));
    }
    let persist = ctx.params.flag("persist");
    ctx.debit(ctx.shared.config.costs.upload_blob)?;
    let id = hex::encode(ctx.shared.random_bytes::<16>());
    ctx.shared.lock().blobs.insert(
        id.clone(),
        Blob {
            data,
            persist,
            first_download: None,
        },
    );
    Ok(text(id))
}

/// Any blob on the server (also those the phones uploaded). A non-persistent blob expires a
/// while after its first download.
pub(super) fn download(ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    let id = ctx.arg.clone().unwrap_or_default().to_ascii_lowercase();
    let mut inner = ctx.shared.lock();
    let live = inner
        .blobs
        .get(&id)
        .map(|blob| ctx.shared.blob_is_live(blob));
    match live {
        Some(true) => {}
        Some(false) => {
            inner.blobs.remove(&id);
            return Err(ApiError::not_found("blob expired"));
        }
        None => return Err(ApiError::not_found("no such blob")),
    }
    let blob = inner.blobs.get_mut(&id).expect("checked above");
    blob.first_download.get_or_insert_with(Instant::now);
    let data = blob.data.clone();
    drop(inner);
    Ok(bytes("application/octet-stream", data))
}
