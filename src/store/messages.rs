//! `message`: the one place that maps Matrix events to Threema messages and back.

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sqlx::{Row, any::AnyRow};
use threema_protocol::ThreemaId;

use super::{Store, StoreError, id_column, now_ms};

stored_enum! {
    pub enum Direction in message.direction {
        /// Threema -> Matrix.
        In = "in",
        /// Matrix -> Threema.
        Out = "out",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMapping {
    pub room_id: OwnedRoomId,
    pub event_id: OwnedEventId,
    pub threema_peer: ThreemaId,
    /// 16 hex digits.
    pub threema_message_id: String,
    pub direction: Direction,
    /// The real Matrix sender (a dispatcher for `Out`, the ghost for `In`).
    pub matrix_sender: OwnedUserId,
    /// Which of the Threema messages an event became (long text is sent in parts).
    pub part: i64,
}

impl MessageMapping {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        Ok(MessageMapping {
            room_id: id_column(&row, "message", "room_id")?,
            event_id: id_column(&row, "message", "event_id")?,
            threema_peer: id_column(&row, "message", "threema_peer")?,
            threema_message_id: row.try_get("threema_message_id")?,
            direction: Direction::parse(&row.try_get::<String, _>("direction")?)?,
            matrix_sender: id_column(&row, "message", "matrix_sender")?,
            part: row.try_get("part")?,
        })
    }
}

const COLUMNS: &str =
    "room_id, event_id, threema_peer, threema_message_id, direction, matrix_sender, part";

/// [`Store::message_insert`] on the caller's connection (in its transaction).
pub(super) async fn insert(
    conn: &mut sqlx::AnyConnection,
    m: &MessageMapping,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(&format!(
        "INSERT INTO message ({COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
    ))
    .bind(m.room_id.as_str())
    .bind(m.event_id.as_str())
    .bind(m.threema_peer.as_str())
    .bind(&m.threema_message_id)
    .bind(m.direction.as_str())
    .bind(m.matrix_sender.as_str())
    .bind(m.part)
    .bind(now_ms())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

impl Store {
    /// Records a mapping. Returns `false` if either side was already mapped: the message was
    /// bridged before, and the caller must not bridge it again.
    pub async fn message_insert(&self, m: &MessageMapping) -> Result<bool, StoreError> {
        let mut conn = self.db.acquire().await?;
        insert(&mut conn, m).await
    }

    /// The first Threema message an event became (or came from).
    pub async fn message_by_event_id(
        &self,
        event_id: &str,
    ) -> Result<Option<MessageMapping>, StoreError> {
        Ok(self
            .messages_by_event_id(event_id)
            .await?
            .into_iter()
            .next())
    }

    /// Every Threema message of an event, by peer and part.
    pub async fn messages_by_event_id(
        &self,
        event_id: &str,
    ) -> Result<Vec<MessageMapping>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM message WHERE event_id = $1 ORDER BY threema_peer, part"
        ))
        .bind(event_id)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(MessageMapping::from_row)
        .collect()
    }

    pub async fn message_by_threema_id(
        &self,
        peer: &str,
        message_id: &str,
        direction: Direction,
    ) -> Result<Option<MessageMapping>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM message WHERE threema_peer = $1 AND threema_message_id = $2 AND direction = $3"
        ))
        .bind(peer)
        .bind(message_id)
        .bind(direction.as_str())
        .fetch_optional(&self.db)
        .await?
        .map(MessageMapping::from_row)
        .transpose()
    }

    /// A driver's messages in a portal that the driver has not been told the desk read, up to
    /// `through`, oldest first.
    pub async fn messages_unread(
        &self,
        room_id: &str,
        through: ReadThrough<'_>,
    ) -> Result<Vec<UnreadMessage>, StoreError> {
        let bound = match through {
            ReadThrough::Event(_) => {
                "id <= (SELECT MAX(id) FROM message WHERE event_id = $2 AND room_id = $1)"
            }
            ReadThrough::Time(_) => "created_at <= $2",
        };
        let query = format!(
            "SELECT id, threema_peer, threema_message_id FROM message \
             WHERE room_id = $1 AND direction = $3 AND read_sent_at IS NULL AND {bound} \
             ORDER BY id"
        );
        let query = sqlx::query(&query).bind(room_id);
        let query = match through {
            ReadThrough::Event(event_id) => query.bind(event_id),
            ReadThrough::Time(ms) => query.bind(ms),
        };
        query
            .bind(Direction::In.as_str())
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| {
                Ok(UnreadMessage {
                    id: row.try_get("id")?,
                    threema_peer: row.try_get("threema_peer")?,
                    threema_message_id: row.try_get("threema_message_id")?,
                })
            })
            .collect()
    }

    /// Notes that the driver got a read receipt for these messages.
    pub async fn messages_mark_read_sent(&self, ids: &[i64]) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        for id in ids {
            sqlx::query("UPDATE message SET read_sent_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// How far a reader got in a portal.
#[derive(Debug, Clone, Copy)]
pub enum ReadThrough<'a> {
    /// Through this bridged event.
    Event(&'a str),
    /// Through everything bridged until then (Unix ms), for events the bridge did not map.
    Time(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadMessage {
    pub id: i64,
    pub threema_peer: String,
    pub threema_message_id: String,
}
