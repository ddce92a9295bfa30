//! The Gateway client: the official crate's E2E API at a configurable endpoint (the simulator in
//! tests), with our padding and typed errors. No store, and nothing cached but the keys shared with
//! drivers: the core decides.

use std::{sync::Arc, time::Duration};

use secrecy::ExposeSecret;
use threema_gateway::{
    ApiBuilder, E2eApi, EncryptedFileData, FileData, Key,
    protocol::e2e::file::{FileMessage as CrateFileMessage, RenderingType},
};

use super::{
    BlobId, MessageId, ThreemaError, ThreemaId,
    bulk::Bulk,
    codec::{self, Location, Message, ReceiptStatus},
    crypto::{self, PublicKey, SecretKey},
    shared_keys::SharedKeys,
};
use crate::{config::ThreemaConfig, ha::Fence};
use threema_gateway::errors::ApiError;

pub struct ThreemaClient {
    api: E2eApi,
    /// Blob downloads go around the crate (see [`ThreemaClient::download_blob`]).
    blobs: BlobSource,
    gateway_id: ThreemaId,
    secret_key: SecretKey,
    /// The keys shared with drivers, computed once each.
    shared: SharedKeys,
    /// Each request by endpoint and how it ended, for `/metrics`.
    requests: crate::metrics::Requests,
    /// Sends: those at the same time go out together.
    bulk: Arc<Bulk>,
    /// Asked before each send (`ha`): a standby sends nothing.
    fence: Arc<Fence>,
}

/// Where blobs are downloaded from, with the credentials the Gateway asks for.
struct BlobSource {
    http: reqwest_gateway::Client,
    endpoint: String,
    secret: secrecy::SecretString,
}

// `E2eApi`'s own Debug prints the API secret: never show it.
impl std::fmt::Debug for ThreemaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreemaClient")
            .field("gateway_id", &self.gateway_id)
            .finish_non_exhaustive()
    }
}

/// The decrypted bytes a file or legacy media message refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// Shared, not copied, on its way to the homeserver.
    pub data: bytes::Bytes,
    pub thumbnail: Option<bytes::Bytes>,
}

/// A file to send: the bytes, and how the driver's app should show them.
#[derive(Debug, Clone, Default)]
pub struct OutgoingFile {
    pub data: Vec<u8>,
    pub media_type: String,
    pub file_name: Option<String>,
    pub caption: Option<String>,
    /// JPEG or PNG bytes and their media type.
    pub thumbnail: Option<(Vec<u8>, String)>,
    /// Show inline (image, audio, video) rather than as a file.
    pub media: bool,
    pub width_height: Option<(u32, u32)>,
    pub duration_s: Option<f32>,
}

