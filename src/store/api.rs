//! `api_message`, `api_recipient`: what the integration API accepted, and how far each
//! recipient's copy got (posted in the portal, queued for Threema).

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// A message a client asked to send, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMessage {
    pub id: String,
    pub client: String,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub reference: Option<String>,
    pub ack_requested: bool,
    pub created_at: i64,
    /// A job card's title, fields and answers (JSON), its state and when it was reached.
    pub job: Option<String>,
    pub job_state: Option<String>,
    pub job_state_at: Option<i64>,
    /// A file sent with the text (JSON: mxc, name, mime type, size).
    pub file: Option<String>,
}

/// One recipient of an API message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRecipient {
    pub message_id: String,
    pub driver: String,
    /// The driver's name when it was sent (the portal copy's "to").
    pub name: String,
    /// The bot's copy in the portal, once posted.
    pub portal_event: Option<String>,
    pub queued_at: Option<i64>,
    /// Tries of giving the copy that failed, and when it was given up.
    pub attempts: i64,
    pub failed_at: Option<i64>,
}

/// A recipient whose copy is still to be posted or queued, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPending {
    pub recipient: ApiRecipient,
    pub client: String,
    pub body: String,
    pub ack_requested: bool,
    /// The file to send with it (JSON).
    pub file: Option<String>,
    /// A job card (JSON).
    pub job: Option<String>,
}

/// What storing a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiStored {
    Created,
    /// The client sent this Idempotency-Key before: the message stored then.
    Existing(Box<ApiMessage>),
}

const MESSAGE_COLUMNS: &str = "id, client, idempotency_key, request_hash, reference, \
    ack_requested, created_at, job, job_state, job_state_at, file";
/// `api_recipient r` in a join.
const RECIPIENT_COLUMNS_R: &str =
    "r.message_id, r.driver, r.name, r.portal_event, r.queued_at, r.attempts, r.failed_at";
/// A message's text is forgotten once no copy of it waits to be given.
const FORGET_DONE_BODY: &str = "UPDATE api_message SET body = NULL WHERE id = $1 AND NOT EXISTS \
    (SELECT 1 FROM api_recipient WHERE message_id = $1 AND queued_at IS NULL \
    AND failed_at IS NULL)";
/// The same, of `api_message m` in a join.
const MESSAGE_COLUMNS_M: &str = "m.id, m.client, m.idempotency_key, m.request_hash, \
    m.reference, m.ack_requested, m.created_at, m.job, m.job_state, m.job_state_at, m.file";

fn message(row: &sqlx::any::AnyRow) -> Result<ApiMessage, StoreError> {
    Ok(ApiMessage {
        id: row.try_get("id")?,
        client: row.try_get("client")?,
        idempotency_key: row.try_get("idempotency_key")?,
        request_hash: row.try_get("request_hash")?,
        reference: row.try_get("reference")?,
        ack_requested: row.try_get::<i64, _>("ack_requested")? != 0,
        created_at: row.try_get("created_at")?,
        job: row.try_get("job")?,
        job_state: row.try_get("job_state")?,
        job_state_at: row.try_get("job_state_at")?,
        file: row.try_get("file")?,
    })
}

fn recipient(row: &sqlx::any::AnyRow) -> Result<ApiRecipient, StoreError> {
    Ok(ApiRecipient {
        message_id: row.try_get("message_id")?,
        driver: row.try_get("driver")?,
        name: row.try_get("name")?,
        portal_event: row.try_get("portal_event")?,
        queued_at: row.try_get("queued_at")?,
        attempts: row.try_get("attempts")?,
        failed_at: row.try_get("failed_at")?,
    })
}

