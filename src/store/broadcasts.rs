//! Broadcasts: `broadcast_room`, `broadcast` (one per dispatcher message, with its board),
//! `broadcast_list`; their recipients' rows are `broadcast_delivery`.

use std::collections::HashMap;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sqlx::{Row, any::AnyRow};

use super::{
    AuditRecord, OutboxState, Reaction, Store, StoreError, id_column, now_ms,
    queue_order::QueueTable,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastRoom {
    pub room_id: OwnedRoomId,
    pub owner: OwnedUserId,
    pub selection: String,
    /// The selection is evaluated again for every message (else the stored recipients).
    pub live: bool,
    pub confirmed_at: Option<i64>,
}

stored_enum! {
    pub enum BroadcastState in broadcast.state {
        /// Waiting for the dispatcher's confirmation.
        Awaiting = "awaiting",
        Started = "started",
        Cancelled = "cancelled",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBroadcast {
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    pub content: String,
    pub payload: String,
    pub ack: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    /// The dispatcher's Matrix content (JSON), copied into the portals.
    pub content: String,
    /// The Threema messages it becomes (JSON list of `Outgoing`).
    pub payload: String,
    pub ack: bool,
    pub state: BroadcastState,
    pub board_event: Option<String>,
    pub board_text: Option<String>,
    /// How often the board was started anew (an erasure took a recipient out).
    pub board_rebuilds: i64,
    pub recipients: i64,
    pub started_at: Option<i64>,
    pub escalated_at: Option<i64>,
}

const BROADCAST_COLUMNS: &str = "event_id, room_id, sender, content, payload, ack, state, \
    board_event, board_text, board_rebuilds, recipients, started_at, escalated_at";

impl Broadcast {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        Ok(Broadcast {
            event_id: id_column(&row, "broadcast", "event_id")?,
            room_id: id_column(&row, "broadcast", "room_id")?,
            sender: id_column(&row, "broadcast", "sender")?,
            content: row.try_get("content")?,
            payload: row.try_get("payload")?,
            ack: row.try_get::<i64, _>("ack")? != 0,
            state: BroadcastState::parse(&row.try_get::<String, _>("state")?)?,
            board_event: row.try_get("board_event")?,
            board_text: row.try_get("board_text")?,
            board_rebuilds: row.try_get("board_rebuilds")?,
            recipients: row.try_get("recipients")?,
            started_at: row.try_get("started_at")?,
            escalated_at: row.try_get("escalated_at")?,
        })
    }
}

/// One try of part 0 of a recipient's copy, as the outbox has it (`None`: nothing queued yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub recipient: String,
    pub name: String,
    pub portal_room: Option<String>,
    pub copy_event: Option<String>,
    /// Why the fan-out queued nothing.
    pub delivery_error: Option<String>,
    pub reply_event: Option<String>,
    pub send: Option<SendTry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendTry {
    pub state: OutboxState,
    /// Waits for the driver's shift until then (Unix ms; only while it waits).
    pub hold_until: Option<i64>,
    pub error: Option<String>,
    pub sent_at: Option<i64>,
    pub received_at: Option<i64>,
    pub read_at: Option<i64>,
    pub reaction: Option<Reaction>,
    pub reaction_at: Option<i64>,
}

impl Store {
    /// Records a broadcast room and, for a frozen selection, its recipients: all or nothing.
    pub async fn broadcast_room_insert(
        &self,
        room: &BroadcastRoom,
        recipients: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO broadcast_room (room_id, owner, selection, live, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id) DO NOTHING",
        )
        .bind(room.room_id.as_str())
        .bind(room.owner.as_str())
        .bind(&room.selection)
        .bind(i64::from(room.live))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        Self::replace_room_recipients(&mut tx, room.room_id.as_str(), recipients).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn replace_room_recipients(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        room_id: &str,
        recipients: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM broadcast_room_recipient WHERE room_id = $1")
            .bind(room_id)
            .execute(&mut **tx)
            .await?;
        for chunk in recipients.chunks(super::ROWS_PER_INSERT) {
            // ($1, $2), ($1, $3), ...: the room once, a recipient a row.
            let rows = (0..chunk.len())
                .map(|i| format!("($1, ${})", i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO broadcast_room_recipient (room_id, recipient) VALUES {rows} \
                 ON CONFLICT DO NOTHING"
            );
            let mut insert = sqlx::query(&sql).bind(room_id);
            for recipient in chunk {
                insert = insert.bind(recipient);
            }
            insert.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// A frozen room's recipients, evaluated anew on request.
    pub async fn broadcast_room_set_recipients(
        &self,
        room_id: &str,
        recipients: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        Self::replace_room_recipients(&mut tx, room_id, recipients).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn broadcast_room(&self, room_id: &str) -> Result<Option<BroadcastRoom>, StoreError> {
        sqlx::query(
            "SELECT room_id, owner, selection, live, confirmed_at FROM broadcast_room \
             WHERE room_id = $1",
        )
        .bind(room_id)
        .fetch_optional(&self.db)
        .await?
        .map(|row| {
            Ok(BroadcastRoom {
                room_id: id_column(&row, "broadcast_room", "room_id")?,
                owner: id_column(&row, "broadcast_room", "owner")?,
                selection: row.try_get("selection")?,
                live: row.try_get::<i64, _>("live")? != 0,
                confirmed_at: row.try_get("confirmed_at")?,
            })
        })
        .transpose()
    }

    pub async fn broadcast_room_recipients(
        &self,
        room_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT recipient FROM broadcast_room_recipient WHERE room_id = $1 ORDER BY recipient",
        )
        .bind(room_id)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| Ok(row.try_get("recipient")?))
        .collect()
    }

    /// Confirm once: later messages of the room go without asking.
    pub async fn broadcast_room_confirm(&self, room_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE broadcast_room SET confirmed_at = $1 WHERE room_id = $2 AND confirmed_at IS NULL",
        )
        .bind(now_ms())
        .bind(room_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Saves a selection under `name`, or changes the list `owner` saved before. `false` when
    /// the name is a colleague's list: it stays as they saved it.
    pub async fn broadcast_list_save(
        &self,
        name: &str,
        selection: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO broadcast_list (name, selection, owner, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET \
             selection = excluded.selection, updated_at = excluded.updated_at \
             WHERE broadcast_list.owner = excluded.owner",
        )
        .bind(name)
        .bind(selection)
        .bind(owner)
        .bind(now_ms())
        .execute(&self.db)
        .await?
        .rows_affected()
            == 1)
    }

    /// Saved selections by name.
    pub async fn broadcast_lists(&self) -> Result<HashMap<String, String>, StoreError> {
        sqlx::query("SELECT name, selection FROM broadcast_list")
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| Ok((row.try_get("name")?, row.try_get("selection")?)))
            .collect()
    }

    /// Records a message of a broadcast room, waiting for confirmation. `false` if it was
    /// recorded before (a replayed event).
    pub async fn broadcast_insert(&self, new: &NewBroadcast) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO broadcast (event_id, room_id, sender, content, payload, ack, state, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $8, $7) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&new.event_id)
        .bind(&new.room_id)
        .bind(&new.sender)
        .bind(&new.content)
        .bind(&new.payload)
        .bind(i64::from(new.ack))
        .bind(now_ms())
        .bind(BroadcastState::Awaiting.as_str())
        .execute(&self.db)
        .await?
        .rows_affected()
            == 1)
    }

    pub async fn broadcast_get(&self, event_id: &str) -> Result<Option<Broadcast>, StoreError> {
        sqlx::query(&format!(
            "SELECT {BROADCAST_COLUMNS} FROM broadcast WHERE event_id = $1 OR board_event = $1"
        ))
        .bind(event_id)
        .fetch_optional(&self.db)
        .await?
        .map(Broadcast::from_row)
        .transpose()
    }

    /// The newest started broadcast of a room.
    pub async fn broadcast_latest(&self, room_id: &str) -> Result<Option<Broadcast>, StoreError> {
        sqlx::query(&format!(
            "SELECT {BROADCAST_COLUMNS} FROM broadcast WHERE room_id = $1 AND state = $2 \
             ORDER BY started_at DESC LIMIT 1"
        ))
        .bind(room_id)
        .bind(BroadcastState::Started.as_str())
        .fetch_optional(&self.db)
        .await?
        .map(Broadcast::from_row)
        .transpose()
    }

    /// Started broadcasts whose board still changes.
    pub async fn broadcasts_unsettled(&self) -> Result<Vec<Broadcast>, StoreError> {
        sqlx::query(&format!(
            "SELECT {BROADCAST_COLUMNS} FROM broadcast WHERE state = $1 \
             AND settled_at IS NULL ORDER BY started_at"
        ))
        .bind(BroadcastState::Started.as_str())
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(Broadcast::from_row)
        .collect()
    }

    /// Records the board posted for the broadcast as it was read (`board_rebuilds`); false if an
    /// erasure has since forgotten its board, which then stays forgotten for a new one to be
    /// posted.
    pub async fn broadcast_set_board(
        &self,
        event_id: &str,
        board_event: &str,
        board_text: &str,
        rebuilds: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE broadcast SET board_event = $1, board_text = $2 \
             WHERE event_id = $3 AND board_rebuilds = $4",
        )
        .bind(board_event)
        .bind(board_text)
        .bind(event_id)
        .bind(rebuilds)
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Starts the fan-out: one delivery row per recipient and the broadcast's one audit entry,
    /// in the same transaction as the state change, so a confirmation handled twice queues
    /// once. `false` if it was not waiting.
    pub async fn broadcast_start(
        &self,
        event_id: &str,
        recipients: &[(String, String)],
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let started = sqlx::query(
            "UPDATE broadcast SET state = $4, started_at = $1, recipients = $2 \
             WHERE event_id = $3 AND state = $5",
        )
        .bind(now)
        .bind(recipients.len() as i64)
        .bind(event_id)
        .bind(BroadcastState::Started.as_str())
        .bind(BroadcastState::Awaiting.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if started {
            self.lock_queue(&mut tx, QueueTable::BroadcastDelivery)
                .await?;
            for chunk in recipients.chunks(super::ROWS_PER_INSERT) {
                // ($1, $3, $4, $2), ($1, $5, $6, $2), ...: event and time once, two a row.
                let rows = (0..chunk.len())
                    .map(|i| format!("($1, {}, $2)", super::placeholders(3 + 2 * i, 2)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO broadcast_delivery (event_id, recipient, name, created_at) \
                     VALUES {rows} ON CONFLICT (event_id, recipient) DO NOTHING"
                );
                let mut insert = sqlx::query(&sql).bind(event_id).bind(now);
                for (recipient, name) in chunk {
                    insert = insert.bind(recipient).bind(name);
                }
                insert.execute(&mut *tx).await?;
            }
            super::audit::append_record(&mut tx, &self.audit_key, now, audit).await?;
        }
        tx.commit().await?;
        Ok(started)
    }

    pub async fn broadcast_cancel(&self, event_id: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("UPDATE broadcast SET state = $2 WHERE event_id = $1 AND state = $3")
                .bind(event_id)
                .bind(BroadcastState::Cancelled.as_str())
                .bind(BroadcastState::Awaiting.as_str())
                .execute(&self.db)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// Every recipient is final: the board is not recomputed any more. Unless an erasure has
    /// rebuilt the board since the broadcast was read (`rebuilds`): its new board is still to
    /// come.
    pub async fn broadcast_settle(&self, event_id: &str, rebuilds: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE broadcast SET settled_at = $1 WHERE event_id = $2 AND board_rebuilds = $3",
        )
        .bind(now_ms())
        .bind(event_id)
        .bind(rebuilds)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn broadcast_set_escalated(&self, event_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE broadcast SET escalated_at = $1 WHERE event_id = $2")
            .bind(now_ms())
            .bind(event_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Each recipient of a broadcast with every try of part 0 of their copy, oldest try first.
    pub async fn broadcast_report(&self, event_id: &str) -> Result<Vec<DeliveryRow>, StoreError> {
        sqlx::query(
            "SELECT d.recipient, d.name, d.portal_room, d.copy_event, d.error AS delivery_error, \
             d.reply_event, o.state, o.error AS send_error, o.sent_at, o.received_at, \
             o.read_at, o.reaction, o.reaction_at, \
             CASE WHEN o.hold_until > $2 THEN o.hold_until END AS hold_until \
             FROM broadcast_delivery d LEFT JOIN threema_outbox o \
             ON o.event_id = d.copy_event AND o.recipient = d.recipient AND o.part = 0 \
             WHERE d.event_id = $1 ORDER BY d.recipient, o.resend",
        )
        .bind(event_id)
        .bind(now_ms())
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| {
            let state: Option<String> = row.try_get("state")?;
            let send = match state {
                None => None,
                Some(state) => Some(SendTry {
                    state: OutboxState::parse(&state)?,
                    hold_until: row.try_get("hold_until")?,
                    error: row.try_get("send_error")?,
                    sent_at: row.try_get("sent_at")?,
                    received_at: row.try_get("received_at")?,
                    read_at: row.try_get("read_at")?,
                    reaction: Reaction::parse_optional(row.try_get("reaction")?)?,
                    reaction_at: row.try_get("reaction_at")?,
                }),
            };
            Ok(DeliveryRow {
                recipient: row.try_get("recipient")?,
                name: row.try_get("name")?,
                portal_room: row.try_get("portal_room")?,
                copy_event: row.try_get("copy_event")?,
                delivery_error: row.try_get("delivery_error")?,
                reply_event: row.try_get("reply_event")?,
                send,
            })
        })
        .collect()
    }

    /// Queues the copies of a broadcast again for every recipient whose latest try was sent
    /// but not read (new rows; asking twice before they are sent queues once, as the latest
    /// try is then queued). Returns how many rows were queued.
    pub async fn broadcast_resend_unread(&self, event_id: &str) -> Result<u64, StoreError> {
        self.outbox_queue_again(
            "JOIN broadcast_delivery d ON d.copy_event = o.event_id \
             AND d.recipient = o.recipient",
            "d.event_id = $1 AND o.state = $4 AND o.read_at IS NULL",
            event_id,
            &[OutboxState::Sent],
        )
        .await
    }
}
