//! `broadcast_delivery`: one row per recipient of a broadcast, the fan-out's durable queue
//! (drained by `bridge::broadcast::fanout`).

use ruma::{OwnedRoomId, OwnedUserId};
use sqlx::{Row, any::AnyRow};

use super::{
    NewOutgoing, OutboxItem, OutboxState, Store, StoreError,
    coalesce::{bind_padded, by_seq, padded},
    now_ms,
    queue_commit::Durable,
};

/// A broadcast as one recipient's fan-out sees it ([`Store::delivery_start`]).
pub struct DeliveryContext {
    /// The dispatcher who sent it.
    pub sender: OwnedUserId,
    /// Their Matrix content (JSON), copied into the portals.
    pub content: String,
    /// What it became for Threema (JSON).
    pub payload: String,
    /// The copies ask for a 👍.
    pub ack: bool,
    /// An earlier attempt (here or before a restart) started: its copy may be in the portal.
    /// Told by the mark's time, so an attempt in the same millisecond would not count (a retry
    /// waits half a second at least).
    pub tried_before: bool,
    /// The driver's data are restricted under a legal hold: nothing goes to them.
    pub restricted: bool,
    /// Their portal, if it was opened.
    pub portal: Option<OwnedRoomId>,
}

/// One recipient's place in the fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub seq: i64,
    pub event_id: String,
    pub recipient: String,
    pub portal_room: Option<String>,
    pub copy_event: Option<String>,
}

/// A recipient the fan-out is done with: their delivery row, the portal and the copy there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDone {
    pub seq: i64,
    pub portal_room: String,
    pub copy_event: String,
}

impl Store {
    /// Starts an attempt at one of a broadcast's recipients (the row `seq`): marks the row as
    /// tried, since the copy may be posted next (an attempt after a crash looks for it before
    /// posting again, as the homeserver's memory of transaction ids does not outlive its
    /// restart; an attempt that posts nothing only makes that look needless), and reads what
    /// the fan-out needs: the broadcast, whether the driver is restricted
    /// ([`Store::is_restricted`]) and their portal, if they have one. On disk before it
    /// returns. Whether an earlier attempt started comes with it: the runner's copy of the row
    /// does not know of attempts in this process. `None`: the row or the broadcast is gone. One
    /// statement where there were two, shared with the lanes that start at the same time
    /// (`coalesce`).
    pub async fn delivery_start(&self, seq: i64) -> Result<Option<DeliveryContext>, StoreError> {
        let delivery_start = &self.coalesced.delivery_start;
        delivery_start
            .call(self, seq, Store::delivery_start_all)
            .await
    }

    /// [`Store::delivery_start`] for each of `seqs` (the lanes that start at the same time),
    /// in one statement.
    async fn delivery_start_all(
        self,
        seqs: Vec<i64>,
    ) -> Result<Vec<Result<Option<DeliveryContext>, StoreError>>, StoreError> {
        let of_broadcast = |column: &str| {
            format!(
                "(SELECT {column} FROM broadcast \
                 WHERE broadcast.event_id = broadcast_delivery.event_id) AS {column}"
            )
        };
        let sql = format!(
            "UPDATE broadcast_delivery SET copy_tried_at = COALESCE(copy_tried_at, $1) \
             WHERE seq IN ({}) RETURNING seq, {}, {}, {}, {}, \
             CAST(CASE WHEN copy_tried_at <> $1 THEN 1 ELSE 0 END AS BIGINT) AS tried_before, \
             {} AS restricted, \
             (SELECT room_id FROM portal WHERE threema_id = broadcast_delivery.recipient) \
             AS portal",
            super::placeholders(2, padded(seqs.len())),
            of_broadcast("sender"),
            of_broadcast("content"),
            of_broadcast("payload"),
            of_broadcast("ack"),
            super::restrictions::restricted("broadcast_delivery.recipient"),
        );
        let query = bind_padded(sqlx::query(&sql).bind(now_ms()), &seqs);
        let rows = by_seq(self.fenced_fetch_all(query).await?)?;
        let read = |row: &AnyRow| {
            // Every column of the broadcast is NULL when it is gone.
            let Some(sender) = row.try_get::<Option<String>, _>("sender")? else {
                return Ok(None);
            };
            let sender = OwnedUserId::try_from(sender)
                .map_err(|_| StoreError::corrupt("broadcast", "sender"))?;
            let portal = (row.try_get::<Option<String>, _>("portal")?)
                .map(|room| {
                    OwnedRoomId::try_from(room)
                        .map_err(|_| StoreError::corrupt("portal", "room_id"))
                })
                .transpose()?;
            Ok(Some(DeliveryContext {
                sender,
                content: row.try_get("content")?,
                payload: row.try_get("payload")?,
                ack: row.try_get::<i64, _>("ack")? != 0,
                tried_before: row.try_get::<i64, _>("tried_before")? != 0,
                restricted: row.try_get::<i64, _>("restricted")? != 0,
                portal,
            }))
        };
        Ok(seqs
            .iter()
            .map(|seq| rows.get(seq).map_or(Ok(None), read))
            .collect())
    }

