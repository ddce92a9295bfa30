//! The handful of client-server calls the bridge makes, each as the bot or as a ghost.

use std::time::Duration;

use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedMxcUri, OwnedRoomId, OwnedUserId,
    RoomId, UserId,
    api::{
        SupportedVersions,
        client::{
            account::{
                register::{self, LoginType},
                whoami,
            },
            appservice::request_ping,
            discovery::get_supported_versions,
            membership::join_room_by_id,
            message::send_message_event,
            profile::{get_profile_field, set_profile_field},
            receipt::create_receipt::{self, v3::ReceiptType},
            redact::redact_event,
            room::get_room_event,
            typing::create_typing_event::{
                self,
                v3::{Typing, TypingInfo},
            },
        },
    },
    events::{reaction::ReactionEventContent, relation::Annotation},
    profile::{ProfileFieldName, ProfileFieldValue},
};

use super::{MatrixClient, MatrixError};

/// Where an uploaded file is, as a message refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaRef {
    /// `url`: an `mxc://` URI.
    Plain(String),
    /// `file`: the URI with the key, IV and hash that open it (an encrypted room).
    Encrypted(serde_json::Value),
}

impl MediaRef {
    /// Puts the reference into `object` under `url_key`, or `file_key` where it is encrypted.
    pub fn insert_into(
        &self,
        object: &mut serde_json::Map<String, serde_json::Value>,
        url_key: &str,
        file_key: &str,
    ) {
        match self {
            MediaRef::Plain(url) => object.insert(url_key.into(), url.clone().into()),
            MediaRef::Encrypted(file) => object.insert(file_key.into(), file.clone()),
        };
    }
}

impl MatrixClient {
    /// `GET /_matrix/client/versions`: is this a Matrix homeserver, and what does it speak?
    pub async fn versions(&self) -> Result<SupportedVersions, MatrixError> {
        let response = self
            .send_unauthenticated(get_supported_versions::Request::new())
            .await?;
        Ok(SupportedVersions::from_parts(
            &response.versions,
            &response.unstable_features,
        ))
    }

    /// Whom the homeserver takes us for (the bot, or `as_user`).
    pub async fn whoami(&self, as_user: Option<&UserId>) -> Result<ruma::OwnedUserId, MatrixError> {
        Ok(self
            .send(whoami::v3::Request::new(), as_user)
            .await?
            .user_id)
    }

    /// Asks the homeserver to call our `/ping`: proves it can reach us with the right hs_token.
    /// Returns the round trip the homeserver measured.
    pub async fn ping(
        &self,
        appservice_id: &str,
        txn_id: &str,
    ) -> Result<std::time::Duration, MatrixError> {
        let mut request = request_ping::v1::Request::new(appservice_id.to_owned());
        request.transaction_id = Some(txn_id.into());
        Ok(self.send(request, None).await?.duration)
    }

