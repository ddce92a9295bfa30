//! Erasing a driver from the bridge's own tables (GDPR Art. 17), the `erasure` tombstones and
//! the `erased_id` hashes that keep an erased ID from getting a ghost again by itself.

use std::collections::BTreeMap;

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, audit, now_ms};

/// What the store says of a driver before one of their messages is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Their data was erased: whatever they send now comes from a stranger.
    Erased,
    /// Their processing is restricted (GDPR Art. 18): kept, not shown.
    Restricted,
    /// Neither.
    Bridged,
}

/// What the store has on the sender of a message: their standing and the public key it
/// trusts for them (hex; `None`: never looked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnFile {
    pub standing: Standing,
    pub public_key: Option<String>,
}

/// Everything the bridge's tables may hold about one driver, as the rows name it.
#[derive(Debug, Clone)]
pub struct ErasureTarget {
    pub threema_id: String,
    /// Their ghost's user ID.
    pub ghost: String,
    /// Their portal, if they have one.
    pub room: Option<String>,
    /// Their directory record's key, if the directory knows them.
    pub employee_id: Option<String>,
    /// Names they went by (directory, Threema nickname): taken out of texts that mention them.
    pub names: Vec<String>,
}

/// A dispatcher as the bridge's rows name them, and the fixed pseudonym that replaces them.
#[derive(Debug, Clone)]
pub struct DispatcherTarget {
    pub user: String,
    pub employee_id: Option<String>,
    /// Names they went by: replaced in texts, with `pseudonym_name`.
    pub names: Vec<String>,
    /// A Matrix ID (`@erased-…:domain`), so rows that name a sender still parse.
    pub pseudonym: String,
    pub pseudonym_name: String,
}

/// Per table, how many rows went (or would go) and how many texts were cleaned of the person.
pub type ErasedRows = BTreeMap<&'static str, u64>;

/// What replaces the person in texts that are kept (boards, selections).
const ERASED: &str = "[erased]";

impl Store {
    /// Deletes every row about `who` in one transaction, and takes their ID and names out of the
    /// texts of rows about others; with `dry_run` only counts. Running it again finds nothing.
    pub async fn erase_driver(
        &self,
        who: &ErasureTarget,
        dry_run: bool,
    ) -> Result<ErasedRows, StoreError> {
        let mut tx = self.db.begin().await?;
        let keys = [
            Some(who.threema_id.as_str()),
            Some(who.ghost.as_str()),
            who.employee_id.as_deref(),
        ];
        let answered = close_requests(&mut tx, &keys, dry_run).await?;
        let rebuilt = rebuild_boards(&mut tx, &who.threema_id, dry_run).await?;
        // A desk board that named the driver is redacted: each is looked at again (and one
        // found redacted posted anew).
        if !dry_run {
            sqlx::query(
                "DELETE FROM bridge_state WHERE key LIKE 'desk\\_board\\_hash:%' ESCAPE '\\'",
            )
            .execute(&mut *tx)
            .await?;
        }
        let mut rows = delete_rows(&mut tx, who, dry_run).await?;
        if rebuilt > 0 {
            rows.insert("broadcast (boards rebuilt)", rebuilt);
        }
        if answered > 0 {
            rows.insert("gdpr_request", answered);
        }
        for (table, n) in clean_mentions(&mut tx, who, dry_run).await? {
            *rows.entry(table).or_default() += n;
        }
        let identifiers = [
            Some(who.threema_id.as_str()),
            who.room.as_deref(),
            Some(who.ghost.as_str()),
            who.employee_id.as_deref(),
        ];
        self.shred_audit_keys(&mut tx, &identifiers, dry_run, &mut rows)
            .await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(rows)
    }