impl ThreemaClient {
    pub fn new(config: &ThreemaConfig) -> Result<Self, ThreemaError> {
        let gateway_id = ThreemaId::parse(&config.gateway_id)
            .ok_or_else(|| ThreemaError::Invalid("threema.gateway_id".into()))?;
        let key = crypto::key_bytes(config.private_key.expose_secret())
            .ok_or_else(|| ThreemaError::Invalid("threema.private_key".into()))?;
        let secret_key = SecretKey::from(key);
        let http = reqwest_gateway::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ThreemaError::Invalid(format!("HTTP client: {e}")))?;
        let endpoint = config.api_url.as_str().trim_end_matches('/').to_owned();
        let blobs = BlobSource {
            http: http.clone(),
            endpoint: endpoint.clone(),
            secret: config.secret.clone(),
        };
        let crate_id = threema_gateway::ThreemaId::try_from(gateway_id.as_str())
            .map_err(|e| ThreemaError::Invalid(format!("threema.gateway_id: {e}")))?;
        let api = ApiBuilder::new(crate_id, config.secret.expose_secret())
            // The crate joins some paths onto the endpoint's root, so no trailing slash.
            .with_custom_endpoint(endpoint)
            .with_client(http)
            .with_private_key(secret_key.clone())
            .into_e2e()
            .map_err(|e| ThreemaError::Invalid(e.to_string()))?;
        let (requests, fence) = (crate::metrics::Requests::default(), Arc::new(Fence::open()));
        Ok(ThreemaClient {
            bulk: Bulk::new(api.clone(), requests.clone(), fence.clone()),
            api,
            blobs,
            gateway_id,
            shared: SharedKeys::new(secret_key.clone()),
            secret_key,
            requests,
            fence,
        })
    }

    /// Counts this client's requests into `requests`.
    pub fn with_metrics(mut self, requests: crate::metrics::Requests) -> Self {
        self.requests = requests;
        self.with_new_bulk()
    }

    /// Sends only while `fence` allows it (a `serve` process sharing its database).
    pub fn with_fence(mut self, fence: Arc<Fence>) -> Self {
        self.fence = fence;
        self.with_new_bulk()
    }

    /// The sends' gathering, counting into this client's requests and asking its fence.
    fn with_new_bulk(mut self) -> Self {
        self.bulk = Bulk::new(self.api.clone(), self.requests.clone(), self.fence.clone());
        self
    }

    /// A Gateway call's result, counted by `endpoint` and how it ended.
    fn counted<T>(
        &self,
        endpoint: &'static str,
        result: Result<T, ApiError>,
    ) -> Result<T, ThreemaError> {
        let result = result.map_err(ThreemaError::from);
        let status = result.as_ref().map_or_else(ThreemaError::label, |_| "200");
        self.requests.count(endpoint, status);
        result
    }

    pub fn gateway_id(&self) -> &ThreemaId {
        &self.gateway_id
    }

    pub fn public_key(&self) -> PublicKey {
        self.secret_key.public_key()
    }

    /// `GET /pubkeys/{id}`. Callers cache the answer (and notice when it changes).
    pub async fn lookup_public_key(&self, id: &ThreemaId) -> Result<[u8; 32], ThreemaError> {
        let crate_id = crate_id(id)?;
        let key = self.counted("lookup_pubkey", self.api.lookup_pubkey(&crate_id).await)?;
        Ok(*key.0.as_bytes())
    }

    /// `GET /lookup/phone_hash/…`: the Threema ID linked to a phone number (E.164 digits).
    pub async fn lookup_by_phone(&self, phone: &str) -> Result<ThreemaId, ThreemaError> {
        let hash = crypto::lookup_hash(crypto::PHONE_HASH_KEY, phone.as_bytes());
        let criterion = threema_gateway::LookupCriterion::PhoneHash(hash);
        self.lookup_id(&criterion).await
    }

    /// `GET /lookup/email_hash/…`: the Threema ID linked to an email address.
    pub async fn lookup_by_email(&self, email: &str) -> Result<ThreemaId, ThreemaError> {
        let normalised = email.trim().to_lowercase();
        let hash = crypto::lookup_hash(crypto::EMAIL_HASH_KEY, normalised.as_bytes());
        let criterion = threema_gateway::LookupCriterion::EmailHash(hash);
        self.lookup_id(&criterion).await
    }

    async fn lookup_id(
        &self,
        criterion: &threema_gateway::LookupCriterion,
    ) -> Result<ThreemaId, ThreemaError> {
        let id = self.counted("lookup_id", self.api.lookup_id(criterion).await)?;
        ThreemaId::parse(&id.to_string()).ok_or(ThreemaError::NotFound)
    }

    /// `GET /credits`: the account's balance.
    pub async fn credits(&self) -> Result<i64, ThreemaError> {
        self.counted("credits", self.api.lookup_credits().await)
    }

    /// Pads and encrypts one message for `recipient_key`: the nonce and the box.
    pub fn seal(
        &self,
        recipient_key: &[u8; 32],
        message_type: u8,
        data: &[u8],
    ) -> ([u8; 24], Vec<u8>) {
        let plaintext = codec::pad(message_type, data, &mut rand::rng());
        crypto::seal_shared(&plaintext, &self.shared.with(recipient_key))
    }

    /// Pads, encrypts and sends one message; returns the Gateway's message id (16 hex).
    pub async fn send(
        &self,
        to: &ThreemaId,
        recipient_key: &[u8; 32],
        message_type: u8,
        data: &[u8],
    ) -> Result<String, ThreemaError> {
        // A standby, or an active past its lease, seals nothing (asked again before the
        // request leaves: the message may wait for one under way).
        self.fence.check()?;
        let (nonce, ciphertext) = self.seal(recipient_key, message_type, data);
        let message = threema_gateway::EncryptedMessage {
            ciphertext,
            nonce: nonce.into(),
        };
        self.bulk.send(crate_id(to)?, message).await
    }

    pub async fn send_text(
        &self,
        to: &ThreemaId,
        key: &[u8; 32],
        text: &str,
    ) -> Result<String, ThreemaError> {
        self.send(to, key, codec::TEXT, text.as_bytes()).await
    }

    pub async fn send_receipt(
        &self,
        to: &ThreemaId,
        key: &[u8; 32],
        status: ReceiptStatus,
        message_ids: &[String],
    ) -> Result<String, ThreemaError> {
        let ids = message_ids
            .iter()
            .map(|id| parse_message_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let data = codec::encode::delivery_receipt(status, &ids).ok_or_else(|| {
            ThreemaError::Invalid("a receipt needs at least one message id".into())
        })?;
        self.send(to, key, codec::DELIVERY_RECEIPT, &data).await
    }

    pub async fn send_location(
        &self,
        to: &ThreemaId,
        key: &[u8; 32],
        location: &Location,
    ) -> Result<String, ThreemaError> {
        self.send(to, key, codec::LOCATION, &codec::encode::location(location))
            .await
    }

    pub async fn send_edit(
        &self,
        to: &ThreemaId,
        key: &[u8; 32],
        message_id: &str,
        text: &str,
    ) -> Result<String, ThreemaError> {
        let data = codec::encode::edit(parse_message_id(message_id)?, text);
        self.send(to, key, codec::EDIT, &data).await
    }

    pub async fn send_delete(
        &self,
        to: &ThreemaId,
        key: &[u8; 32],
        message_id: &str,
    ) -> Result<String, ThreemaError> {
        let data = codec::encode::delete(parse_message_id(message_id)?);
        self.send(to, key, codec::DELETE, &data).await
    }

    /// Encrypts the file (and thumbnail) with a fresh key, uploads the blobs and sends the file
    /// message. Costs one credit per blob and one for the message.
    pub async fn send_file(
        &self,
        to: &ThreemaId,
        key: &[u8; 32],
        file: &OutgoingFile,
    ) -> Result<String, ThreemaError> {
        let json = self.upload_file(file).await?;
        self.send(to, key, codec::FILE, &json).await
    }

    /// Sends a file message whose blobs are uploaded already ([`Self::upload_file`]).
    pub async fn send_file_message(
        &self,
        to: &ThreemaId,
        key: &[u8; 32],
        file_message: &[u8],
    ) -> Result<String, ThreemaError> {
        self.send(to, key, codec::FILE, file_message).await
    }

    /// Encrypts and uploads a file's blobs once for one recipient; returns the file message
    /// (JSON) that refers to them.
    pub async fn upload_file(&self, file: &OutgoingFile) -> Result<Vec<u8>, ThreemaError> {
        self.upload_file_with(file, false).await
    }

    /// The same for many recipients: the blobs are kept after the first download (`persist`),
    /// so one upload serves every recipient of the same file message (a broadcast).
    pub async fn upload_file_with(
        &self,
        file: &OutgoingFile,
        persist: bool,
    ) -> Result<Vec<u8>, ThreemaError> {
        let plain = FileData {
            file: file.data.clone(),
            thumbnail: file.thumbnail.as_ref().map(|(t, _)| t.clone()),
        };
        let (encrypted, blob_key) = off_runtime(move || threema_gateway::encrypt_file_data(&plain))
            .await?
            .map_err(|e| ThreemaError::Crypto(e.to_string()))?;
        let uploaded = self.api.blob_upload_raw(&encrypted.file, persist).await;
        let blob_id = self.counted("upload_blob", uploaded)?;
        let thumbnail = match (&encrypted.thumbnail, &file.thumbnail) {
            (Some(bytes), Some((_, media_type))) => {
                let uploaded = self.api.blob_upload_raw(bytes, persist).await;
                Some((self.counted("upload_blob", uploaded)?, media_type.clone()))
            }
            _ => None,
        };
        let size = u32::try_from(file.data.len()).map_err(|_| ThreemaError::TooLarge)?;
        let rendering = if file.media {
            RenderingType::Media
        } else {
            RenderingType::File
        };
        let mut builder =
            CrateFileMessage::builder(blob_id, blob_key, file.media_type.clone(), size)
                .thumbnail_opt(thumbnail)
                .file_name_opt(file.file_name.clone())
                .description_opt(file.caption.clone())
                .rendering_type(rendering);
        if let Some((w, h)) = file.width_height {
            builder = builder.dimensions(h, w);
        }
        if let Some(d) = file.duration_s {
            builder = builder.duration(d);
        }
        let message = builder
            .build()
            .map_err(|e| ThreemaError::Invalid(e.to_string()))?;
        serde_json::to_vec(&message).map_err(|e| ThreemaError::Invalid(e.to_string()))
    }

    /// `GET /blobs/{id}`: the encrypted bytes, cut off past `max_bytes`. By hand, because the
    /// crate's `blob_download` reads a blob of any size into memory, and the size a file
    /// message states is only its sender's word.
    pub async fn download_blob(
        &self,
        blob_id: &BlobId,
        max_bytes: u64,
    ) -> Result<Vec<u8>, ThreemaError> {
        let BlobSource {
            http,
            endpoint,
            secret,
        } = &self.blobs;
        let from = self.gateway_id.as_str();
        let sent = http
            .get(format!("{endpoint}/blobs/{}", hex::encode(blob_id.0)))
            .query(&[("from", from), ("secret", secret.expose_secret())])
            .send()
            .await;
        let status = match &sent {
            Ok(response) => crate::metrics::status_label(response.status()),
            Err(_) => "unreachable",
        };
        self.requests.count("download_blob", status);
        let mut response = sent.map_err(ApiError::from)?;
        match response.status().as_u16() {
            200 => {}
            401 => return Err(ThreemaError::BadCredentials),
            404 => return Err(ThreemaError::NotFound),
            429 => return Err(ThreemaError::RateLimited),
            500..=599 => return Err(ThreemaError::Server),
            other => return Err(ThreemaError::BadResponse(format!("blob download: {other}"))),
        }
        // Sized once from the announced length (never past the cut-off): grown by doubling, a
        // 50 MB blob would briefly take twice that.
        let announced = response.content_length().unwrap_or(0).min(max_bytes);
        let mut data = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(ApiError::from)? {
            if (data.len() + chunk.len()) as u64 > max_bytes {
                return Err(ThreemaError::BlobTooLarge(max_bytes));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(data)
    }

    /// Downloads and decrypts the blobs a message refers to (file messages and the legacy
    /// image, audio and video types); `None` for every other message.
    pub async fn download_media(
        &self,
        message: &Message,
        sender_key: &[u8; 32],
        max_bytes: u64,
    ) -> Result<Option<Media>, ThreemaError> {
        // A blob is its plaintext and a 16-byte authenticator.
        let max_blob = max_bytes.saturating_add(16);
        // File, audio and video blobs: secretbox under the message's key, nonces …01 and …02.
        let secretbox = |file, thumbnail, key: [u8; 32]| {
            off_runtime(move || {
                threema_gateway::decrypt_file_data(
                    &EncryptedFileData { file, thumbnail },
                    &Key::from(key),
                )
                .map(|plain| {
                    Some(Media {
                        data: plain.file.into(),
                        thumbnail: plain.thumbnail.map(Into::into),
                    })
                })
                .map_err(|e| ThreemaError::Crypto(e.to_string()))
            })
        };
        match message {
            Message::File(file) => {
                let data = self.download_blob(&BlobId(file.blob_id), max_blob).await?;
                let thumbnail = match file.thumbnail_blob_id {
                    Some(id) => Some(self.download_blob(&BlobId(id), max_blob).await?),
                    None => None,
                };
                secretbox(data, thumbnail, file.key).await?
            }
            Message::LegacyAudio { blob_id, key, .. } => {
                secretbox(self.download_blob(blob_id, max_blob).await?, None, *key).await?
            }
            Message::LegacyVideo {
                blob_id,
                thumbnail_blob_id,
                key,
                ..
            } => {
                let data = self.download_blob(blob_id, max_blob).await?;
                let thumbnail = self.download_blob(thumbnail_blob_id, max_blob).await?;
                secretbox(data, Some(thumbnail), *key).await?
            }
            // The old image type: a crypto_box from the sender under the nonce the message names.
            Message::LegacyImage { blob_id, nonce, .. } => {
                let sealed = self.download_blob(blob_id, max_blob).await?;
                let (nonce, shared) = (*nonce, self.shared.with(sender_key));
                let data = off_runtime(move || crypto::open_shared(&nonce, &sealed, &shared))
                    .await?
                    .map_err(|e| ThreemaError::Crypto(e.to_string()))?;
                Ok(Some(Media {
                    data: data.into(),
                    thumbnail: None,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Opens a callback's box from `sender_key`: unpadded type byte and data.
    pub fn open(
        &self,
        nonce: &[u8; 24],
        ciphertext: &[u8],
        sender_key: &[u8; 32],
    ) -> Result<(u8, Vec<u8>), ThreemaError> {
        let plaintext = crypto::open_shared(nonce, ciphertext, &self.shared.with(sender_key))
            .map_err(|e| ThreemaError::Crypto(e.to_string()))?;
        let (message_type, data) =
            codec::unpad(&plaintext).map_err(|e| ThreemaError::Crypto(e.to_string()))?;
        Ok((message_type, data.to_vec()))
    }
}

/// Media crypto runs on the blocking pool: a file of tens of megabytes takes tens of
/// milliseconds, which would stall every task sharing the runtime thread (messages themselves
/// are small and are opened in place).
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ThreemaError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ThreemaError::Crypto(format!("crypto task: {e}")))
}

fn crate_id(id: &ThreemaId) -> Result<threema_gateway::ThreemaId, ThreemaError> {
    threema_gateway::ThreemaId::try_from(id.as_str())
        .map_err(|e| ThreemaError::Invalid(e.to_string()))
}

/// A message id as 16 hex digits (the wire bytes).
pub fn parse_message_id(hex_id: &str) -> Result<MessageId, ThreemaError> {
    MessageId::from_hex_le(hex_id)
        .map_err(|_| ThreemaError::Invalid(format!("message id {hex_id:?}")))
}