impl Store {
    /// Stores `message` with its text, recipients (driver, name) and audit entries in one
    /// transaction, unless the client used its Idempotency-Key before: then nothing changes and
    /// the earlier message is returned.
    pub async fn api_message_insert(
        &self,
        message: &ApiMessage,
        body: &str,
        recipients: &[(String, String)],
        audit: &[super::AuditRecord],
    ) -> Result<ApiStored, StoreError> {
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO api_message (id, client, idempotency_key, request_hash, reference, \
             body, ack_requested, created_at, job, job_state, job_state_at, file) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (client, idempotency_key) DO NOTHING",
        )
        .bind(&message.id)
        .bind(&message.client)
        .bind(&message.idempotency_key)
        .bind(&message.request_hash)
        .bind(&message.reference)
        .bind(body)
        .bind(i64::from(message.ack_requested))
        .bind(message.created_at)
        .bind(&message.job)
        .bind(&message.job_state)
        .bind(message.job_state_at)
        .bind(&message.file)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let row = sqlx::query(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM api_message WHERE client = $1 AND idempotency_key = $2"
            ))
            .bind(&message.client)
            .bind(&message.idempotency_key)
            .fetch_one(&mut *tx)
            .await?;
            return Ok(ApiStored::Existing(Box::new(self::message(&row)?)));
        }
        for (driver, name) in recipients {
            sqlx::query("INSERT INTO api_recipient (message_id, driver, name) VALUES ($1, $2, $3)")
                .bind(&message.id)
                .bind(driver)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        for record in audit {
            super::audit::append_record(&mut tx, &self.audit_key, message.created_at, record)
                .await?;
        }
        tx.commit().await?;
        Ok(ApiStored::Created)
    }

    /// The message `client` sent with Idempotency-Key `key`, if any.
    pub async fn api_message_by_key(
        &self,
        client: &str,
        key: &str,
    ) -> Result<Option<ApiMessage>, StoreError> {
        sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM api_message WHERE client = $1 AND idempotency_key = $2"
        ))
        .bind(client)
        .bind(key)
        .fetch_optional(&self.db)
        .await?
        .as_ref()
        .map(message)
        .transpose()
    }

    /// The message `id`, whoever sent it.
    pub async fn api_message_any(&self, id: &str) -> Result<Option<ApiMessage>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM api_message WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.db).await?;
        row.as_ref().map(message).transpose()
    }

    /// The message `id` if `client` sent it.
    pub async fn api_message(
        &self,
        client: &str,
        id: &str,
    ) -> Result<Option<(ApiMessage, Vec<ApiRecipient>)>, StoreError> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM api_message WHERE id = $1 AND client = $2"
        ))
        .bind(id)
        .bind(client)
        .fetch_optional(&self.db)
        .await?
        else {
            return Ok(None);
        };
        let recipients = sqlx::query(
            "SELECT message_id, driver, name, portal_event, queued_at, attempts, failed_at \
             FROM api_recipient \
             WHERE message_id = $1 ORDER BY name, driver",
        )
        .bind(id)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(recipient)
        .collect::<Result<_, _>>()?;
        Ok(Some((message(&row)?, recipients)))
    }

    /// Recipients whose copy is not queued yet and due to be tried, oldest message first.
    pub async fn api_pending(&self, limit: i64) -> Result<Vec<ApiPending>, StoreError> {
        sqlx::query(&format!(
            "SELECT {RECIPIENT_COLUMNS_R}, m.client, m.body, m.ack_requested, m.file, m.job \
             FROM api_recipient r JOIN api_message m ON m.id = r.message_id \
             WHERE r.queued_at IS NULL AND r.failed_at IS NULL AND r.next_at <= $2 \
             ORDER BY m.created_at, r.message_id, r.driver LIMIT $1"
        ))
        .bind(limit)
        .bind(now_ms())
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|row| {
            Ok(ApiPending {
                recipient: recipient(row)?,
                client: row.try_get("client")?,
                body: row
                    .try_get::<Option<String>, _>("body")?
                    .unwrap_or_default(),
                ack_requested: row.try_get::<i64, _>("ack_requested")? != 0,
                file: row.try_get("file")?,
                job: row.try_get("job")?,
            })
        })
        .collect()
    }

    /// The message and recipient whose portal copy is `event` to `driver`, if the API sent it.
    pub async fn api_recipient_by_event(
        &self,
        event: &str,
        driver: &str,
    ) -> Result<Option<(ApiMessage, ApiRecipient)>, StoreError> {
        self.api_recipient_where("r.portal_event = $1 AND r.driver = $2", event, driver)
            .await
    }

    /// The messages the API sent `driver` that reached the Gateway between `since_ms` and
    /// `until_ms` and that no message of the driver answered yet, newest first: what a driver's
    /// message written at `until_ms` may answer (one held for their shift, or still on its
    /// way, it cannot).
    pub async fn api_unanswered(
        &self,
        driver: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(ApiMessage, ApiRecipient)>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS_M}, {RECIPIENT_COLUMNS_R} \
             FROM api_recipient r \
             JOIN api_message m ON m.id = r.message_id \
             JOIN threema_outbox o ON o.event_id = r.portal_event AND o.recipient = r.driver \
             AND o.part = 0 AND o.resend = 0 \
             WHERE r.driver = $1 AND r.answered_at IS NULL \
             AND o.sent_at >= $2 AND o.sent_at <= $3 ORDER BY o.sent_at DESC"
        );
        (sqlx::query(&sql).bind(driver).bind(since_ms).bind(until_ms))
            .fetch_all(&self.db)
            .await?
            .iter()
            .map(|row| Ok((message(row)?, recipient(row)?)))
            .collect()
    }

    /// `driver`'s message at `at` answered `messages` (what had reached them by then).
    pub async fn api_answered(
        &self,
        driver: &str,
        messages: &[String],
        at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        for id in messages {
            sqlx::query(
                "UPDATE api_recipient SET answered_at = $1 \
                 WHERE message_id = $2 AND driver = $3 AND answered_at IS NULL",
            )
            .bind(at)
            .bind(id)
            .bind(driver)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn api_recipient_where(
        &self,
        condition: &str,
        a: &str,
        b: &str,
    ) -> Result<Option<(ApiMessage, ApiRecipient)>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS_M}, {RECIPIENT_COLUMNS_R} \
             FROM api_recipient r JOIN api_message m ON m.id = r.message_id \
             WHERE {condition}"
        );
        let row = (sqlx::query(&sql).bind(a).bind(b))
            .fetch_optional(&self.db)
            .await?;
        row.map(|row| Ok((message(&row)?, recipient(&row)?)))
            .transpose()
    }

    /// Moves job `id` to `state` at `at` (the phone's time: whole seconds, in ms), unless it is
    /// there already or a later answer was recorded (receipts can arrive out of order);
    /// whether it moved. An open job takes any answer (it was opened on the bridge's clock).
    pub async fn api_job_set_state(
        &self,
        id: &str,
        state: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let moved = sqlx::query(
            "UPDATE api_message SET job_state = $1, job_state_at = $2 WHERE id = $3 \
             AND job IS NOT NULL AND job_state <> $1 \
             AND (job_state = 'open' OR job_state_at <= $2)",
        )
        .bind(state)
        .bind(at)
        .bind(id)
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(moved > 0)
    }

    /// Jobs whose state changed since `since_ms` (open ones since they were sent), with their
    /// recipient, newest first.
    pub async fn api_jobs_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(ApiMessage, ApiRecipient)>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS_M}, {RECIPIENT_COLUMNS_R} \
             FROM api_message m JOIN api_recipient r ON r.message_id = m.id \
             WHERE m.job IS NOT NULL AND m.job_state_at >= $1 ORDER BY m.job_state_at DESC"
        );
        (sqlx::query(&sql).bind(since_ms))
            .fetch_all(&self.db)
            .await?
            .iter()
            .map(|row| Ok((message(row)?, recipient(row)?)))
            .collect()
    }

    /// Everything the API sent `driver`, oldest first (for their export).
    pub async fn api_messages_to(
        &self,
        driver: &str,
    ) -> Result<Vec<(ApiMessage, ApiRecipient)>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS_M}, {RECIPIENT_COLUMNS_R} \
             FROM api_message m JOIN api_recipient r ON r.message_id = m.id \
             WHERE r.driver = $1 ORDER BY m.created_at"
        );
        (sqlx::query(&sql).bind(driver))
            .fetch_all(&self.db)
            .await?
            .iter()
            .map(|row| Ok((message(row)?, recipient(row)?)))
            .collect()
    }

    /// `driver`'s copy of `message_id` could not be given: tried again from `next_at`, or
    /// (`None`) given up.
    pub async fn api_recipient_retry(
        &self,
        message_id: &str,
        driver: &str,
        next_at: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_recipient SET attempts = attempts + 1, next_at = COALESCE($1, next_at), \
             failed_at = CASE WHEN $1 IS NULL THEN $2 ELSE NULL END \
             WHERE message_id = $3 AND driver = $4",
        )
        .bind(next_at)
        .bind(now_ms())
        .bind(message_id)
        .bind(driver)
        .execute(&self.db)
        .await?;
        if next_at.is_none() {
            (sqlx::query(FORGET_DONE_BODY).bind(message_id))
                .execute(&self.db)
                .await?;
        }
        Ok(())
    }

    /// The portal copy of `driver`'s recipient row was posted as `event`.
    pub async fn api_recipient_posted(
        &self,
        message_id: &str,
        driver: &str,
        event: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_recipient SET portal_event = $1 WHERE message_id = $2 AND driver = $3",
        )
        .bind(event)
        .bind(message_id)
        .bind(driver)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// The copy for `driver` is queued in the outbox; once every recipient's is, the message's
    /// text is forgotten here (the outbox keeps it under `retention.outbox_days`).
    pub async fn api_recipient_queued(
        &self,
        message_id: &str,
        driver: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "UPDATE api_recipient SET queued_at = $1 WHERE message_id = $2 AND driver = $3",
        )
        .bind(now_ms())
        .bind(message_id)
        .bind(driver)
        .execute(&mut *tx)
        .await?;
        sqlx::query(FORGET_DONE_BODY)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the API's messages and job cards sent before `before_ms` (they go with the
    /// portals' history), except those to a driver in `held`; counts only when `dry_run`.
    pub async fn api_prune(
        &self,
        before_ms: i64,
        held: &[String],
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, r.driver FROM api_message m \
             LEFT JOIN api_recipient r ON r.message_id = m.id WHERE m.created_at < $1",
        )
        .bind(before_ms)
        .fetch_all(&self.db)
        .await?;
        let mut old: std::collections::BTreeMap<String, bool> = Default::default();
        for row in rows {
            let id: String = row.try_get("id")?;
            let driver: Option<String> = row.try_get("driver")?;
            let kept = driver.is_some_and(|d| held.contains(&d));
            *old.entry(id).or_default() |= kept;
        }
        let gone: Vec<String> = (old.into_iter())
            .filter(|(_, kept)| !kept)
            .map(|(id, _)| id)
            .collect();
        if !dry_run {
            for id in &gone {
                let mut tx = self.db.begin().await?;
                for sql in [
                    "DELETE FROM api_recipient WHERE message_id = $1",
                    "DELETE FROM api_message WHERE id = $1",
                ] {
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(gone.len() as u64)
    }
}
