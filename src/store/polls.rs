//! `poll` and `poll_vote`: the polls in portals (the driver's, and the desk's sent to them), so
//! that votes can name the choices and answer the poll's event, a close can carry the results,
//! and a broadcast's board can count its poll's votes.

use serde::{Deserialize, Serialize};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    pub threema_peer: String,
    pub creator: String,
    pub poll_id: u64,
    /// The poll's event in the portal (for a broadcast: the bot's copy there).
    pub event_id: String,
    /// In display order.
    pub choices: Vec<PollChoice>,
    pub question: String,
    pub multiple: bool,
    /// `unstable` (MSC3381) or `stable` (`m.poll.*`): what the poll's Matrix events are named.
    pub namespace: String,
    /// The broadcast it belongs to (its event in the broadcast room).
    pub broadcast_event: Option<String>,
    pub closed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollChoice {
    pub id: u64,
    pub name: String,
    /// The answer's id in the Matrix poll (a desk poll's own ids; a driver's poll uses the
    /// choice id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

impl PollChoice {
    /// What the Matrix side calls this choice.
    pub fn answer_id(&self) -> String {
        self.answer.clone().unwrap_or_else(|| self.id.to_string())
    }
}

/// One voter's current choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollVote {
    pub voter: String,
    /// Choice ids; none when the vote was taken back.
    pub choices: Vec<u64>,
}

const COLUMNS: &str = "threema_peer, creator, poll_id, event_id, choices, question, multiple, \
                       namespace, broadcast_event, closed_at";

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
            question: row.try_get("question")?,
            multiple: row.try_get::<i64, _>("multiple")? != 0,
            namespace: row.try_get("namespace")?,
            broadcast_event: row.try_get("broadcast_event")?,
            closed_at: row.try_get("closed_at")?,
        })
    }
}

impl Store {
    /// Records a poll. Returns `false` (and changes nothing) if it was recorded before.
    pub async fn poll_insert(&self, poll: &Poll) -> Result<bool, StoreError> {
        let choices = serde_json::to_string(&poll.choices).expect("choices serialise");
        let inserted = sqlx::query(
            "INSERT INTO poll (threema_peer, creator, poll_id, event_id, choices, question, \
             multiple, namespace, broadcast_event, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&poll.threema_peer)
        .bind(&poll.creator)
        .bind(poll.poll_id.to_string())
        .bind(&poll.event_id)
        .bind(choices)
        .bind(&poll.question)
        .bind(i64::from(poll.multiple))
        .bind(&poll.namespace)
        .bind(&poll.broadcast_event)
        .bind(now_ms())
        .execute(&self.db)
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
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM poll \
             WHERE threema_peer = $1 AND creator = $2 AND poll_id = $3"
        ))
        .bind(threema_peer)
        .bind(creator)
        .bind(poll_id.to_string())
        .fetch_optional(&self.db)
        .await?
        .map(Poll::from_row)
        .transpose()
    }

    /// The poll that the Matrix event `event_id` shows in the chat with `threema_peer`.
    pub async fn poll_by_event(
        &self,
        threema_peer: &str,
        event_id: &str,
    ) -> Result<Option<Poll>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM poll WHERE threema_peer = $1 AND event_id = $2"
        ))
        .bind(threema_peer)
        .bind(event_id)
        .fetch_optional(&self.db)
        .await?
        .map(Poll::from_row)
        .transpose()
    }

    /// The polls a broadcast sent, one per recipient.
    pub async fn polls_of_broadcast(&self, broadcast_event: &str) -> Result<Vec<Poll>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM poll WHERE broadcast_event = $1 ORDER BY threema_peer"
        ))
        .bind(broadcast_event)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(Poll::from_row)
        .collect()
    }

    /// Marks the poll closed; `false` if it was closed before.
    pub async fn poll_close(&self, poll: &Poll) -> Result<bool, StoreError> {
        let closed = sqlx::query(
            "UPDATE poll SET closed_at = $4 \
             WHERE threema_peer = $1 AND creator = $2 AND poll_id = $3 AND closed_at IS NULL",
        )
        .bind(&poll.threema_peer)
        .bind(&poll.creator)
        .bind(poll.poll_id.to_string())
        .bind(now_ms())
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(closed == 1)
    }

    /// Records `voter`'s current choice in `poll` (a later vote replaces an earlier one).
    pub async fn poll_vote_set(
        &self,
        poll: &Poll,
        voter: &str,
        choices: &[u64],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO poll_vote (threema_peer, creator, poll_id, voter, choices, voted_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (threema_peer, creator, poll_id, voter) \
             DO UPDATE SET choices = excluded.choices, voted_at = excluded.voted_at",
        )
        .bind(&poll.threema_peer)
        .bind(&poll.creator)
        .bind(poll.poll_id.to_string())
        .bind(voter)
        .bind(serde_json::to_string(choices).expect("choice ids serialise"))
        .bind(now_ms())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Every voter's current choice in `poll`, by voter.
    pub async fn poll_votes(&self, poll: &Poll) -> Result<Vec<PollVote>, StoreError> {
        sqlx::query(
            "SELECT voter, choices FROM poll_vote \
             WHERE threema_peer = $1 AND creator = $2 AND poll_id = $3 ORDER BY voter",
        )
        .bind(&poll.threema_peer)
        .bind(&poll.creator)
        .bind(poll.poll_id.to_string())
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| {
            let choices: String = row.try_get("choices")?;
            Ok(PollVote {
                voter: row.try_get("voter")?,
                choices: serde_json::from_str(&choices)
                    .map_err(|_| StoreError::corrupt("poll_vote", "choices"))?,
            })
        })
        .collect()
    }

    /// Polls (with their votes) created before `before_ms` in the chats of drivers not in
    /// `held`: they go with the portal's history (`retention.history_days`). Counts only
    /// when `dry_run`.
    pub async fn polls_prune(
        &self,
        before_ms: i64,
        held: &[String],
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        let mut polls: Vec<(String, String, String)> =
            sqlx::query("SELECT threema_peer, creator, poll_id FROM poll WHERE created_at < $1")
                .bind(before_ms)
                .fetch_all(&self.db)
                .await?
                .into_iter()
                .map(|row| {
                    Ok((
                        row.try_get("threema_peer")?,
                        row.try_get("creator")?,
                        row.try_get("poll_id")?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?;
        polls.retain(|(peer, _, _)| !held.contains(peer));
        if dry_run {
            return Ok(polls.len() as u64);
        }
        for (peer, creator, poll_id) in &polls {
            let mut tx = self.db.begin().await?;
            for table in ["poll_vote", "poll"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} \
                     WHERE threema_peer = $1 AND creator = $2 AND poll_id = $3"
                ))
                .bind(peer)
                .bind(creator)
                .bind(poll_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(polls.len() as u64)
    }
}
