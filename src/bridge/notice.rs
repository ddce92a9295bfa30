//! The bot's notices: what the bridge tells a room about its own work (a message that could
//! not be delivered, a command's answer).

use ruma::{
    EventId, OwnedEventId, OwnedUserId, RoomId,
    events::{
        Mentions,
        relation::{InReplyTo, Reply, Thread},
        room::message::{Relation, RoomMessageEventContent},
    },
};

use std::{future::Future, sync::Arc};

use super::{Access, BridgeError};
use crate::{
    config::Level,
    matrix::{MatrixClient, MatrixError},
    store::{Store, StoreError},
};

/// Marks the bot's notice that a room is encrypted, so that a retry finds it.
const ENCRYPTED_NOTICE_KEY: &str = "threema_bridge.encrypted_room";

/// The bot's voice: notices and answers in rooms, each sent once per transaction id.
pub struct Notices {
    store: Store,
    matrix: MatrixClient,
    access: Arc<Access>,
    bot: OwnedUserId,
}

impl Notices {
    pub fn new(store: Store, matrix: MatrixClient, access: Arc<Access>, bot: OwnedUserId) -> Self {
        Notices {
            store,
            matrix,
            access,
            bot,
        }
    }

    /// Posts `content` (a message's or a poll's content naming what it is by `content[key]`) as the bot,
    /// once across crashes: when `tried` says an earlier attempt may have gone through (its
    /// answer was lost), the bot's latest events are looked through for it first. Otherwise
    /// `mark_tried` records the attempt, then it is posted.
    pub async fn post_once(
        &self,
        room_id: &RoomId,
        content: &serde_json::Value,
        key: &str,
        tried: bool,
        txn: &str,
        mark_tried: impl Future<Output = Result<(), StoreError>>,
    ) -> Result<OwnedEventId, BridgeError> {
        if tried {
            let value = content[key].as_str().unwrap_or_default();
            if let Some(earlier) = self
                .matrix
                .find_sent(room_id, &self.bot, key, value)
                .await?
            {
                return Ok(earlier);
            }
        }
        mark_tried.await?;
        // A broadcast poll's copy is a poll; everything else a message.
        let event_type = bridge_convert::poll::start_type_of(content).unwrap_or("m.room.message");
        self.post_event(room_id, event_type, content, txn).await
    }

    /// A notice in the management room of every admin (`bridge.permissions`).
    pub async fn to_admins(&self, text: &str, txn: &str) -> Result<(), BridgeError> {
        for (room_id, user_id) in self.store.management_rooms().await? {
            let admin =
                ruma::UserId::parse(&user_id).is_ok_and(|u| self.access.level(&u) >= Level::Admin);
            if let (true, Ok(room_id)) = (admin, RoomId::parse(&room_id)) {
                self.notice(&room_id, None, text, txn).await?;
            }
        }
        Ok(())
    }

    /// Tells an encrypted room, once, that the bridge (`bridge.encryption: off`) cannot read
    /// it and what that means here (`said`, in the desk's language), instead of staying
    /// silent.
    /// Said as the bot in plain text, which every member's client shows. Once across crashes
    /// too: an attempt whose answer was lost is looked for in the room before another.
    pub async fn encrypted_room(&self, room_id: &RoomId, said: &str) -> Result<(), BridgeError> {
        const TRIED: &str = "tried";
        let key = format!("encrypted-notice:{room_id}");
        let tried = match self.store.state_get(&key).await?.as_deref() {
            None => false,
            Some(TRIED) => true,
            Some(_) => return Ok(()),
        };
        let content = serde_json::json!({
            "msgtype": "m.notice",
            "body": said,
            "m.mentions": {},
            ENCRYPTED_NOTICE_KEY: "off",
        });
        let mark_tried = self.store.state_set(&key, TRIED);
        (self.post_once(
            room_id,
            &content,
            ENCRYPTED_NOTICE_KEY,
            tried,
            &key,
            mark_tried,
        ))
        .await?;
        self.store.state_set(&key, "posted").await?;
        Ok(())
    }

    /// Posts an `m.notice` as the bot, as a reply to `in_reply_to` if given. `txn` names the
    /// notice, so that posting it again after a retry does not show it twice.
    pub async fn notice(
        &self,
        room_id: &RoomId,
        in_reply_to: Option<&EventId>,
        text: &str,
        txn: &str,
    ) -> Result<(), BridgeError> {
        let mut content = RoomMessageEventContent::notice_plain(text);
        self.post(room_id, in_reply_to, &mut content, txn).await?;
        Ok(())
    }

    /// Posts an `m.notice` in the thread of `root` (a reply for clients without threads), so
    /// that a message's fate is shown on it without cluttering the room. An event that cannot
    /// start a thread (one that is itself in a thread) gets a plain reply.
    pub async fn in_thread(
        &self,
        room_id: &RoomId,
        root: &EventId,
        text: &str,
        txn: &str,
    ) -> Result<(), BridgeError> {
        let mut content = RoomMessageEventContent::notice_plain(text);
        content.mentions = Some(Mentions::new());
        content.relates_to = Some(Relation::Thread(Thread::plain(
            root.to_owned(),
            root.to_owned(),
        )));
        let content = serde_json::to_value(&content).expect("a message serialises");
        match (self.matrix)
            .send_event(room_id, None, "m.room.message", &content, txn, None)
            .await
        {
            Ok(_) => Ok(()),
            Err(MatrixError::Api { status, .. }) if status.is_client_error() => {
                self.notice(room_id, Some(root), text, &format!("{txn}-reply"))
                    .await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Posts a message as the bot (formatted answers of commands).
    pub async fn post(
        &self,
        room_id: &RoomId,
        in_reply_to: Option<&EventId>,
        content: &mut RoomMessageEventContent,
        txn: &str,
    ) -> Result<OwnedEventId, BridgeError> {
        // Nobody is pinged unless the content names them: a notice quoting a stranger's
        // "@room" must not alert the whole room.
        content.mentions.get_or_insert_with(Mentions::new);
        if let Some(event_id) = in_reply_to {
            content.relates_to = Some(Relation::Reply(Reply::new(InReplyTo::new(
                event_id.to_owned(),
            ))));
        }
        let content = serde_json::to_value(&*content).expect("a message serialises");
        Ok((self.matrix)
            .send_event(room_id, None, "m.room.message", &content, txn, None)
            .await?)
    }

    /// Sends a message content given as JSON, as the bot.
    pub async fn post_raw(
        &self,
        room_id: &RoomId,
        content: &serde_json::Value,
        txn: &str,
    ) -> Result<OwnedEventId, BridgeError> {
        self.post_event(room_id, "m.room.message", content, txn)
            .await
    }

    /// Sends an event of `event_type` (a poll's, a message's) given as JSON, as the bot.
    pub async fn post_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
        txn: &str,
    ) -> Result<OwnedEventId, BridgeError> {
        Ok((self.matrix)
            .send_event(room_id, None, event_type, content, txn, None)
            .await?)
    }
}
