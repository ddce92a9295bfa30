//! `schedule`: the messages dispatchers scheduled (`!at`, `!every`). One whose last occurrence
//! went, or that was cancelled, stays as a marker without its text (`done_at`): its command,
//! seen again (a retried transaction, a catch-up), schedules nothing.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: i64,
    pub room_id: String,
    /// The portal's driver; `None` in a broadcast room.
    pub driver: Option<String>,
    pub sender: String,
    pub sender_name: String,
    pub body: String,
    /// `once:<ms>` or `every:<day mask>@HH:MM:SS`.
    pub rule: String,
    /// `None` once done (or cancelled).
    pub next_at: Option<i64>,
    /// The occurrence being sent, if one was begun (a crash may have cut it off).
    pub firing_at: Option<i64>,
}

/// A schedule to record, named by the command's event.
#[derive(Debug, Clone)]
pub struct NewSchedule<'a> {
    pub room_id: &'a str,
    pub driver: Option<&'a str>,
    pub sender: &'a str,
    pub sender_name: &'a str,
    pub body: &'a str,
    pub rule: &'a str,
    pub next_at: i64,
    pub command_event: &'a str,
}

const COLUMNS: &str = "id, room_id, driver, sender, sender_name, body, rule, next_at, firing_at";
/// The schedules still to go.
const PENDING: &str = "done_at IS NULL";
/// Done ($3 the time): the text goes, the marker stays.
const DONE: &str = "next_at = NULL, firing_at = NULL, body = '', done_at = $3";

impl Schedule {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        Ok(Schedule {
            id: row.try_get("id")?,
            room_id: row.try_get("room_id")?,
            driver: row.try_get("driver")?,
            sender: row.try_get("sender")?,
            sender_name: row.try_get("sender_name")?,
            body: row.try_get("body")?,
            rule: row.try_get("rule")?,
            next_at: row.try_get("next_at")?,
            firing_at: row.try_get("firing_at")?,
        })
    }
}

impl Store {
    /// Records a schedule once per command event; returns it (as first recorded) and whether
    /// it was recorded now.
    pub async fn schedule_insert(
        &self,
        new: &NewSchedule<'_>,
    ) -> Result<(Schedule, bool), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO schedule (room_id, driver, sender, sender_name, body, rule, next_at, \
             command_event, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (command_event) DO NOTHING",
        )
        .bind(new.room_id)
        .bind(new.driver)
        .bind(new.sender)
        .bind(new.sender_name)
        .bind(new.body)
        .bind(new.rule)
        .bind(new.next_at)
        .bind(new.command_event)
        .bind(now_ms())
        .execute(&self.db)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM schedule WHERE command_event = $1"
        ))
        .bind(new.command_event)
        .fetch_optional(&self.db)
        .await?;
        match row {
            Some(row) => Ok((Schedule::from_row(row)?, inserted)),
            None => Err(StoreError::corrupt("schedule", "command_event")),
        }
    }

    /// A room's schedules, the next first.
    pub async fn schedules_in_room(&self, room_id: &str) -> Result<Vec<Schedule>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM schedule WHERE room_id = $1 AND {PENDING} ORDER BY next_at, id"
        ))
        .bind(room_id)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(Schedule::from_row)
        .collect()
    }

    /// Schedules due at `now_ms`, the earliest first.
    pub async fn schedules_due(&self, now_ms: i64) -> Result<Vec<Schedule>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM schedule WHERE next_at <= $1 AND {PENDING} ORDER BY next_at, id"
        ))
        .bind(now_ms)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(Schedule::from_row)
        .collect()
    }

    /// When the next schedule is due.
    pub async fn schedule_next_due(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT MIN(next_at) AS next FROM schedule WHERE {PENDING}"
        ))
        .fetch_one(&self.db)
        .await?;
        Ok(row.try_get("next")?)
    }

    /// Cancels schedule `id` of `room_id`; `false` if there is none to go.
    pub async fn schedule_delete(&self, id: i64, room_id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query(&format!(
            "UPDATE schedule SET {DONE} WHERE id = $1 AND room_id = $2 AND {PENDING}"
        ))
        .bind(id)
        .bind(room_id)
        .bind(now_ms())
        .execute(&self.db)
        .await?
        .rows_affected()
            == 1)
    }

    /// Forgets the markers of schedules done before `before_ms`: their commands are long
    /// handled (with the inbox rows that could bring them again).
    pub async fn schedules_prune(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM schedule WHERE done_at IS NOT NULL AND done_at < $1")
                .bind(before_ms)
                .execute(&self.db)
                .await?
                .rows_affected(),
        )
    }

    /// Notes that occurrence `at` of schedule `id` is being sent, before anything of it goes.
    pub async fn schedule_firing(&self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE schedule SET firing_at = $2 WHERE id = $1 AND next_at = $2")
            .bind(id)
            .bind(at)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Occurrence `at` of schedule `id` is done: on to `next`, or, without one, the schedule
    /// is over and goes. Only from `at`: done twice, it moves on once.
    pub async fn schedule_advance(
        &self,
        id: i64,
        at: i64,
        next: Option<i64>,
    ) -> Result<(), StoreError> {
        match next {
            Some(next) => {
                sqlx::query(
                    "UPDATE schedule SET next_at = $3, firing_at = NULL \
                     WHERE id = $1 AND next_at = $2",
                )
                .bind(id)
                .bind(at)
                .bind(next)
                .execute(&self.db)
                .await?;
            }
            None => {
                sqlx::query(&format!(
                    "UPDATE schedule SET {DONE} WHERE id = $1 AND next_at = $2"
                ))
                .bind(id)
                .bind(at)
                .bind(now_ms())
                .execute(&self.db)
                .await?;
            }
        }
        Ok(())
    }
}