    /// Recipients the fan-out has not finished, after `after_seq`.
    pub async fn delivery_pending(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        sqlx::query(
            "SELECT seq, event_id, recipient, portal_room, copy_event \
             FROM broadcast_delivery \
             WHERE processed_at IS NULL AND seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| {
            Ok(Delivery {
                seq: row.try_get("seq")?,
                event_id: row.try_get("event_id")?,
                recipient: row.try_get("recipient")?,
                portal_room: row.try_get("portal_room")?,
                copy_event: row.try_get("copy_event")?,
            })
        })
        .collect()
    }

    /// The copy is in the portal: recorded at once where it must be found before the rest of
    /// the recipient is done (a poll's end closes the copies on record).
    pub async fn delivery_set_copy(
        &self,
        seq: i64,
        portal_room: &str,
        copy_event: &str,
    ) -> Result<(), StoreError> {
        self.fenced_execute(
            sqlx::query(
                "UPDATE broadcast_delivery SET portal_room = $1, copy_event = $2 WHERE seq = $3",
            )
            .bind(portal_room)
            .bind(copy_event)
            .bind(seq),
        )
        .await?;
        Ok(())
    }

    /// The recipient's copy is in their portal and its Threema messages go into the outbox:
    /// `rows` queued (as [`Store::outbox_enqueue`]), the copy recorded and the fan-out done with
    /// the recipient, in one commit. Returns the new rows. It does not wait for the
    /// disk ([`Durable::WithNext`]): the rows' claim does before their send, and taken back,
    /// the recipient is fanned out again and their copy found in the portal.
    pub async fn delivery_queued(
        &self,
        done: &DeliveryDone,
        rows: &[NewOutgoing],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut tx = self.fenced_tx().await?;
        let new = self
            .enqueue(&mut tx, rows, OutboxState::Queued, None, true)
            .await?;
        sqlx::query(
            "UPDATE broadcast_delivery SET portal_room = $1, copy_event = $2, processed_at = $3 \
             WHERE seq = $4",
        )
        .bind(&done.portal_room)
        .bind(&done.copy_event)
        .bind(now_ms())
        .bind(done.seq)
        .execute(&mut *tx)
        .await?;
        tx.commit_as(Durable::WithNext).await?;
        Ok(new)
    }

    /// The fan-out is done with this recipient (`error`: why nothing was queued).
    pub async fn delivery_finish(&self, seq: i64, error: Option<&str>) -> Result<(), StoreError> {
        self.fenced_execute(
            sqlx::query(
                "UPDATE broadcast_delivery SET processed_at = $1, error = COALESCE($2, error) \
                 WHERE seq = $3",
            )
            .bind(now_ms())
            .bind(error)
            .bind(seq),
        )
        .await?;
        Ok(())
    }
}