    /// Deletes the dispatcher's own rows (directory record, memberships, management room,
    /// released holds), replaces their ID and names by the pseudonym wherever rows about
    /// others keep them (as sender of what they wrote to drivers, in texts), and deletes their
    /// audit keys; with `dry_run` only counts. Running it again finds nothing.
    pub async fn erase_dispatcher(
        &self,
        who: &DispatcherTarget,
        dry_run: bool,
    ) -> Result<ErasedRows, StoreError> {
        let mut tx = self.db.begin().await?;
        let values = [
            ("{user}", Some(who.user.as_str())),
            ("{employee}", who.employee_id.as_deref()),
        ];
        let mut rows = ErasedRows::new();
        let keys = [Some(who.user.as_str()), who.employee_id.as_deref()];
        let answered = close_requests(&mut tx, &keys, dry_run).await?;
        if answered > 0 {
            rows.insert("gdpr_request", answered);
        }
        for (table, condition) in DISPATCHER_ROWS {
            let (condition, binds) = numbered(condition, &values);
            let sql = if dry_run {
                format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}")
            } else {
                format!("DELETE FROM {table} WHERE {condition}")
            };
            let n = count_or_run(&mut tx, &sql, &binds, dry_run).await?;
            if n > 0 {
                rows.insert(table, n);
            }
        }
        let mut replacements = vec![(who.user.clone(), who.pseudonym.as_str())];
        replacements.extend(
            who.names
                .iter()
                .filter(|n| n.len() >= 3)
                .map(|n| (n.clone(), who.pseudonym_name.as_str())),
        );
        let columns = DISPATCHER_IDS.iter().chain(MENTIONS.iter());
        for (table, n) in replace(&mut tx, columns, &replacements, dry_run).await? {
            *rows.entry(table).or_default() += n;
        }
        self.shred_audit_keys(&mut tx, &keys, dry_run, &mut rows)
            .await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(rows)
    }

    /// Deletes the audit keys of `identifiers`: the person's entries stay in the chain (it
    /// still verifies) and can no longer be opened.
    async fn shred_audit_keys(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        identifiers: &[Option<&str>],
        dry_run: bool,
        rows: &mut ErasedRows,
    ) -> Result<(), StoreError> {
        let identifiers: Vec<&str> = identifiers.iter().flatten().copied().collect();
        let n = audit::shred(tx, &self.audit_key, &identifiers, dry_run).await?;
        if n > 0 {
            rows.insert("audit_key", n);
        }
        Ok(())
    }

    /// The boards (room, event) of the broadcasts that reached `threema_id`.
    pub async fn boards_of_recipient(
        &self,
        threema_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query(
            "SELECT room_id, board_event FROM broadcast WHERE board_event IS NOT NULL \
             AND event_id IN (SELECT event_id FROM broadcast_delivery WHERE recipient = $1)",
        )
        .bind(threema_id)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get("room_id")?, row.try_get("board_event")?)))
        .collect()
    }

    /// Starts (or finds, when an earlier run was cut off) the erasure of `subject_hash`.
    pub async fn erasure_start(&self, subject_hash: &str, actor: &str) -> Result<i64, StoreError> {
        sqlx::query(
            "INSERT INTO erasure (subject_hash, requested_by, started_at, steps) \
             VALUES ($1, $2, $3, '{}') \
             ON CONFLICT (subject_hash) WHERE finished_at IS NULL DO NOTHING",
        )
        .bind(subject_hash)
        .bind(actor)
        .bind(now_ms())
        .execute(&self.db)
        .await?;
        let row =
            sqlx::query("SELECT id FROM erasure WHERE subject_hash = $1 AND finished_at IS NULL")
                .bind(subject_hash)
                .fetch_one(&self.db)
                .await?;
        Ok(row.try_get("id")?)
    }

    /// The steps an erasure has done so far (JSON object: step → what it did).
    pub async fn erasure_steps(&self, id: i64) -> Result<serde_json::Value, StoreError> {
        let row = sqlx::query("SELECT steps FROM erasure WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db)
            .await?;
        let steps: String = row.try_get("steps")?;
        serde_json::from_str(&steps).map_err(|_| StoreError::corrupt("erasure", "steps"))
    }

    /// Records that `step` is done, with what it did.
    pub async fn erasure_step_done(
        &self,
        id: i64,
        step: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut steps = self.erasure_steps(id).await?;
        steps[step] = details;
        sqlx::query("UPDATE erasure SET steps = $1 WHERE id = $2")
            .bind(steps.to_string())
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Ends the erasure: the tombstone is complete, and the ID's hash is kept so that a later
    /// message from it opens nothing by itself.
    pub async fn erasure_finish(&self, id: i64, id_hash: &str) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO erased_id (id_hash, erased_at) VALUES ($1, $2) \
             ON CONFLICT (id_hash) DO NOTHING",
        )
        .bind(id_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE erasure SET finished_at = $1 WHERE id = $2 AND finished_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// What a driver's message needs from the store before it is opened, in one statement
    /// (every message asks): whether they were erased (by their ID's hash, see
    /// [`Store::is_erased`]) or are restricted ([`Store::is_restricted`]), and their trusted
    /// public key ([`Store::public_key`]).
    pub async fn driver_on_file(
        &self,
        id_hash: &str,
        threema_id: &str,
    ) -> Result<OnFile, StoreError> {
        let key = (id_hash.to_owned(), threema_id.to_owned());
        let driver_on_file = &self.coalesced.driver_on_file;
        driver_on_file
            .call(self, key, Store::driver_on_file_all)
            .await
    }

    /// [`Store::driver_on_file`] for each of `drivers` (`(id_hash, threema_id)`, the lanes
    /// that ask at the same time), in one statement.
    async fn driver_on_file_all(
        self,
        drivers: Vec<(String, String)>,
    ) -> Result<Vec<Result<OnFile, StoreError>>, StoreError> {
        // A row per driver, numbered as asked (`VALUES` names its columns `column1`... on
        // both databases); the last one repeated up to the padded length.
        let n = super::coalesce::padded(drivers.len());
        let values = super::coalesce::values_list(1, n, &["BIGINT", "TEXT", "TEXT"]);
        let restricted = super::restrictions::restricted("k.column3");
        let sql = format!(
            "SELECT k.column1 AS i, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM erased_id WHERE id_hash = k.column2) \
             THEN 1 ELSE 0 END AS BIGINT) AS erased, \
             {restricted} AS restricted, \
             (SELECT public_key FROM threema_public_key WHERE threema_id = k.column3) \
             AS public_key FROM (VALUES {values}) AS k"
        );
        let mut query = sqlx::query(&sql);
        for (i, (id_hash, threema_id)) in super::coalesce::padded_rows(&drivers) {
            query = query.bind(i as i64).bind(id_hash).bind(threema_id);
        }
        let mut on_file: Vec<Option<Result<OnFile, StoreError>>> =
            drivers.iter().map(|_| None).collect();
        for row in query.fetch_all(&self.db).await? {
            let i: i64 = row.try_get("i")?;
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| on_file.get_mut(i)) {
                *slot = Some(Self::read_on_file(&row));
            }
        }
        let missing = || Err(StoreError::Sqlx(sqlx::Error::RowNotFound));
        Ok(on_file
            .into_iter()
            .map(|read| read.unwrap_or_else(missing))
            .collect())
    }

    fn read_on_file(row: &AnyRow) -> Result<OnFile, StoreError> {
        let erased: i64 = row.try_get("erased")?;
        let restricted: i64 = row.try_get("restricted")?;
        let standing = match (erased, restricted) {
            (1, _) => Standing::Erased,
            (_, 1) => Standing::Restricted,
            _ => Standing::Bridged,
        };
        Ok(OnFile {
            standing,
            public_key: row.try_get("public_key")?,
        })
    }

    /// Was the Threema ID with this keyed hash erased?
    pub async fn is_erased(&self, id_hash: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM erased_id WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_optional(&self.db)
                .await?
                .is_some(),
        )
    }
}

