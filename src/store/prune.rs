//! Deleting what the bridge keeps only for a while: handled inbox rows, and state it recorded
//! about rooms it no longer runs.

use sqlx::Row;

use super::{InboxKind, Store, StoreError, now_ms, portals::BRIDGED_ROOMS};

/// Rows deleted per statement: a long delete would hold SQLite's write lock against the
/// workers.
const BATCH: i64 = 1_000;

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub matrix_inbox: u64,
    pub threema_inbox: u64,
    pub room_state: u64,
}

/// What the legal holds in force cover, as the IDs inbox rows carry: kept whatever their age.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeldScope {
    pub rooms: Vec<String>,
    pub drivers: Vec<String>,
    pub users: Vec<String>,
}

impl HeldScope {
    /// Every room, driver and user held.
    pub fn all(&self) -> Vec<String> {
        self.rooms
            .iter()
            .chain(&self.drivers)
            .chain(&self.users)
            .cloned()
            .collect()
    }
}

impl Store {
    /// Deletes inbox rows handled before `before_ms` and the state of rooms the bridge no
    /// longer runs (last written before `before_ms`; `state_key` names the quarantine room).
    ///
    /// Kept: anything not handled yet, messages held for a changed key (they are replayed when
    /// it is accepted), what a legal hold covers (`held`), the Threema inbox's newest row, and
    /// the Matrix inbox's newest timeline event with everything received up to `catch_up_ms`
    /// before it: a catch-up after a restart reads the timeline from there again, and these
    /// rows are how it recognises what it saw.
    pub async fn prune(
        &self,
        before_ms: i64,
        state_key: &str,
        catch_up_ms: i64,
        held: &HeldScope,
    ) -> Result<Pruned, StoreError> {
        // $1 is the cut-off, $2 the batch size; the first of `binds` is $3.
        let kind = InboxKind::Event.as_str();
        let mut binds = vec![kind];
        let rooms = not_in("room_id", &held.rooms, &mut binds)
            .map(|c| format!("AND {c}"))
            .unwrap_or_default();
        let users = not_in("sender", &held.users, &mut binds)
            .map(|c| format!("AND (sender IS NULL OR {c})"))
            .unwrap_or_default();
        // Without any timeline event, nothing to keep for a catch-up: the cut-off alone counts.
        let matrix_inbox = self
            .in_batches(
                &format!(
                    "DELETE FROM matrix_inbox WHERE seq IN (SELECT seq FROM matrix_inbox \
                     WHERE processed_at < $1 AND received_at < (SELECT COALESCE(MAX(received_at), \
                     $1 + {catch_up_ms}) FROM matrix_inbox WHERE kind = $3) - {catch_up_ms} \
                     {rooms} {users} LIMIT $2)"
                ),
                before_ms,
                &binds,
            )
            .await?;
        let mut binds = Vec::new();
        let drivers = not_in("sender", &held.drivers, &mut binds)
            .map(|c| format!("AND {c}"))
            .unwrap_or_default();
        let threema_inbox = self
            .in_batches(
                &format!(
                    "DELETE FROM threema_inbox WHERE seq IN (SELECT seq FROM threema_inbox \
                     WHERE processed_at < $1 AND held_at IS NULL {drivers} \
                     AND seq < (SELECT MAX(seq) FROM threema_inbox) LIMIT $2)"
                ),
                before_ms,
                &binds,
            )
            .await?;
        let mut binds = vec![state_key];
        let bridged = BRIDGED_ROOMS.replace("$1", "$3");
        let held_rooms = not_in("room_id", &held.rooms, &mut binds)
            .map(|c| format!("AND {c}"))
            .unwrap_or_default();
        let room_state = self
            .in_batches(
                &format!(
                    "DELETE FROM room_state WHERE (room_id, kind, key) IN (SELECT room_id, kind, key \
                     FROM room_state WHERE room_id <> '' AND updated_at < $1 \
                     AND room_id NOT IN ({bridged}) {held_rooms} LIMIT $2)"
                ),
                before_ms,
                &binds,
            )
            .await?;
        Ok(Pruned {
            matrix_inbox,
            threema_inbox,
            room_state,
        })
    }

