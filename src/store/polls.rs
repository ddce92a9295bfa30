//! `poll`: the Threema polls in portals, so that votes can name the choices and reply to the
//! poll's event.

use serde::{Deserialize, Serialize};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    pub threema_peer: String,
    pub creator: String,
    pub poll_id: u64,
    pub event_id: String,
    /// In display order.
    pub choices: Vec<PollChoice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollChoice {
    pub id: u64,
    pub name: String,
}

impl Poll {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        let poll_id: String = row.try_get("poll_id")?;
        let choices: String = row.try_get("choices")?;
        Ok(Poll {
            threema_peer: row.try_get("threema_peer")?,
            creator: row.try_get("creator")?,
            poll_id: poll_id
                .parse()
                .map_err(|_| StoreError::corrupt("poll", "poll_id"))?,
            event_id: row.try_get("event_id")?,
            choices: serde_json::from_str(&choices)
                .map_err(|_| StoreError::corrupt("poll", "choices"))?,
        })
    }
}

impl Store {
    /// Records a poll. Returns `false` (and changes nothing) if it was recorded before.
    pub async fn poll_insert(&self, poll: &Poll) -> Result<bool, StoreError> {
        let choices = serde_json::to_string(&poll.choices).expect("choices serialise");
        let inserted = sqlx::query(
            "INSERT INTO poll (threema_peer, creator, poll_id, event_id, choices, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&poll.threema_peer)
        .bind(&poll.creator)
        .bind(poll.poll_id.to_string())
        .bind(&poll.event_id)
        .bind(choices)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    pub async fn poll_get(
        &self,
        threema_peer: &str,
        creator: &str,
        poll_id: u64,
    ) -> Result<Option<Poll>, StoreError> {
        sqlx::query(
            "SELECT threema_peer, creator, poll_id, event_id, choices FROM poll \
             WHERE threema_peer = $1 AND creator = $2 AND poll_id = $3",
        )
        .bind(threema_peer)
        .bind(creator)
        .bind(poll_id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(Poll::from_row)
        .transpose()
    }
}