/// The rows about a driver: (table, condition on `{id}` their Threema ID, `{room}` their
/// portal, `{ghost}` their ghost, `{employee}` their directory record).
const ROWS: [(&str, &str); 26] = [
    ("message", "threema_peer = {id} OR room_id = {room}"),
    ("conversation", "threema_id = {id}"),
    ("driver_notice", "threema_id = {id}"),
    ("driver_status", "threema_id = {id}"),
    ("driver_location", "threema_id = {id}"),
    ("schedule", "driver = {id} OR room_id = {room}"),
    ("restriction", "threema_id = {id}"),
    ("threema_inbox", "sender = {id}"),
    ("threema_outbox", "recipient = {id} OR room_id = {room}"),
    ("matrix_inbox", "room_id = {room} OR sender = {ghost}"),
    (
        "poll_vote",
        "threema_peer = {id} OR creator = {id} OR voter = {id}",
    ),
    ("poll", "threema_peer = {id} OR creator = {id}"),
    ("threema_public_key", "threema_id = {id}"),
    ("ghost", "threema_id = {id}"),
    // The ghost's crypto device (end-to-bridge encryption): its keys and the room keys it got.
    ("crypto_value", "account = {ghost}"),
    ("crypto_inbound_group_session", "account = {ghost}"),
    // Its leases' ids start with the ghost's ID and a space (no LIKE: `_` is in ghost IDs).
    (
        "crypto_lease",
        "substr(id, 1, length({ghost}) + 1) = {ghost} || ' '",
    ),
    ("portal", "threema_id = {id}"),
    (
        "room_state",
        "room_id = {room} OR key = {room} OR key = {ghost} OR key = {id} \
         OR (kind = 'employee' AND value = {employee})",
    ),
    ("broadcast_room_recipient", "recipient = {id}"),
    // The integration API's messages and job cards to the driver alone (before their
    // recipient rows, which say so), the driver's rows of the others, the webhook events
    // about them.
    (
        "api_message",
        "id IN (SELECT message_id FROM api_recipient WHERE driver = {id}) AND NOT EXISTS \
         (SELECT 1 FROM api_recipient o WHERE o.message_id = api_message.id AND o.driver <> {id})",
    ),
    ("api_recipient", "driver = {id}"),
    ("webhook_delivery", "payload LIKE '%' || {id} || '%'"),
    ("broadcast_delivery", "recipient = {id}"),
    (
        "employee",
        "employee_id = {employee} OR looked_up_id = {id}",
    ),
    // Released holds (one in force stops the erasure before it gets here).
    (
        "legal_hold",
        "target IN ({id}, {room}, {ghost}, {employee})",
    ),
];

