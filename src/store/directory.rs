//! `employee`, `space`, `room_state` and `audit`: the directory, what the bridge set up for it,
//! and the record of both.

use futures::TryStreamExt;
use sqlx::{Row, any::AnyRow};

use threema_protocol::ThreemaId;

use super::{Store, StoreError, audit, id_column, now_ms};
use crate::directory::{Employee, Record, plan::Membership, snapshot::Change};

/// A directory row with what only the store knows about it.
#[derive(Clone)]
pub struct StoredEmployee {
    pub employee: Employee,
    pub scim_id: Option<String>,
    pub scim_user_name: Option<String>,
    /// The Threema ID a phone/email lookup found (drivers without a `threema_id`).
    pub looked_up_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The SCIM user name only as whether it is there (it is usually the work email).
impl std::fmt::Debug for StoredEmployee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredEmployee")
            .field("employee", &self.employee)
            .field("scim_id", &self.scim_id)
            .field(
                "scim_user_name",
                &self.scim_user_name.as_ref().map(|_| "<redacted>"),
            )
            .field("looked_up_id", &self.looked_up_id)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl StoredEmployee {
    /// The Threema ID found by phone/email lookup, if there was one.
    pub fn looked_up(&self) -> Option<threema_protocol::ThreemaId> {
        threema_protocol::ThreemaId::parse(self.looked_up_id.as_deref()?)
    }

    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        let json: String = row.try_get("record")?;
        let record: Record =
            serde_json::from_str(&json).map_err(|_| StoreError::corrupt("employee", "record"))?;
        Ok(StoredEmployee {
            employee: Employee {
                record,
                source: row.try_get("source")?,
                removed: row.try_get::<Option<i64>, _>("removed_at")?.is_some(),
            },
            scim_id: row.try_get("scim_id")?,
            scim_user_name: row.try_get("scim_user_name")?,
            looked_up_id: row.try_get("looked_up_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

stored_enum! {
    /// What a `room_state` row records about its room.
    pub enum RoomStateKind in room_state.kind {
        /// The room's name (key '').
        Name = "name",
        /// The room's topic (key '').
        Topic = "topic",
        /// Whether only the bridge may write (key '', value `true` | `false`).
        ReadOnly = "read_only",
        /// A space's child (key: the child room).
        Child = "child",
        /// A member (key: the user, value: their membership).
        Member = "member",
        /// A Matrix account the bridge deactivated (room '', key: the user).
        Account = "account",
        /// Whose portal this is (key '', value: the employee id): a driver who gets a new
        /// Threema ID keeps it.
        Employee = "employee",
        /// A driver's Threema ID from before they got a new one (room '', key: the old ID,
        /// value: the employee id): what still comes from it is a former driver's.
        Retired = "retired",
        /// A portal's files of events before this time (Unix ms, key '') are deleted
        /// (`retention.media_days`): a pass looks only at what came after.
        MediaExpired = "media_expired",
    }
}

/// Rows sort by the stored word, as the column does.
impl Ord for RoomStateKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for RoomStateKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

const EMPLOYEE_COLUMNS: &str = "employee_id, source, record, removed_at, scim_id, scim_user_name, \
     looked_up_id, created_at, updated_at";

impl Store {
    pub async fn employees(&self) -> Result<Vec<StoredEmployee>, StoreError> {
        sqlx::query(&format!(
            "SELECT {EMPLOYEE_COLUMNS} FROM employee ORDER BY employee_id"
        ))
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(StoredEmployee::from_row)
        .collect()
    }

    pub async fn employee_by_scim_id(
        &self,
        scim_id: &str,
    ) -> Result<Option<StoredEmployee>, StoreError> {
        sqlx::query(&format!(
            "SELECT {EMPLOYEE_COLUMNS} FROM employee WHERE scim_id = $1"
        ))
        .bind(scim_id)
        .fetch_optional(&self.db)
        .await?
        .map(StoredEmployee::from_row)
        .transpose()
    }

    pub async fn employee_by_id(
        &self,
        employee_id: &str,
    ) -> Result<Option<StoredEmployee>, StoreError> {
        sqlx::query(&format!(
            "SELECT {EMPLOYEE_COLUMNS} FROM employee WHERE employee_id = $1"
        ))
        .bind(employee_id)
        .fetch_optional(&self.db)
        .await?
        .map(StoredEmployee::from_row)
        .transpose()
    }

    /// The employees the directory removed at or before `cutoff` (Unix ms), longest gone first.
    pub async fn employees_removed_before(&self, cutoff: i64) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT employee_id FROM employee WHERE removed_at <= $1 \
             ORDER BY removed_at, employee_id",
        )
        .bind(cutoff)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| Ok(row.try_get("employee_id")?))
        .collect()
    }

    /// Writes a source's changes and their audit entries in one transaction: all or nothing.
    pub async fn employees_apply(
        &self,
        source: &str,
        changes: &[Change],
        actor: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        for change in changes {
            match change {
                Change::Added(record) | Change::Changed(_, record) => {
                    sqlx::query(
                        "INSERT INTO employee (employee_id, source, record, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $4) \
                         ON CONFLICT (employee_id) DO UPDATE SET source = excluded.source, \
                         record = excluded.record, removed_at = NULL, updated_at = excluded.updated_at",
                    )
                    .bind(&record.employee_id)
                    .bind(source)
                    .bind(serde_json::to_string(record).expect("records serialise"))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::Removed(record) => {
                    sqlx::query(
                        "UPDATE employee SET removed_at = $2, updated_at = $2 WHERE employee_id = $1",
                    )
                    .bind(&record.employee_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            if let Change::Changed(before, after) = change
                && (before.phone != after.phone || before.email != after.email)
            {
                // The ID was found by the old number or address, which may be someone else's
                // now: the next sync looks it up again.
                sqlx::query("UPDATE employee SET looked_up_id = NULL WHERE employee_id = $1")
                    .bind(&after.employee_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        // After every row is written: the chain's lock is taken last and held briefly, and
        // always after the employee rows (another writer of both cannot wait the other way).
        for change in changes {
            let action = match change {
                Change::Added(_) => "directory.added",
                Change::Changed(..) => "directory.changed",
                Change::Removed(_) => "directory.removed",
            };
            audit::append(
                &mut tx,
                &self.audit_key,
                now,
                actor,
                action,
                change.employee_id(),
                &change.describe(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives a SCIM-created (or -claimed) row its SCIM id and user name. `false` when another
    /// row holds that user name.
    pub async fn employee_set_scim(
        &self,
        employee_id: &str,
        scim_id: &str,
        user_name: &str,
    ) -> Result<bool, StoreError> {
        if self.scim_user_name_taken(user_name, employee_id).await? {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE employee SET scim_id = COALESCE(scim_id, $2), scim_user_name = $3 \
             WHERE employee_id = $1",
        )
        .bind(employee_id)
        .bind(scim_id)
        .bind(user_name)
        .execute(&self.db)
        .await?;
        Ok(true)
    }

    /// Whether another employee than `employee_id` has this SCIM user name.
    pub async fn scim_user_name_taken(
        &self,
        user_name: &str,
        employee_id: &str,
    ) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM employee WHERE scim_user_name = $1 AND employee_id <> $2")
                .bind(user_name)
                .bind(employee_id)
                .fetch_optional(&self.db)
                .await?
                .is_some(),
        )
    }

    pub async fn employee_set_looked_up(
        &self,
        employee_id: &str,
        threema_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE employee SET looked_up_id = $2 WHERE employee_id = $1")
            .bind(employee_id)
            .bind(threema_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    pub async fn spaces(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query("SELECT key, room_id FROM space")
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| Ok((row.try_get("key")?, row.try_get("room_id")?)))
            .collect()
    }

    pub async fn space_insert(&self, key: &str, room_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO space (key, room_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(room_id)
        .bind(now_ms())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Every recorded `(room, kind, key, value)`.
    /// The Threema IDs drivers had before their current one.
    pub async fn retired_threema_ids(&self) -> Result<Vec<ThreemaId>, StoreError> {
        let rows = sqlx::query("SELECT key FROM room_state WHERE room_id = '' AND kind = $1")
            .bind(RoomStateKind::Retired.as_str())
            .fetch_all(&self.db)
            .await?;
        rows.iter()
            .map(|row| id_column(row, "room_state", "key"))
            .collect()
    }

    /// Each recorded room state as `(room, kind, key, value)`, one row at a time: at 10,000
    /// portals there are some 60,000, and read at once they cost the process tens of MiB that
    /// the allocator keeps.
    pub async fn each_room_state(
        &self,
        mut each: impl FnMut(String, RoomStateKind, String, String),
    ) -> Result<(), StoreError> {
        let mut rows =
            sqlx::query("SELECT room_id, kind, key, value FROM room_state").fetch(&self.db);
        while let Some(row) = rows.try_next().await? {
            each(
                row.try_get("room_id")?,
                RoomStateKind::parse(&row.try_get::<String, _>("kind")?)?,
                row.try_get("key")?,
                row.try_get("value")?,
            );
        }
        Ok(())
    }

    /// Each recorded membership as `(room, user, membership)`, one row at a time (see
    /// [`Store::each_room_state`]). The kind is written out so the partial index on
    /// memberships applies.
    pub async fn each_membership(
        &self,
        mut each: impl FnMut(String, String, String),
    ) -> Result<(), StoreError> {
        let mut rows =
            sqlx::query("SELECT room_id, key, value FROM room_state WHERE kind = 'member'")
                .fetch(&self.db);
        while let Some(row) = rows.try_next().await? {
            each(
                row.try_get("room_id")?,
                row.try_get("key")?,
                row.try_get("value")?,
            );
        }
        Ok(())
    }

    /// The rooms `user` is recorded in (joined or invited).
    pub async fn rooms_of_member(&self, user: &ruma::UserId) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT room_id, value FROM room_state WHERE kind = 'member' AND key = $1 \
             AND room_id <> ''",
        )
        .bind(user.as_str())
        .fetch_all(&self.db)
        .await?;
        let mut rooms = Vec::new();
        for row in rows {
            let membership: String = row.try_get("value")?;
            if Membership::parse(&membership).is_some_and(Membership::is_in) {
                rooms.push(row.try_get("room_id")?);
            }
        }
        Ok(rooms)
    }

    /// Records a membership the bridge caused or the homeserver reported.
    pub async fn record_member(
        &self,
        room_id: &str,
        user: &ruma::UserId,
        membership: Membership,
    ) -> Result<(), StoreError> {
        self.room_state_set(
            room_id,
            RoomStateKind::Member,
            user.as_str(),
            membership.as_str(),
        )
        .await
    }

    /// A membership the homeserver reported in an event sent at `event_ts` (Unix ms): recorded
    /// unless what is recorded is newer. A join delivered late (a transaction retried after a
    /// restart) must not undo a removal the bridge made after it: the removal would be made,
    /// and audited, again. Whether it was recorded.
    pub async fn record_member_from_event(
        &self,
        room_id: &str,
        user: &ruma::UserId,
        membership: Membership,
        event_ts: i64,
    ) -> Result<bool, StoreError> {
        let recorded = sqlx::query(
            "INSERT INTO room_state (room_id, kind, key, value, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (room_id, kind, key) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at WHERE room_state.updated_at <= excluded.updated_at",
        )
        .bind(room_id)
        .bind(RoomStateKind::Member.as_str())
        .bind(user.as_str())
        .bind(membership.as_str())
        .bind(event_ts)
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(recorded == 1)
    }

    /// One recorded value about a room.
    pub async fn room_state_get(
        &self,
        room_id: &str,
        kind: RoomStateKind,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT value FROM room_state WHERE room_id = $1 AND kind = $2 AND key = $3",
        )
        .bind(room_id)
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(&self.db)
        .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("value")?),
            None => None,
        })
    }

    pub async fn room_state_set(
        &self,
        room_id: &str,
        kind: RoomStateKind,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO room_state (room_id, kind, key, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (room_id, kind, key) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
        )
        .bind(room_id)
        .bind(kind.as_str())
        .bind(key)
        .bind(value)
        .bind(now_ms())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn room_state_delete(
        &self,
        room_id: &str,
        kind: RoomStateKind,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM room_state WHERE room_id = $1 AND kind = $2 AND key = $3")
            .bind(room_id)
            .bind(kind.as_str())
            .bind(key)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
