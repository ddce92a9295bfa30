//! `portal`: one Matrix room per driver.

use ruma::OwnedRoomId;
use sqlx::{Row, any::AnyRow};
use threema_protocol::ThreemaId;

use super::{Store, StoreError, id_column, now_ms};

/// The rooms the bridge runs; `$1` is the bridge state key of the quarantine room. A macro so
/// that [`BRIDGED_ROOMS`] can extend it at compile time.
macro_rules! closed_rooms {
    () => {
        "SELECT room_id FROM portal UNION SELECT room_id FROM space \
         UNION SELECT room_id FROM broadcast_room \
         UNION SELECT value AS room_id FROM bridge_state WHERE key = $1"
    };
}
const CLOSED_ROOMS: &str = closed_rooms!();

/// Every room the bridge keeps: [`CLOSED_ROOMS`] and the management rooms.
pub(super) const BRIDGED_ROOMS: &str = concat!(
    closed_rooms!(),
    " UNION SELECT room_id FROM management_room"
);

/// A portal as stored, its IDs parsed once here (a row whose IDs do not parse is corrupt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portal {
    pub threema_id: ThreemaId,
    pub room_id: OwnedRoomId,
    pub created_at: i64,
    /// The driver is under a legal hold (`restriction`, GDPR Art. 18), read with the portal:
    /// a dispatcher's message in it is refused without a statement of its own.
    pub restricted: bool,
}

/// The portals `filter` (a `WHERE` clause, or nothing) keeps, as [`Portal::from_row`] reads them.
fn portals_where(filter: &str) -> String {
    format!(
        "SELECT threema_id, room_id, created_at, {} AS restricted FROM portal {filter}",
        super::restrictions::restricted("portal.threema_id")
    )
}

impl Portal {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(Portal {
            threema_id: id_column(row, "portal", "threema_id")?,
            room_id: id_column(row, "portal", "room_id")?,
            created_at: row.try_get("created_at")?,
            restricted: row.try_get::<i64, _>("restricted")? != 0,
        })
    }
}

impl Store {
    pub async fn portals(&self) -> Result<Vec<Portal>, StoreError> {
        sqlx::query(&portals_where(""))
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| Portal::from_row(&row))
            .collect()
    }

    pub async fn portal_by_threema_id(
        &self,
        threema_id: &str,
    ) -> Result<Option<Portal>, StoreError> {
        sqlx::query(&portals_where("WHERE threema_id = $1"))
            .bind(threema_id)
            .fetch_optional(&self.db)
            .await?
            .map(|row| Portal::from_row(&row))
            .transpose()
    }

    /// Every room the bridge keeps: the [`Store::closed_rooms`] and the management rooms.
    pub async fn bridged_rooms(&self, state_key: &str) -> Result<Vec<OwnedRoomId>, StoreError> {
        self.room_ids(BRIDGED_ROOMS, state_key).await
    }

    /// The rooms the bridge runs, where only the bot invites: portals, spaces, broadcast rooms
    /// and the room stored under `state_key` (the quarantine room).
    pub async fn closed_rooms(&self, state_key: &str) -> Result<Vec<OwnedRoomId>, StoreError> {
        self.room_ids(&format!("{CLOSED_ROOMS} ORDER BY room_id"), state_key)
            .await
    }

    /// The `room_id` column of a query over [`CLOSED_ROOMS`].
    async fn room_ids(&self, sql: &str, state_key: &str) -> Result<Vec<OwnedRoomId>, StoreError> {
        let rows = sqlx::query(sql).bind(state_key).fetch_all(&self.db).await?;
        rows.iter()
            .map(|row| id_column(row, "room", "room_id"))
            .collect()
    }

    /// Whether `room_id` is one of [`Store::closed_rooms`].
    pub async fn is_closed_room(&self, room_id: &str, state_key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT room_id FROM ({CLOSED_ROOMS}) AS closed WHERE room_id = $2"
        ))
        .bind(state_key)
        .bind(room_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.is_some())
    }

    pub async fn portal_by_room_id(&self, room_id: &str) -> Result<Option<Portal>, StoreError> {
        sqlx::query(&portals_where("WHERE room_id = $1"))
            .bind(room_id)
            .fetch_optional(&self.db)
            .await?
            .map(|row| Portal::from_row(&row))
            .transpose()
    }

    /// Records a new portal. Returns `false` (and changes nothing) if the driver already has one.
    /// The portal of `from` becomes `to`'s (a driver's new Threema ID); `false` if `from` has
    /// none (done before) or `to` has one already.
    pub async fn portal_rekey(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        let moved = sqlx::query(
            "UPDATE portal SET threema_id = $1 WHERE threema_id = $2 \
             AND NOT EXISTS (SELECT 1 FROM portal WHERE threema_id = $1)",
        )
        .bind(to)
        .bind(from)
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(moved == 1)
    }

    pub async fn portal_insert(&self, threema_id: &str, room_id: &str) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO portal (threema_id, room_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (threema_id) DO NOTHING",
        )
        .bind(threema_id)
        .bind(room_id)
        .bind(now_ms())
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }
}
