//! `conversation`: the shared inbox's state per driver (see `bridge::desk`).

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms};

stored_enum! {
    /// Whether a driver's message waits for the desk.
    pub enum ConversationState in conversation.state {
        Open = "open",
        Closed = "closed",
    }
}

stored_enum! {
    /// How a conversation was closed.
    pub enum Closed in conversation.closed_how {
        /// A dispatcher wrote to the driver in the portal.
        Answered = "answered",
        /// A dispatcher marked the driver's message handled with a reaction.
        Reaction = "reaction",
        /// `!done` in the portal.
        Done = "done",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub threema_id: String,
    pub state: ConversationState,
    pub waiting_since: Option<i64>,
    pub waiting_event: Option<String>,
    pub owner: Option<String>,
    pub closed_by: Option<String>,
    pub closed_how: Option<Closed>,
    pub shown_topic: Option<String>,
    /// When the desk room was told it waits too long (Unix ms), while open.
    pub late_at: Option<i64>,
    /// When the admins were.
    pub escalated_at: Option<i64>,
    /// A driver's urgent message the desk room has not heard of yet.
    pub urgent_event: Option<String>,
    /// The bot's ⏳ reaction, and the message it is on.
    pub marker_event: Option<String>,
    pub marker_on: Option<String>,
}

/// What the desk was told about a waiting conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// The desk room: it waits longer than it should.
    Late,
    /// The admins: it still waits.
    Escalated,
}

impl Conversation {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        let closed_how: Option<String> = row.try_get("closed_how")?;
        Ok(Conversation {
            threema_id: row.try_get("threema_id")?,
            state: ConversationState::parse(&row.try_get::<String, _>("state")?)?,
            waiting_since: row.try_get("waiting_since")?,
            waiting_event: row.try_get("waiting_event")?,
            owner: row.try_get("owner")?,
            closed_by: row.try_get("closed_by")?,
            closed_how: closed_how.as_deref().map(Closed::parse).transpose()?,
            shown_topic: row.try_get("shown_topic")?,
            late_at: row.try_get("late_at")?,
            escalated_at: row.try_get("escalated_at")?,
            urgent_event: row.try_get("urgent_event")?,
            marker_event: row.try_get("marker_event")?,
            marker_on: row.try_get("marker_on")?,
        })
    }
}

const COLUMNS: &str = "threema_id, state, waiting_since, waiting_event, owner, closed_by, \
                       closed_how, shown_topic, late_at, escalated_at, urgent_event, \
                       marker_event, marker_on";