/// A dispatcher's own rows: (table, condition on `{user}` their Matrix ID, `{employee}` their
/// directory record).
const DISPATCHER_ROWS: [(&str, &str); 6] = [
    ("employee", "employee_id = {employee}"),
    // What they scheduled goes with them: nothing more is sent in their name.
    ("schedule", "sender = {user}"),
    ("dispatcher_off_shift", "user_id = {user}"),
    ("room_state", "kind = 'member' AND key = {user}"),
    ("management_room", "user_id = {user}"),
    // Released holds (one in force stops the erasure before it gets here).
    ("legal_hold", "target IN ({user}, {employee})"),
];

/// Columns that name a dispatcher by their Matrix ID, in rows kept for others.
const DISPATCHER_IDS: [(&str, &str); 6] = [
    ("conversation", "owner"),
    ("conversation", "closed_by"),
    ("threema_outbox", "sender"),
    ("broadcast", "sender"),
    ("message", "matrix_sender"),
    ("matrix_inbox", "sender"),
];

/// Texts kept for others that may mention a driver: (table, column).
const MENTIONS: [(&str, &str); 11] = [
    ("conversation", "shown_topic"),
    ("broadcast", "board_text"),
    ("broadcast", "content"),
    ("broadcast", "payload"),
    ("broadcast_room", "selection"),
    ("broadcast_list", "selection"),
    ("threema_outbox", "payload"),
    ("threema_outbox", "error"),
    ("matrix_inbox", "payload"),
    ("matrix_inbox", "outcome"),
    ("threema_inbox", "outcome"),
];

/// Deletes (or counts) the rows about `who`.
async fn delete_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    who: &ErasureTarget,
    dry_run: bool,
) -> Result<ErasedRows, StoreError> {
    // An absent room or record binds NULL, which equals nothing (an empty string would match
    // the rows that belong to no room).
    let values = [
        ("{id}", Some(who.threema_id.as_str())),
        ("{room}", who.room.as_deref()),
        ("{ghost}", Some(who.ghost.as_str())),
        ("{employee}", who.employee_id.as_deref()),
    ];
    let mut rows = ErasedRows::new();
    for (table, condition) in ROWS {
        let (condition, binds) = numbered(condition, &values);
        let sql = if dry_run {
            format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}")
        } else {
            format!("DELETE FROM {table} WHERE {condition}")
        };
        let n = count_or_run(tx, &sql, &binds, dry_run).await?;
        if n > 0 {
            rows.insert(table, n);
        }
    }
    Ok(rows)
}

/// The broadcasts that reached the driver get a new board (the running bridge posts it, counted
/// without them once their delivery rows are gone): their board is forgotten and they are
/// unsettled.
async fn rebuild_boards(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    threema_id: &str,
    dry_run: bool,
) -> Result<u64, StoreError> {
    let which = "event_id IN (SELECT event_id FROM broadcast_delivery WHERE recipient = $1)";
    let sql = if dry_run {
        format!("SELECT COUNT(*) AS n FROM broadcast WHERE {which}")
    } else {
        format!(
            "UPDATE broadcast SET board_event = NULL, board_text = NULL, settled_at = NULL, \
             board_rebuilds = board_rebuilds + 1 WHERE {which}"
        )
    };
    count_or_run(tx, &sql, &[Some(threema_id)], dry_run).await
}