    /// Registers a user in our namespace without creating a device (`inhibit_login`).
    /// Idempotent: a user that already exists counts as success.
    pub async fn register(&self, localpart: &str) -> Result<(), MatrixError> {
        let mut request = register::v3::Request::new();
        request.username = Some(localpart.to_owned());
        request.inhibit_login = true;
        request.login_type = Some(LoginType::ApplicationService);
        match self.send(request, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.errcode() == Some("M_USER_IN_USE") => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn display_name(&self, user_id: &UserId) -> Result<Option<String>, MatrixError> {
        let request =
            get_profile_field::v3::Request::new(user_id.to_owned(), ProfileFieldName::DisplayName);
        match self.send(request, Some(user_id)).await {
            Ok(response) => Ok(match response.value {
                Some(ProfileFieldValue::DisplayName(name)) => Some(name),
                _ => None,
            }),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the display name unless it already is `name` (every change is a member event in
    /// every room the user is in, so no needless writes).
    pub async fn ensure_display_name(
        &self,
        user_id: &UserId,
        name: &str,
    ) -> Result<(), MatrixError> {
        if self.display_name(user_id).await?.as_deref() == Some(name) {
            return Ok(());
        }
        let request = set_profile_field::v3::Request::new(
            user_id.to_owned(),
            ProfileFieldValue::DisplayName(name.to_owned()),
        );
        self.send(request, Some(user_id)).await?;
        Ok(())
    }

    pub async fn join(
        &self,
        room_id: &RoomId,
        as_user: &UserId,
    ) -> Result<OwnedRoomId, MatrixError> {
        Ok(self
            .send(
                join_room_by_id::v3::Request::new(room_id.to_owned()),
                Some(as_user),
            )
            .await?
            .room_id)
    }

    /// The room an alias names.
    pub async fn resolve_alias(
        &self,
        alias: &ruma::RoomAliasId,
    ) -> Result<OwnedRoomId, MatrixError> {
        let request = ruma::api::client::alias::get_alias::v3::Request::new(alias.to_owned());
        Ok(self.send(request, None).await?.room_id)
    }

    /// Points `alias` at `room_id`; an alias that names this room already is fine.
    pub async fn set_alias(
        &self,
        alias: &ruma::RoomAliasId,
        room_id: &RoomId,
    ) -> Result<(), MatrixError> {
        let request = ruma::api::client::alias::create_alias::v3::Request::new(
            alias.to_owned(),
            room_id.to_owned(),
        );
        match self.send(request, None).await {
            Err(e) if e.errcode() == Some("M_UNKNOWN") || e.errcode() == Some("M_ROOM_IN_USE") => {
                match self.resolve_alias(alias).await? {
                    current if current == room_id => Ok(()),
                    _ => Err(e),
                }
            }
            other => other.map(drop),
        }
    }

    /// Removes `alias`; one that does not exist is removed already.
    pub async fn delete_alias(&self, alias: &ruma::RoomAliasId) -> Result<(), MatrixError> {
        let request = ruma::api::client::alias::delete_alias::v3::Request::new(alias.to_owned());
        match self.send(request, None).await {
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(()),
            other => other.map(drop),
        }
    }

    /// The bot invites `user_id`.
    pub async fn invite(&self, room_id: &RoomId, user_id: &UserId) -> Result<(), MatrixError> {
        use ruma::api::client::membership::invite_user::v3::{
            InvitationRecipient, InviteUserId, Request,
        };
        let recipient = InvitationRecipient::UserId(InviteUserId::new(user_id.to_owned()));
        self.send(Request::new(room_id.to_owned(), recipient), None)
            .await?;
        Ok(())
    }

    /// The bot invites `user_id` unless they are in the room already: the homeserver refuses
    /// inviting a member (or someone invited) with `M_FORBIDDEN`, which counts as done here.
    pub async fn ensure_invited(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<(), MatrixError> {
        match self.invite(room_id, user_id).await {
            Err(e) if e.errcode() == Some("M_FORBIDDEN") => Ok(()),
            other => other,
        }
    }

    /// Creates a room that carries an alias in our namespace, or finds the one an earlier
    /// attempt created: room creation is not idempotent, the alias is. Returns the room and
    /// whether it is new (an existing room did not get the request's invites).
    pub(super) async fn create_room_with_alias(
        &self,
        request: ruma::api::client::room::create_room::v3::Request,
        alias: &ruma::RoomAliasId,
    ) -> Result<(OwnedRoomId, bool), MatrixError> {
        match self.send(request, None).await {
            Ok(created) => Ok((created.room_id, true)),
            Err(e) if e.errcode() == Some("M_ROOM_IN_USE") => {
                Ok((self.resolve_alias(alias).await?, false))
            }
            Err(e) => Err(e),
        }
    }

    pub async fn leave(
        &self,
        room_id: &RoomId,
        as_user: &UserId,
        reason: &str,
    ) -> Result<(), MatrixError> {
        let mut request =
            ruma::api::client::membership::leave_room::v3::Request::new(room_id.to_owned());
        request.reason = Some(reason.to_owned());
        self.send(request, Some(as_user)).await?;
        Ok(())
    }

    /// The bytes behind an `mxc://` URI (authenticated media, as the bot).
    pub async fn download(&self, mxc: &str) -> Result<Vec<u8>, MatrixError> {
        let uri = <&ruma::MxcUri>::from(mxc);
        let request =
            ruma::api::client::authenticated_media::get_content::v1::Request::from_uri(uri)
                .map_err(|e| MatrixError::Request(format!("{mxc:?} is not an mxc:// URI: {e}")))?;
        Ok(self.send(request, None).await?.file)
    }

    /// A member's display name in a room (what Element shows), if they set one.
    pub async fn member_display_name(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<String>, MatrixError> {
        use ruma::{
            api::client::state::get_state_event_for_key,
            events::{StateEventType, room::member::RoomMemberEventContent},
        };
        let request = get_state_event_for_key::v3::Request::new(
            room_id.to_owned(),
            StateEventType::RoomMember,
            user_id.to_string(),
        );
        match self.send(request, None).await {
            Ok(response) => Ok(serde_json::from_str::<RoomMemberEventContent>(
                response.event_or_content.get(),
            )
            .ok()
            .and_then(|member| member.displayname)),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /_matrix/client/v1/media/config` (before Matrix 1.11: `/_matrix/media/v3/config`):
    /// the largest upload the homeserver takes (bytes).
    pub async fn upload_limit(&self) -> Result<u64, MatrixError> {
        use ruma::api::client::authenticated_media::get_media_config;
        match self.send(get_media_config::v1::Request::new(), None).await {
            Ok(response) => Ok(response.upload_size.into()),
            Err(e)
                if e.errcode() == Some("M_UNRECOGNIZED") || e.errcode() == Some("M_NOT_FOUND") =>
            {
                #[allow(deprecated)]
                let request = ruma::api::client::media::get_media_config::v3::Request::new();
                Ok(self.send(request, None).await?.upload_size.into())
            }
            Err(e) => Err(e),
        }
    }

    /// Uploads `data` to the media repository as `as_user`; returns its `mxc://` URI.
    ///
    /// Not idempotent: a retry after a lost answer stores the bytes twice (an unused copy, no
    /// harm to the room).
    ///
    /// By hand rather than through ruma's request type, which copies the file into a new body
    /// for every try: a driver's 50 MB video would be held three times over. The shared
    /// `Bytes` go out as they are.
    pub async fn upload(
        &self,
        data: bytes::Bytes,
        content_type: &str,
        filename: Option<&str>,
        as_user: &UserId,
    ) -> Result<OwnedMxcUri, MatrixError> {
        let mut url = url::Url::parse(&format!("{}/_matrix/media/v3/upload", self.base_url))
            .map_err(|e| MatrixError::Request(e.to_string()))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(filename) = filename {
                query.append_pair("filename", filename);
            }
            query.append_pair("user_id", as_user.as_str());
        }
        self.retrying(|| async {
            let request = (self.http.post(url.clone()))
                .bearer_auth(secrecy::ExposeSecret::expose_secret(&self.as_token))
                .header(http::header::CONTENT_TYPE, content_type)
                .body(data.clone())
                .build()
                .map_err(|e| MatrixError::Request(e.without_url().to_string()))?;
            let (_, body) = self.exchange("media::create_content", request).await?;
            #[derive(serde::Deserialize)]
            struct Uploaded {
                content_uri: OwnedMxcUri,
            }
            let uploaded: Uploaded =
                serde_json::from_slice(&body).map_err(|e| MatrixError::Response(e.to_string()))?;
            Ok(uploaded.content_uri)
        })
        .await
    }

    /// Shows `as_user` typing in the room for `timeout`, or stops it (`None`).
    pub async fn typing(
        &self,
        room_id: &RoomId,
        as_user: &UserId,
        timeout: Option<Duration>,
    ) -> Result<(), MatrixError> {
        let state = match timeout {
            Some(timeout) => Typing::Yes(TypingInfo::new(timeout)),
            None => Typing::No,
        };
        let request =
            create_typing_event::v3::Request::new(as_user.to_owned(), room_id.to_owned(), state);
        self.send(request, Some(as_user)).await?;
        Ok(())
    }

    /// Redacts `event_id` as `as_user`; `txn_id` makes a retry a no-op. Returns the redaction.
    pub async fn redact(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        txn_id: &str,
        as_user: &UserId,
        reason: Option<&str>,
    ) -> Result<OwnedEventId, MatrixError> {
        let mut request =
            redact_event::v3::Request::new(room_id.to_owned(), event_id.to_owned(), txn_id.into());
        request.reason = reason.map(str::to_owned);
        Ok(self.send(request, Some(as_user)).await?.event_id)
    }

    /// Sends a room event of `event_type` (a message, a reaction, a poll's) with `content` as
    /// `as_user` (the bot if `None`), encrypted by the sender's device where the room is
    /// encrypted. `txn_id` makes a retry a no-op; `timestamp` dates a ghost's message at the
    /// driver's time (an appservice's right).
    pub async fn send_event(
        &self,
        room_id: &RoomId,
        as_user: Option<&UserId>,
        event_type: &str,
        content: &serde_json::Value,
        txn_id: &str,
        timestamp: Option<MilliSecondsSinceUnixEpoch>,
    ) -> Result<OwnedEventId, MatrixError> {
        let (event_type, content) = match &self.crypto {
            Some(crypto) if crypto.encrypts(room_id).await? => (
                "m.room.encrypted",
                crypto
                    .encrypt(room_id, as_user, event_type, content)
                    .await?,
            ),
            _ => (
                event_type,
                serde_json::value::to_raw_value(content).expect("JSON values serialise"),
            ),
        };
        let mut request = send_message_event::v3::Request::new_raw(
            room_id.to_owned(),
            txn_id.into(),
            event_type.into(),
            ruma::serde::Raw::from_json(content),
        );
        request.timestamp = timestamp;
        Ok(self.send(request, as_user).await?.event_id)
    }

    /// Uploads a file for a message in `room_id` as `as_user`: as it is, or, where the room is
    /// encrypted, encrypted with a key of its own that goes into the (encrypted) message.
    pub async fn upload_media(
        &self,
        room_id: &RoomId,
        data: bytes::Bytes,
        content_type: &str,
        filename: Option<&str>,
        as_user: &UserId,
    ) -> Result<MediaRef, MatrixError> {
        match &self.crypto {
            Some(crypto) if crypto.encrypts(room_id).await? => {
                let (ciphertext, mut file) =
                    tokio::task::spawn_blocking(move || bridge_crypto::attachment::encrypt(&data))
                        .await
                        .expect("encrypting does not panic");
                // The type and name stay inside the message: the repository sees only bytes.
                let mxc =
                    (self.upload(ciphertext.into(), "application/octet-stream", None, as_user))
                        .await?;
                file["url"] = serde_json::Value::String(mxc.to_string());
                Ok(MediaRef::Encrypted(file))
            }
            _ => Ok(MediaRef::Plain(
                self.upload(data, content_type, filename, as_user)
                    .await?
                    .to_string(),
            )),
        }
    }

    /// Reacts to `event_id` with `key` as `as_user`; `txn_id` makes a retry a no-op, and a
    /// reaction that is already there (a retry the homeserver no longer knows by its
    /// transaction id, e.g. after its restart) is found and returned.
    pub async fn react(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        key: &str,
        txn_id: &str,
        as_user: &UserId,
    ) -> Result<OwnedEventId, MatrixError> {
        let content =
            ReactionEventContent::new(Annotation::new(event_id.to_owned(), key.to_owned()));
        let content = serde_json::to_value(&content).expect("a reaction serialises");
        match (self.send_event(room_id, Some(as_user), "m.reaction", &content, txn_id, None)).await
        {
            Ok(event_id) => Ok(event_id),
            Err(e) if e.errcode() == Some("M_DUPLICATE_ANNOTATION") => {
                match self.reaction_of(room_id, event_id, key, as_user).await? {
                    Some(existing) => Ok(existing),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `as_user`'s reaction `key` on `event_id`, if there is one.
    async fn reaction_of(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        key: &str,
        as_user: &UserId,
    ) -> Result<Option<OwnedEventId>, MatrixError> {
        use ruma::api::client::relations::get_relating_events_with_rel_type_and_event_type as relations;
        let mut request = relations::v1::Request::new(
            room_id.to_owned(),
            event_id.to_owned(),
            ruma::events::relation::RelationType::Annotation,
            "m.reaction".into(),
        );
        // One page: reactions to one dispatch message are few (the default page is 5).
        request.limit = Some(100u32.into());
        let response = self.send(request, Some(as_user)).await?;
        Ok(response.chunk.iter().find_map(|raw| {
            let event: serde_json::Value = serde_json::from_str(raw.json().get()).ok()?;
            let mine = event["sender"] == as_user.as_str()
                && event["content"]["m.relates_to"]["key"] == key;
            mine.then(|| event["event_id"].as_str()?.parse().ok())?
        }))
    }

    /// Moves `as_user`'s public read receipt to `event_id`.
    pub async fn read_receipt(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        as_user: &UserId,
    ) -> Result<(), MatrixError> {
        let request = create_receipt::v3::Request::new(
            room_id.to_owned(),
            ReceiptType::Read,
            event_id.to_owned(),
        );
        self.send(request, Some(as_user)).await?;
        Ok(())
    }

    /// Who sent an event and when the homeserver says it was sent (Unix ms), as the bot sees
    /// it; `None` if the event is not there (or not visible).
    pub async fn event_origin(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Option<EventOrigin>, MatrixError> {
        let request = get_room_event::v3::Request::new(room_id.to_owned(), event_id.to_owned());
        match self.send(request, None).await {
            Ok(response) => {
                let event = &response.event;
                let sender = event.get_field::<OwnedUserId>("sender").ok().flatten();
                let ts = event.get_field::<i64>("origin_server_ts").ok().flatten();
                Ok(sender
                    .zip(ts)
                    .map(|(sender, ts)| EventOrigin { sender, ts }))
            }
            Err(MatrixError::Api { errcode, .. }) if errcode == "M_NOT_FOUND" => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The sender and time of an event the bridge looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOrigin {
    pub sender: OwnedUserId,
    /// `origin_server_ts`, Unix ms.
    pub ts: i64,
}
