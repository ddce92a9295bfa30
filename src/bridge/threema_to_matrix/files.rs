//! A driver's file: fetched from the Gateway only once the sender is known, only when the
//! homeserver will take it, and not forever. A file that cannot be bridged is shown in its
//! place by a notice from the driver's ghost, so that the desk knows something was sent.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Incoming, ThreemaToMatrix};
use crate::{
    bridge::BridgeError,
    matrix::MatrixClient,
    threema::{codec::Message, receive::ReceiveError},
};

/// When the homeserver does not say: Synapse's default `max_upload_size`.
const DEFAULT_UPLOAD_LIMIT: u64 = 50 * 1024 * 1024;

/// The homeserver's upload limit (`m.upload.size`), asked once.
#[derive(Debug, Default)]
pub struct UploadLimit(tokio::sync::OnceCell<u64>);

impl UploadLimit {
    async fn get(&self, matrix: &MatrixClient) -> u64 {
        if let Some(limit) = self.0.get() {
            return *limit;
        }
        match matrix.upload_limit().await {
            Ok(limit) => *self.0.get_or_init(|| async move { limit }).await,
            // Asked again next time.
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the homeserver's upload limit");
                DEFAULT_UPLOAD_LIMIT
            }
        }
    }
}

impl ThreemaToMatrix {
    /// Downloads the file `incoming` refers to, if any, into it; or puts the notice shown in
    /// its place there. The memory the file takes stays reserved until the returned value is
    /// dropped. The inner error: the message is kept and not bridged.
    pub(super) async fn fetch_driver_file(
        &self,
        incoming: &mut Incoming,
        key: &[u8; 32],
    ) -> Result<Result<Reserved, ReceiveError>, BridgeError> {
        let Some((name, stated)) = announced(&incoming.message) else {
            return Ok(Ok(None));
        };
        let limit = self.upload_limit.get(&self.matrix).await;
        if let Some(stated) = stated
            && stated > limit
        {
            incoming.stand_in = Some(StandIn::TooLarge(crate::tr!(
                self.texts,
                "file-too-large",
                name = name.as_str(),
                size = megabytes(stated),
                limit = megabytes(limit)
            )));
            return Ok(Ok(None));
        }
        let allowed = self.download_attempts;
        // Given up before (its notice then failed to post): not downloaded again.
        if self
            .store
            .threema_inbox_download_failures(incoming.seq)
            .await?
            >= allowed
        {
            incoming.stand_in = Some(StandIn::not_fetched(&self.texts, allowed));
            return Ok(Ok(None));
        }
        // The size a message states is only its sender's word; the download stops at the limit
        // whatever it says.
        let reserved = self
            .file_memory
            .reserve(stated.unwrap_or(limit).min(limit))
            .await;
        match self
            .threema
            .fetch_media(&incoming.message, key, limit)
            .await
        {
            Ok(media) => {
                incoming.media = media;
                Ok(Ok(Some(reserved)))
            }
            // Only a notice goes on: the memory is free for others.
            Err(error) => Ok(self
                .not_downloaded(incoming, error, &name, limit)
                .await?
                .map(|()| None)),
        }
    }

    /// Puts the notice for a download that failed in `incoming`, or says why the message
    /// cannot go on (the outer error: try again later; the inner: keep it, not bridged).
    async fn not_downloaded(
        &self,
        incoming: &mut Incoming,
        error: ReceiveError,
        name: &str,
        limit: u64,
    ) -> Result<Result<(), ReceiveError>, BridgeError> {
        let allowed = self.download_attempts;
        incoming.stand_in = Some(match error {
            // It said it was smaller: the download was cut off at the limit.
            ReceiveError::BlobTooLarge(_) => StandIn::TooLarge(crate::tr!(
                self.texts,
                "file-over-limit",
                name = name,
                limit = megabytes(limit)
            )),
            // Counted in the store, apart from the item's other failures: a homeserver away
            // after the download uses up none of these, and a restart forgets none.
            ReceiveError::Gateway(e) if e.is_transient() => {
                let failed = self
                    .store
                    .threema_inbox_download_failed(incoming.seq)
                    .await?;
                if failed < allowed {
                    return Err(e.into());
                }
                tracing::warn!(threema_id = %incoming.from, error = %e, "file not fetched; given up");
                StandIn::not_fetched(&self.texts, allowed)
            }
            ReceiveError::Gateway(e) => return Err(e.into()),
            ReceiveError::BlobGone(_) => StandIn::Gone(crate::tr!(self.texts, "file-gone")),
            e => return Ok(Err(e)),
        });
        Ok(Ok(()))
    }
}