impl Store {
    pub async fn conversation(&self, threema_id: &str) -> Result<Option<Conversation>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM conversation WHERE threema_id = $1"
        ))
        .bind(threema_id)
        .fetch_optional(&self.db)
        .await?
        .map(Conversation::from_row)
        .transpose()
    }

    /// A driver wrote (their message `event_id`, sent at `at`): their conversation opens, or
    /// stays open waiting since its first unanswered message. Returns whether it opened now.
    pub async fn conversation_driver_wrote(
        &self,
        threema_id: &str,
        event_id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let opened = sqlx::query(
            "INSERT INTO conversation (threema_id, state, waiting_since, waiting_event, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (threema_id) DO UPDATE SET state = EXCLUDED.state, \
             waiting_since = EXCLUDED.waiting_since, waiting_event = EXCLUDED.waiting_event, \
             owner = NULL, closed_by = NULL, closed_how = NULL, late_at = NULL, \
             escalated_at = NULL, updated_at = EXCLUDED.updated_at \
             WHERE conversation.state <> EXCLUDED.state",
        )
        .bind(threema_id)
        .bind(ConversationState::Open.as_str())
        .bind(at)
        .bind(event_id)
        .bind(now_ms())
        .execute(&self.db)
        .await?
        .rows_affected();
        // The newest message, whatever the state: an answer older than it leaves it waiting.
        sqlx::query(
            "UPDATE conversation SET latest_at = $1, latest_event = $2 \
             WHERE threema_id = $3 AND (latest_at IS NULL OR latest_at < $1)",
        )
        .bind(at)
        .bind(event_id)
        .bind(threema_id)
        .execute(&self.db)
        .await?;
        Ok(opened == 1)
    }

    /// Closes an open conversation that has waited since `at` (Unix ms) or earlier (an answer
    /// written before the driver's newer message does not answer it); whether it changed. When
    /// the driver wrote again after `at`, it stays open, waiting since their newest message
    /// (an answer handled only after it arrived answers what came before, not it).
    pub async fn conversation_close(
        &self,
        threema_id: &str,
        by: &str,
        how: Closed,
        at: i64,
    ) -> Result<bool, StoreError> {
        let moved = sqlx::query(
            "UPDATE conversation SET waiting_since = latest_at, waiting_event = latest_event, \
             late_at = NULL, escalated_at = NULL, updated_at = $1 \
             WHERE threema_id = $2 AND state = $3 AND waiting_since <= $4 AND latest_at > $4",
        )
        .bind(now_ms())
        .bind(threema_id)
        .bind(ConversationState::Open.as_str())
        .bind(at)
        .execute(&self.db)
        .await?
        .rows_affected();
        if moved == 1 {
            return Ok(true);
        }
        let closed = sqlx::query(
            "UPDATE conversation SET state = $1, closed_by = $2, closed_how = $3, \
             waiting_since = NULL, waiting_event = NULL, late_at = NULL, escalated_at = NULL, \
             urgent_event = NULL, updated_at = $4 \
             WHERE threema_id = $5 AND state = $6 AND waiting_since <= $7",
        )
        .bind(ConversationState::Closed.as_str())
        .bind(by)
        .bind(how.as_str())
        .bind(now_ms())
        .bind(threema_id)
        .bind(ConversationState::Open.as_str())
        .bind(at)
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(closed == 1)
    }

    /// Gives an open conversation to `owner` (`None`: to nobody); whether that changed it.
    pub async fn conversation_set_owner(
        &self,
        threema_id: &str,
        owner: Option<&str>,
    ) -> Result<bool, StoreError> {
        let set = sqlx::query(
            "UPDATE conversation SET owner = $1, updated_at = $2 \
             WHERE threema_id = $3 AND state = $4 AND owner IS DISTINCT FROM $1",
        )
        .bind(owner)
        .bind(now_ms())
        .bind(threema_id)
        .bind(ConversationState::Open.as_str())
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(set == 1)
    }

    /// The drivers whose open conversations `owner` has.
    pub async fn conversations_owned_by(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT threema_id FROM conversation WHERE owner = $1 AND state = $2 \
             ORDER BY threema_id",
        )
        .bind(owner)
        .bind(ConversationState::Open.as_str())
        .fetch_all(&self.db)
        .await?;
        rows.into_iter()
            .map(|row| Ok(row.try_get("threema_id")?))
            .collect()
    }

    /// Moves the driver's open conversation from `from` to `to`, if `from` still has it.
    pub async fn conversation_move_owner(
        &self,
        threema_id: &str,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let moved = sqlx::query(
            "UPDATE conversation SET owner = $1, updated_at = $2 \
             WHERE threema_id = $3 AND owner = $4 AND state = $5",
        )
        .bind(to)
        .bind(now_ms())
        .bind(threema_id)
        .bind(from)
        .bind(ConversationState::Open.as_str())
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(moved == 1)
    }

    /// The open conversations, longest waiting first: what the inbox's clock looks at.
    pub async fn conversations_waiting(&self) -> Result<Vec<Conversation>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM conversation WHERE state = $1 ORDER BY waiting_since"
        ))
        .bind(ConversationState::Open.as_str())
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(Conversation::from_row)
        .collect()
    }

    /// Records that the desk was `told` about the driver's conversation waiting since
    /// `waiting_since`, unless it was already, or it was answered or opened again meanwhile;
    /// whether it was recorded now.
    pub async fn conversation_told(
        &self,
        threema_id: &str,
        waiting_since: i64,
        told: Told,
    ) -> Result<bool, StoreError> {
        let column = match told {
            Told::Late => "late_at",
            Told::Escalated => "escalated_at",
        };
        let set = sqlx::query(&format!(
            "UPDATE conversation SET {column} = $1 \
             WHERE threema_id = $2 AND state = $3 AND waiting_since = $4 AND {column} IS NULL"
        ))
        .bind(now_ms())
        .bind(threema_id)
        .bind(ConversationState::Open.as_str())
        .bind(waiting_since)
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(set == 1)
    }

    /// A driver's message `event_id` is urgent: the desk room is to hear of it (the newest,
    /// if several wait).
    pub async fn conversation_urgent(
        &self,
        threema_id: &str,
        event_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE conversation SET urgent_event = $1 WHERE threema_id = $2 AND state = $3",
        )
        .bind(event_id)
        .bind(threema_id)
        .bind(ConversationState::Open.as_str())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// The desk room heard of the urgent message `event_id`; whether it was still waiting.
    pub async fn conversation_urgent_told(
        &self,
        threema_id: &str,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE conversation SET urgent_event = NULL WHERE threema_id = $1 AND urgent_event = $2",
        )
        .bind(threema_id)
        .bind(event_id)
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Forgets the driver's conversation (their erasure begins: nothing may name them any
    /// more in the desk rooms).
    pub async fn conversation_forget(&self, threema_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM conversation WHERE threema_id = $1")
            .bind(threema_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Whether the dispatcher said `off-shift` (and not `on-shift` since); sets it to
    /// `off`, returning whether that changed it.
    pub async fn dispatcher_set_off_shift(
        &self,
        user: &str,
        off: bool,
    ) -> Result<bool, StoreError> {
        let changed = if off {
            sqlx::query(
                "INSERT INTO dispatcher_off_shift (user_id, since) VALUES ($1, $2) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user)
            .bind(now_ms())
            .execute(&self.db)
            .await?
        } else {
            sqlx::query("DELETE FROM dispatcher_off_shift WHERE user_id = $1")
                .bind(user)
                .execute(&self.db)
                .await?
        };
        Ok(changed.rows_affected() == 1)
    }

    /// The conversations a dispatcher has or closed (for their export).
    pub async fn conversations_of_dispatcher(
        &self,
        user: &str,
    ) -> Result<Vec<Conversation>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM conversation WHERE owner = $1 OR closed_by = $1 \
             ORDER BY threema_id"
        ))
        .bind(user)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(Conversation::from_row)
        .collect()
    }

    /// Since when the dispatcher is off shift, if they are.
    pub async fn dispatcher_off_shift_since(&self, user: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT since FROM dispatcher_off_shift WHERE user_id = $1")
                .bind(user)
                .fetch_optional(&self.db)
                .await?,
        )
    }

    /// The dispatchers off shift.
    pub async fn dispatchers_off_shift(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query("SELECT user_id FROM dispatcher_off_shift ORDER BY user_id")
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| Ok(row.try_get("user_id")?))
            .collect()
    }

    /// Remembers the bot's ⏳ reaction `marker` on the message `on` (`None`: there is none).
    pub async fn conversation_marked(
        &self,
        threema_id: &str,
        marker: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE conversation SET marker_event = $1, marker_on = $2 WHERE threema_id = $3",
        )
        .bind(marker.map(|(event, _)| event))
        .bind(marker.map(|(_, on)| on))
        .bind(threema_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Remembers the portal topic set for the conversation.
    pub async fn conversation_shown(
        &self,
        threema_id: &str,
        topic: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE conversation SET shown_topic = $1 WHERE threema_id = $2")
            .bind(topic)
            .bind(threema_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
