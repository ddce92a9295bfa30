//! The audit trail in the database: appends that keep one chain across processes, reads that
//! open what is still readable, the walk `audit verify` makes, pruning of a prefix, and the
//! shredding of a person's keys.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{Store, StoreError, now_ms};
use crate::audit::{
    AuditKey, Break, ChainStart, Hash, PersonKey, SealedEntry, Verified,
    chain::{Walker, link},
};

/// The action of the entry that records a pruned prefix and the new start.
const PRUNED: &str = "audit.pruned";

/// What stands where a value can no longer be opened: its person was erased.
pub const UNREADABLE: &str = "[erased]";

/// An entry as read back: values opened where the person's key still exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
}

/// An entry written together with another change, in its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
}

/// The chain's recorded end and start (the `audit_head` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub head: Hash,
    pub start: ChainStart,
}

/// The outcome of walking the chain: verified, with the heads after the entries asked for, or
/// the first break.
#[derive(Debug)]
pub struct Walked {
    pub result: Result<Verified, Break>,
    pub start: ChainStart,
    pub heads: BTreeMap<i64, Hash>,
}

const SEALED_COLUMNS: &str = "seq, at, action, actor_ref, actor, subject_ref, subject, details";

/// Appends one entry on `conn` (inside the caller's transaction when it has one): the first
/// statement bumps the head row, which waits for any other writer's transaction to end, so
/// entries from every process form one chain. It also reads the actor's and the subject's
/// pseudonyms and keys, and the insert's trigger records the new head, so that an entry about
/// people seen before takes two statements. On PostgreSQL those reads see the statement's
/// snapshot: a key another writer committed after it was taken is found through the insert's
/// conflict, and a key that an erasure deletes (uncommitted, or committed while this
/// statement waited) still seals this entry, which is then as unreadable as the person's
/// others (an erasure at the same time counts as after it).
pub(super) async fn append(
    conn: &mut AnyConnection,
    key: &AuditKey,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) -> Result<i64, StoreError> {
    let (actor_ref, subject_ref) = (key.reference(actor), key.reference(subject));
    let row = sqlx::query(
        "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, head, \
         (SELECT pseudonym FROM audit_key WHERE person_ref = $1) AS actor_pseudonym, \
         (SELECT sealing_key FROM audit_key WHERE person_ref = $1) AS actor_key, \
         (SELECT pseudonym FROM audit_key WHERE person_ref = $2) AS subject_pseudonym, \
         (SELECT sealing_key FROM audit_key WHERE person_ref = $2) AS subject_key",
    )
    .bind(&actor_ref)
    .bind(&subject_ref)
    .fetch_one(&mut *conn)
    .await?;
    let seq: i64 = row.try_get("seq")?;
    let previous = hash_column(&row, "head")?;
    let (actor_ref, actor_key) = match on_file(&row, "actor")? {
        Some(person) => person,
        None => person(conn, &actor_ref).await?,
    };
    let (subject_ref, subject_key) = match on_file(&row, "subject")? {
        Some(person) => person,
        None => person(conn, &subject_ref).await?,
    };
    let entry = SealedEntry {
        seq,
        at,
        action: action.to_owned(),
        actor: actor_key.seal(actor),
        actor_ref,
        subject: subject_key.seal(subject),
        details: subject_key.seal(details),
        subject_ref,
    };
    let leaf = entry.leaf();
    let head = link(previous, leaf);
    sqlx::query(&format!(
        "INSERT INTO audit ({SEALED_COLUMNS}, leaf, head) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(entry.seq)
    .bind(entry.at)
    .bind(&entry.action)
    .bind(&entry.actor_ref)
    .bind(&entry.actor)
    .bind(&entry.subject_ref)
    .bind(&entry.subject)
    .bind(&entry.details)
    .bind(leaf.hex())
    .bind(head.hex())
    .execute(&mut *conn)
    .await?;
    // The head row takes the new head from the insert's trigger (`audit_head_follows`).
    Ok(seq)
}

/// The pseudonym and key of the entry's `role` (`actor`, `subject`) as the head's bump read
/// them, if that person has them already.
fn on_file(row: &AnyRow, role: &str) -> Result<Option<(String, PersonKey)>, StoreError> {
    let pseudonym: Option<String> = row.try_get(format!("{role}_pseudonym").as_str())?;
    let key: Option<String> = row.try_get(format!("{role}_key").as_str())?;
    let (Some(pseudonym), Some(key)) = (pseudonym, key) else {
        return Ok(None);
    };
    Ok(Some((pseudonym, sealing_key(&key)?)))
}

/// [`append`] of a record built elsewhere (written with the change it records).
pub(super) async fn append_record(
    conn: &mut AnyConnection,
    key: &AuditKey,
    at: i64,
    record: &AuditRecord,
) -> Result<i64, StoreError> {
    let AuditRecord {
        actor,
        action,
        subject,
        details,
    } = record;
    append(conn, key, at, actor, action, subject, details).await
}

/// The pseudonym entries about `person_ref` carry and the key sealing their values, made the
/// first time they are needed (the head's bump found none). The pseudonym is random, not
/// derived from the ID: once the row is deleted, nothing leads from the ID to the entries.
async fn person(
    conn: &mut AnyConnection,
    person_ref: &str,
) -> Result<(String, PersonKey), StoreError> {
    let (pseudonym, key) = (
        hex::encode(rand::random::<[u8; 16]>()),
        PersonKey::generate(),
    );
    let made = sqlx::query(
        "INSERT INTO audit_key (person_ref, pseudonym, sealing_key) VALUES ($1, $2, $3) \
         ON CONFLICT (person_ref) DO NOTHING",
    )
    .bind(person_ref)
    .bind(&pseudonym)
    .bind(key.hex())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if made == 1 {
        return Ok((pseudonym, key));
    }
    // Made meanwhile: by the line before (the subject is the actor), or on PostgreSQL by a
    // writer that committed after the bump's snapshot.
    let (pseudonym, key): (String, String) =
        sqlx::query_as("SELECT pseudonym, sealing_key FROM audit_key WHERE person_ref = $1")
            .bind(person_ref)
            .fetch_one(&mut *conn)
            .await?;
    Ok((pseudonym, sealing_key(&key)?))
}

/// A stored `sealing_key`, parsed (one that does not parse is corrupt).
fn sealing_key(hex: &str) -> Result<PersonKey, StoreError> {
    PersonKey::parse(hex).ok_or(StoreError::corrupt("audit_key", "sealing_key"))
}

/// The entries' pseudonym of the identifier bound as `$n`.
fn pseudonym_of(n: usize) -> String {
    format!("(SELECT pseudonym FROM audit_key WHERE person_ref = ${n})")
}

fn hash_column(row: &AnyRow, column: &'static str) -> Result<Hash, StoreError> {
    Hash::parse(&row.try_get::<String, _>(column)?).ok_or(StoreError::corrupt("audit_head", column))
}

fn sealed(row: &AnyRow) -> Result<SealedEntry, StoreError> {
    Ok(SealedEntry {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        action: row.try_get("action")?,
        actor_ref: row.try_get("actor_ref")?,
        actor: row.try_get("actor")?,
        subject_ref: row.try_get("subject_ref")?,
        subject: row.try_get("subject")?,
        details: row.try_get("details")?,
    })
}

/// A row of the readable query (sealed columns and both keys) with its values opened.
fn opened(row: AnyRow) -> Result<AuditEntry, StoreError> {
    let entry = sealed(&row)?;
    let open = |key: Option<String>, value: &str| {
        key.and_then(|k| PersonKey::parse(&k))
            .and_then(|k| k.open(value))
            .unwrap_or_else(|| UNREADABLE.to_owned())
    };
    let actor_key: Option<String> = row.try_get("actor_key")?;
    let subject_key: Option<String> = row.try_get("subject_key")?;
    Ok(AuditEntry {
        seq: entry.seq,
        at: entry.at,
        actor: open(actor_key, &entry.actor),
        action: entry.action,
        subject: open(subject_key.clone(), &entry.subject),
        details: open(subject_key, &entry.details),
    })
}

/// The entries with both keys joined (absent once erased); `{where}` filters, `{order}` sorts.
fn readable(filter: &str, order: &str) -> String {
    format!(
        "SELECT a.seq, a.at, a.action, a.actor_ref, a.actor, a.subject_ref, a.subject, a.details, \
         ka.sealing_key AS actor_key, ks.sealing_key AS subject_key FROM audit a \
         LEFT JOIN audit_key ka ON ka.pseudonym = a.actor_ref \
         LEFT JOIN audit_key ks ON ks.pseudonym = a.subject_ref {filter} ORDER BY a.seq {order}"
    )
}

impl Store {
    /// The key of the trail's keyed hashes (message bodies are hashed with it too).
    pub fn audit_key(&self) -> &AuditKey {
        &self.audit_key
    }

    /// Appends one entry in a transaction of its own.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        details: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        append(
            &mut tx,
            &self.audit_key,
            now_ms(),
            actor,
            action,
            subject,
            details,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest entries, optionally only those about `subject`, newest first.
    pub async fn audit_recent(
        &self,
        subject: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_show(subject, 0, limit).await
    }

    /// Entries at or after `since_ms`, about `subject` (as subject or actor) when given, newest
    /// first, at most `limit`.
    pub async fn audit_show(
        &self,
        subject: Option<&str>,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let about = readable(
            &format!(
                "WHERE {} IN (a.subject_ref, a.actor_ref) AND a.at >= $2",
                pseudonym_of(1)
            ),
            "DESC LIMIT $3",
        );
        let all = readable("WHERE a.at >= $1", "DESC LIMIT $2");
        let rows = match subject {
            Some(subject) => sqlx::query(&about).bind(self.audit_key.reference(subject)),
            None => sqlx::query(&all),
        }
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(opened).collect()
    }

    /// Entries about any of `keys` (as subject) or by any of them (as actor), oldest first.
    pub async fn audit_about(&self, keys: &[String]) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = Vec::new();
        for key in keys {
            let rows = sqlx::query(&readable(
                &format!("WHERE {} IN (a.subject_ref, a.actor_ref)", pseudonym_of(1)),
                "",
            ))
            .bind(self.audit_key.reference(key))
            .fetch_all(&self.db)
            .await?;
            for row in rows {
                entries.push(opened(row)?);
            }
        }
        entries.sort_by_key(|e| e.seq);
        entries.dedup_by_key(|e| e.seq);
        Ok(entries)
    }

    pub async fn audit_head(&self) -> Result<ChainHead, StoreError> {
        let row =
            sqlx::query("SELECT seq, head, first_seq, start_head FROM audit_head WHERE id = 1")
                .fetch_one(&self.db)
                .await?;
        Ok(ChainHead {
            seq: row.try_get("seq")?,
            head: hash_column(&row, "head")?,
            start: ChainStart {
                first_seq: row.try_get("first_seq")?,
                previous: hash_column(&row, "start_head")?,
            },
        })
    }

    /// Walks the whole chain from its recorded start to its recorded end, reading entries as a
    /// stream; keeps the heads after the entries in `wanted` (the checkpoints' sequence
    /// numbers). The head row is read first and entries after it ignored, so appends while it
    /// runs do not count as a mismatch.
    pub async fn audit_walk(&self, wanted: &BTreeSet<i64>) -> Result<Walked, StoreError> {
        let walked = self.audit_walk_once(wanted).await?;
        // A retention run that cut the start meanwhile looks like a gap: walk again.
        if walked.result.is_err() && self.audit_head().await?.start != walked.start {
            return self.audit_walk_once(wanted).await;
        }
        Ok(walked)
    }

    async fn audit_walk_once(&self, wanted: &BTreeSet<i64>) -> Result<Walked, StoreError> {
        let recorded = self.audit_head().await?;
        let mut walker = Walker::new(recorded.start);
        let mut heads = BTreeMap::new();
        let sql =
            format!("SELECT {SEALED_COLUMNS}, leaf, head FROM audit WHERE seq <= $1 ORDER BY seq");
        let mut rows = sqlx::query(&sql).bind(recorded.seq).fetch(&self.db);
        let mut broken = None;
        while let Some(row) = rows.try_next().await? {
            let entry = sealed(&row)?;
            let leaf: String = row.try_get("leaf")?;
            let head: String = row.try_get("head")?;
            match walker.step(&entry, &leaf, &head) {
                Ok(head) => {
                    if wanted.contains(&entry.seq) {
                        heads.insert(entry.seq, head);
                    }
                }
                Err(e) => {
                    broken = Some(e);
                    break;
                }
            }
        }
        drop(rows);
        let result = match broken {
            Some(e) => Err(e),
            None => match walker.finish(recorded.seq, recorded.head) {
                Ok(verified) => self.audit_ends(recorded.start, verified).await?,
                Err(e) => Err(e),
            },
        };
        Ok(Walked {
            result,
            start: recorded.start,
            heads,
        })
    }

    /// What a walk cannot see: a start moved without a pruning entry that states it, and
    /// rows past the recorded end (the head row is read again: appends meanwhile are fine).
    async fn audit_ends(
        &self,
        start: ChainStart,
        verified: Verified,
    ) -> Result<Result<Verified, Break>, StoreError> {
        if start != ChainStart::GENESIS {
            let sql = readable("WHERE a.action = $1", "DESC LIMIT 1");
            let row = sqlx::query(&sql)
                .bind(PRUNED)
                .fetch_optional(&self.db)
                .await?;
            let stated = row.map(opened).transpose()?;
            let record = start.record();
            let expected = format!("{record} (mac {})", self.audit_key.start_mac(&record));
            if !stated.is_some_and(|e| e.details.ends_with(&expected)) {
                return Ok(Err(Break::UnrecordedStart {
                    first_seq: start.first_seq,
                }));
            }
        }
        // Rows first, the head row after: a row and the head that counts it commit together,
        // so one appended meanwhile is within the head read second.
        let beyond: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM audit WHERE seq > $1")
            .bind(verified.last_seq)
            .fetch_one(&self.db)
            .await?;
        let end = self.audit_head().await?.seq;
        Ok(match beyond {
            Some(seq) if seq > end => Err(Break::Beyond { seq }),
            _ => Ok(verified),
        })
    }

    /// Deletes the oldest entries, all from before `before_ms`, up to (not including) the
    /// first entry that is newer or about one of `kept` (what a hold in force covers, and the
    /// holds' own targets), and records the new start; with `dry_run` only counts. A prefix
    /// only: the rest of the chain still verifies from the recorded start.
    pub async fn audit_prune(
        &self,
        before_ms: i64,
        kept: &[String],
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin().await?;
        // Taking the head row first keeps appends out until this ends.
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let holds: Vec<String> =
            sqlx::query_scalar("SELECT target FROM legal_hold WHERE released_at IS NULL")
                .fetch_all(&mut *tx)
                .await?;
        let mut refs: Vec<String> = kept
            .iter()
            .chain(&holds)
            .map(|k| self.audit_key.reference(k))
            .collect();
        refs.sort();
        refs.dedup();
        let placeholders: Vec<String> = (0..refs.len()).map(|i| format!("${}", i + 2)).collect();
        let held = if refs.is_empty() {
            String::new()
        } else {
            let list = placeholders.join(", ");
            let pseudonyms =
                format!("SELECT pseudonym FROM audit_key WHERE person_ref IN ({list})");
            format!(" OR subject_ref IN ({pseudonyms}) OR actor_ref IN ({pseudonyms})")
        };
        let sql = format!("SELECT MIN(seq) FROM audit WHERE at >= $1{held}");
        let mut first_kept = sqlx::query_scalar::<_, Option<i64>>(&sql).bind(before_ms);
        for r in &refs {
            first_kept = first_kept.bind(r);
        }
        let first_kept = first_kept.fetch_one(&mut *tx).await?;
        let recorded: (i64, i64) =
            sqlx::query_as("SELECT seq, first_seq FROM audit_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        let (last, first) = recorded;
        let cut = first_kept.unwrap_or(last + 1);
        let n = (cut - first).max(0) as u64;
        if n == 0 || dry_run {
            tx.rollback().await?;
            return Ok(n);
        }
        let start_head: String = sqlx::query_scalar("SELECT head FROM audit WHERE seq = $1")
            .bind(cut - 1)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM audit WHERE seq < $1")
            .bind(cut)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE audit_head SET first_seq = $1, start_head = $2 WHERE id = 1")
            .bind(cut)
            .bind(&start_head)
            .execute(&mut *tx)
            .await?;
        // The new start, in the chain itself: a start moved by hand has no such entry.
        let start = ChainStart {
            first_seq: cut,
            previous: Hash::parse(&start_head).ok_or(StoreError::corrupt("audit", "head"))?,
        };
        let record = start.record();
        let details = format!(
            "entries {first} to {} deleted; {record} (mac {})",
            cut - 1,
            self.audit_key.start_mac(&record)
        );
        append(
            &mut tx,
            &self.audit_key,
            now_ms(),
            "retention",
            PRUNED,
            "audit",
            &details,
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Moves the entries written before the chain existed into it, oldest first, once.
    pub(super) async fn audit_seal_legacy(&self) -> Result<(), StoreError> {
        // Without a write at every start: looked at first, moved (under the lock) only if any.
        let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_legacy")
            .fetch_one(&self.db)
            .await?;
        if waiting == 0 {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        // Writers first: two processes starting at once do not both move the same rows.
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT id, at, actor, action, subject, details FROM audit_legacy ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            append(
                &mut tx,
                &self.audit_key,
                row.try_get("at")?,
                &row.try_get::<String, _>("actor")?,
                &row.try_get::<String, _>("action")?,
                &row.try_get::<String, _>("subject")?,
                &row.try_get::<String, _>("details")?,
            )
            .await?;
        }
        sqlx::query("DELETE FROM audit_legacy")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Deletes the pseudonyms and keys of `identifiers` (crypto-shredding): their entries stay in
/// the chain and can no longer be found by the ID nor opened; with `dry_run` only counts.
pub(super) async fn shred(
    tx: &mut AnyConnection,
    key: &AuditKey,
    identifiers: &[&str],
    dry_run: bool,
) -> Result<u64, StoreError> {
    let mut n = 0;
    for identifier in identifiers {
        let person_ref = key.reference(identifier);
        n += if dry_run {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_key WHERE person_ref = $1")
                .bind(&person_ref)
                .fetch_one(&mut *tx)
                .await? as u64
        } else {
            sqlx::query("DELETE FROM audit_key WHERE person_ref = $1")
                .bind(&person_ref)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        };
    }
    Ok(n)
}