    /// Clears the payload (the dispatcher's text, kept for 🔁 resends) of sends handled before
    /// `before_ms`, except what a hold covers; with `dry_run` only counts them. Such a send can
    /// no longer be resent.
    pub async fn outbox_expire_payloads(
        &self,
        before_ms: i64,
        held: &HeldScope,
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        self.outbox_expire("payload = ''", "payload <> ''", before_ms, held, dry_run)
            .await
    }

    /// Forgets when the driver received, read and answered sends handled before `before_ms`,
    /// except what a hold covers; with `dry_run` only counts them. That it happened stays (the
    /// time becomes 0), so counts and boards still add up.
    pub async fn outbox_expire_times(
        &self,
        before_ms: i64,
        held: &HeldScope,
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        self.outbox_expire(
            "sent_at = CASE WHEN sent_at IS NULL THEN NULL ELSE 0 END, \
             received_at = CASE WHEN received_at IS NULL THEN NULL ELSE 0 END, \
             read_at = CASE WHEN read_at IS NULL THEN NULL ELSE 0 END, \
             reaction_at = CASE WHEN reaction_at IS NULL THEN NULL ELSE 0 END",
            "(sent_at > 0 OR received_at > 0 OR read_at > 0 OR reaction_at > 0)",
            before_ms,
            held,
            dry_run,
        )
        .await
    }

    /// `UPDATE threema_outbox SET {set}` on the rows handled before `before_ms` for which
    /// `unexpired` holds, outside the holds, in batches; or counts them.
    async fn outbox_expire(
        &self,
        set: &str,
        unexpired: &str,
        before_ms: i64,
        held: &HeldScope,
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        let mut binds = Vec::new();
        let mut conditions = String::new();
        for (column, values) in [("room_id", &held.rooms), ("recipient", &held.drivers)] {
            if let Some(c) = not_in(column, values, &mut binds) {
                conditions += &format!(" AND {c}");
            }
        }
        let expired =
            format!("FROM threema_outbox WHERE processed_at < $1 AND {unexpired} {conditions}");
        let apply =
            format!("UPDATE threema_outbox SET {set} WHERE seq IN (SELECT seq {expired} LIMIT $2)");
        self.count_or_apply(&expired, &apply, before_ms, &binds, dry_run)
            .await
    }

    /// Runs `apply` (a statement on `$1` the cut-off, `$2` the batch size, then `binds`) in
    /// batches, or with `dry_run` counts the rows of `from` (`FROM … WHERE …`) it would touch.
    async fn count_or_apply(
        &self,
        from: &str,
        apply: &str,
        before_ms: i64,
        binds: &[&str],
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        if !dry_run {
            return self.in_batches(apply, before_ms, binds).await;
        }
        // $2 is unused here but keeps the numbering of `binds`.
        let sql = format!("SELECT COUNT(*) AS n {from} AND $2 > 0");
        let mut query = sqlx::query(&sql).bind(before_ms).bind(BATCH);
        for value in binds {
            query = query.bind(*value);
        }
        let n: i64 = query.fetch_one(&self.db).await?.try_get("n")?;
        Ok(n as u64)
    }

    async fn in_batches(
        &self,
        sql: &str,
        before_ms: i64,
        binds: &[&str],
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let mut query = sqlx::query(sql).bind(before_ms).bind(BATCH);
            for value in binds {
                query = query.bind(*value);
            }
            let n = query.execute(&self.db).await?.rows_affected();
            deleted += n;
            if n < BATCH as u64 {
                return Ok(deleted);
            }
        }
    }
}

/// `column NOT IN ($n, …)` for `values` (`None` for none), their placeholders numbered on from
/// `binds` (the query's first two parameters come before them).
fn not_in<'a>(column: &str, values: &'a [String], binds: &mut Vec<&'a str>) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let placeholders: Vec<String> = values
        .iter()
        .map(|value| {
            binds.push(value);
            format!("${}", binds.len() + 2)
        })
        .collect();
    Some(format!("{column} NOT IN ({})", placeholders.join(", ")))
}

/// The cut-off for rows kept `keep` long.
pub fn cutoff(keep: std::time::Duration) -> i64 {
    now_ms().saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
}