/// The person's requests in the register: closed (an erasure answers its own request and ends
/// any other) and kept without naming them.
async fn close_requests(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    keys: &[Option<&str>],
    dry_run: bool,
) -> Result<u64, StoreError> {
    let mut n = 0;
    // An integer of ours, written into the statement: bound as text it would not be a BIGINT.
    let now = now_ms();
    for key in keys.iter().flatten() {
        let (sql, binds) = if dry_run {
            (
                "SELECT COUNT(*) AS n FROM gdpr_request WHERE subject = $1".to_owned(),
                vec![Some(*key)],
            )
        } else {
            (
                format!(
                    "UPDATE gdpr_request SET subject = $2, done_at = COALESCE(done_at, {now}), \
                     done_by = COALESCE(done_by, 'gdpr erase') WHERE subject = $1"
                ),
                vec![Some(*key), Some(ERASED)],
            )
        };
        n += count_or_run(tx, &sql, &binds, dry_run).await?;
    }
    Ok(n)
}

/// Replaces (or counts) the mentions of `who` in texts kept for others: their ID (as typed,
/// and the ghost's lower-case form) and their names.
async fn clean_mentions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    who: &ErasureTarget,
    dry_run: bool,
) -> Result<ErasedRows, StoreError> {
    let id = who.threema_id.as_str();
    let mut mentions = vec![id.to_owned(), id.to_lowercase()];
    mentions.extend(who.names.iter().filter(|n| n.len() >= 3).cloned());
    let replacements: Vec<(String, &str)> = mentions.into_iter().map(|m| (m, ERASED)).collect();
    replace(tx, MENTIONS.iter(), &replacements, dry_run).await
}

/// Replaces (or counts) each `(from, to)` of `replacements` in each `(table, column)`.
async fn replace<'c>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    columns: impl Iterator<Item = &'c (&'static str, &'static str)>,
    replacements: &[(String, &str)],
    dry_run: bool,
) -> Result<ErasedRows, StoreError> {
    let mut rows = ErasedRows::new();
    for (table, column) in columns {
        let mut n = 0;
        for (from, to) in replacements {
            let pattern = format!("%{}%", like_escaped(from));
            let found = format!("{column} LIKE $1 ESCAPE '\\'");
            let (sql, binds) = if dry_run {
                (
                    format!("SELECT COUNT(*) AS n FROM {table} WHERE {found}"),
                    vec![Some(pattern.as_str())],
                )
            } else {
                (
                    format!(
                        "UPDATE {table} SET {column} = REPLACE({column}, $2, $3) WHERE {found}"
                    ),
                    vec![Some(pattern.as_str()), Some(from.as_str()), Some(*to)],
                )
            };
            n += count_or_run(tx, &sql, &binds, dry_run).await?;
        }
        if n > 0 {
            *rows.entry(*table).or_default() += n;
        }
    }
    Ok(rows)
}

/// `condition` with its `{name}` tokens as `$1`, `$2`, … in order of first use, and the values
/// to bind (PostgreSQL takes exactly as many as the statement uses).
fn numbered<'a>(
    condition: &str,
    values: &[(&str, Option<&'a str>)],
) -> (String, Vec<Option<&'a str>>) {
    let mut condition = condition.to_owned();
    let mut binds = Vec::new();
    loop {
        let next = values
            .iter()
            .filter_map(|(token, value)| condition.find(token).map(|at| (at, *token, *value)))
            .min_by_key(|(at, ..)| *at);
        let Some((_, token, value)) = next else {
            return (condition, binds);
        };
        binds.push(value);
        condition = condition.replace(token, &format!("${}", binds.len()));
    }
}

/// Runs `sql` with `binds`: the count it selects (`dry_run`), or the rows it changed.
async fn count_or_run(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sql: &str,
    binds: &[Option<&str>],
    dry_run: bool,
) -> Result<u64, StoreError> {
    let mut query = sqlx::query(sql);
    for value in binds {
        query = query.bind(*value);
    }
    Ok(if dry_run {
        query.fetch_one(&mut **tx).await?.try_get::<i64, _>("n")? as u64
    } else {
        query.execute(&mut **tx).await?.rows_affected()
    })
}

/// `text` for a LIKE pattern with `\` as the escape character.
pub(super) fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