/// The name to show and the stated size of the file a message refers to, if it refers to one
/// (the old media types state no size).
fn announced(message: &Message) -> Option<(String, Option<u64>)> {
    let (name, size) = match message {
        Message::File(file) => (file.file_name.as_deref(), Some(file.size)),
        Message::LegacyImage { .. } | Message::LegacyAudio { .. } | Message::LegacyVideo { .. } => {
            (None, None)
        }
        _ => return None,
    };
    Some((name.unwrap_or("a file").to_owned(), size))
}

/// Memory for drivers' files in flight (`threema.file_memory_mb`). Without it, every inbox
/// worker could hold a large video at once (16 × 50 MB, twice over while decrypting).
#[derive(Debug)]
pub struct FileMemory {
    permits: Arc<Semaphore>,
    mib: u32,
}

/// Held while a file is downloaded, decrypted and uploaded.
pub type Reserved = Option<OwnedSemaphorePermit>;

impl FileMemory {
    pub fn new(mib: u32) -> Self {
        FileMemory {
            permits: Arc::new(Semaphore::new(mib as usize)),
            mib,
        }
    }

    /// Waits until a file of `size` bytes fits: twice its size (the blob and its plaintext
    /// while it is decrypted) and a MiB for a thumbnail. One larger than everything waits until
    /// it is alone.
    async fn reserve(&self, size: u64) -> OwnedSemaphorePermit {
        let mib = (2 * size).div_ceil(1 << 20) + 1;
        let mib = u32::try_from(mib).unwrap_or(u32::MAX).min(self.mib);
        (self.permits.clone().acquire_many_owned(mib).await).expect("the semaphore is never closed")
    }
}

/// What the portal shows in place of a file that is not bridged, and why.
#[derive(Debug, Clone, PartialEq)]
pub enum StandIn {
    TooLarge(String),
    NotFetched(String),
    Gone(String),
}

impl StandIn {
    fn not_fetched(texts: &crate::texts::Texts, attempts: i64) -> StandIn {
        StandIn::NotFetched(crate::tr!(texts, "file-not-fetched", attempts = attempts))
    }

    /// The homeserver refused the upload of the file `name` of `size` bytes.
    pub fn too_large(texts: &crate::texts::Texts, name: &str, size: u64) -> String {
        crate::tr!(
            texts,
            "file-refused-by-homeserver",
            name = name,
            size = megabytes(size)
        )
    }

    pub fn text(&self) -> &str {
        match self {
            StandIn::TooLarge(text) | StandIn::NotFetched(text) | StandIn::Gone(text) => text,
        }
    }

    /// For the inbox row's outcome (no file name there).
    pub fn reason(&self) -> &'static str {
        match self {
            StandIn::TooLarge(_) => "over the homeserver's upload limit",
            StandIn::NotFetched(_) => "download given up",
            StandIn::Gone(_) => "no longer at the Gateway",
        }
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_waits_until_it_fits() {
        let memory = FileMemory::new(32);
        let mib = 1 << 20;
        // Twice 10 MiB and one for a thumbnail.
        let first = memory.reserve(10 * mib).await;
        assert_eq!(memory.permits.available_permits(), 11);
        let second = memory.reserve(10 * mib);
        tokio::pin!(second);
        assert!(futures::poll!(&mut second).is_pending());
        drop(first);
        let held = second.await;
        // Larger than everything: waits until it is alone, then takes it all.
        let whole = memory.reserve(u64::MAX / 4);
        tokio::pin!(whole);
        assert!(futures::poll!(&mut whole).is_pending());
        drop(held);
        let _whole = whole.await;
        assert_eq!(memory.permits.available_permits(), 0);
    }
}
