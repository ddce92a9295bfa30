//! What bridging a driver's message reads of the driver, in one statement: their ghost, their
//! portal and the broadcast their message may answer. Read one by one they were three round
//! trips to the database per message (on SQLite each a hand-off to the connection's thread).

use sqlx::{Row, any::AnyRow};

use super::{Ghost, Portal, Store, StoreError, now_ms};

/// How long after a broadcast reached a driver their next message counts as its answer.
const ANSWERS_WITHIN_MS: i64 = 24 * 3600 * 1000;

/// A driver's rows as one message of theirs finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderRows {
    /// `None` for a driver the bridge has no ghost for yet.
    pub ghost: Option<Ghost>,
    /// `None` before their first portal.
    pub portal: Option<Portal>,
    /// The newest broadcast of the last day that reached them, if nothing has answered it yet.
    pub unanswered: Option<Unanswered>,
}

/// A broadcast's copy a driver's next message answers: the recipient's `broadcast_delivery` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unanswered(pub i64);

impl Store {
    /// The ghost, portal and unanswered broadcast of `threema_id`, read in one snapshot. Only
    /// the newest broadcast of the last day counts: once it is answered, an older one is not.
    pub async fn sender_rows(&self, threema_id: &str) -> Result<SenderRows, StoreError> {
        let sql = format!(
            "SELECT d.id AS threema_id, g.user_id, g.display_name, g.avatar_url, g.registered_at, \
             p.room_id, p.created_at, {restricted} AS restricted, \
             b.seq AS answer_seq, b.reply_event AS answer_reply \
             FROM (SELECT CAST($1 AS TEXT) AS id) AS d \
             LEFT JOIN ghost AS g ON g.threema_id = d.id \
             LEFT JOIN portal AS p ON p.threema_id = d.id \
             LEFT JOIN broadcast_delivery AS b ON b.seq = (\
                SELECT seq FROM broadcast_delivery WHERE recipient = d.id AND created_at > $2 \
                AND copy_event IS NOT NULL ORDER BY seq DESC LIMIT 1)",
            restricted = super::restrictions::restricted("d.id"),
        );
        let row = sqlx::query(&sql)
            .bind(threema_id)
            .bind(now_ms() - ANSWERS_WITHIN_MS)
            .fetch_one(&self.db)
            .await?;
        SenderRows::from_row(row)
    }

    /// Links `reply_event` from the board as the answer to the broadcast copy `delivery`;
    /// `false` if something answered it meanwhile.
    pub async fn delivery_answered(
        &self,
        Unanswered(delivery): Unanswered,
        reply_event: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE broadcast_delivery SET reply_event = $1 WHERE seq = $2 AND reply_event IS NULL",
        )
        .bind(reply_event)
        .bind(delivery)
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl SenderRows {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        // The outer joins leave a missing row's columns NULL: `user_id` and `room_id` are
        // NOT NULL in their tables, so they tell whether the row is there.
        let ghost = match row.try_get::<Option<String>, _>("user_id")? {
            Some(_) => Some(Ghost::from_row(&row)?),
            None => None,
        };
        let portal = match row.try_get::<Option<String>, _>("room_id")? {
            Some(_) => Some(Portal::from_row(&row)?),
            None => None,
        };
        let unanswered = match (
            row.try_get::<Option<i64>, _>("answer_seq")?,
            row.try_get::<Option<String>, _>("answer_reply")?,
        ) {
            (Some(delivery), None) => Some(Unanswered(delivery)),
            _ => None,
        };
        Ok(SenderRows {
            ghost,
            portal,
            unanswered,
        })
    }
}
