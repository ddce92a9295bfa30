//! `legal_hold`: what must be neither erased nor pruned, and since when, by whom, why.

use std::fmt;

use ruma::{OwnedRoomId, OwnedUserId};
use sqlx::{Row, any::AnyRow};
use threema_protocol::ThreemaId;

use super::{Store, StoreError, audit, now_ms};

/// What a hold covers: one person (however the directory knows them) or one room.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HoldTarget {
    /// An employee in the directory: their portal, ghost and records, whatever their IDs.
    Employee(String),
    /// A driver known only by their Threema ID.
    Driver(ThreemaId),
    /// A Matrix account without a directory record (a dispatcher named in the config).
    User(OwnedUserId),
    Room(OwnedRoomId),
}

impl HoldTarget {
    fn kind(&self) -> &'static str {
        match self {
            HoldTarget::Employee(_) => "employee",
            HoldTarget::Driver(_) => "driver",
            HoldTarget::User(_) => "user",
            HoldTarget::Room(_) => "room",
        }
    }

    /// The employee ID, Threema ID, user ID or room ID.
    pub fn id(&self) -> &str {
        match self {
            HoldTarget::Employee(id) => id,
            HoldTarget::Driver(id) => id.as_str(),
            HoldTarget::User(id) => id.as_str(),
            HoldTarget::Room(id) => id.as_str(),
        }
    }

    fn parse(kind: &str, id: &str) -> Option<HoldTarget> {
        Some(match kind {
            "employee" => HoldTarget::Employee(id.to_owned()),
            "driver" => HoldTarget::Driver(ThreemaId::parse(id)?),
            "user" => HoldTarget::User(OwnedUserId::try_from(id).ok()?),
            "room" => HoldTarget::Room(OwnedRoomId::try_from(id).ok()?),
            _ => return None,
        })
    }
}

impl fmt::Display for HoldTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.id())
    }
}

/// A hold, in force or released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: i64,
    pub target: HoldTarget,
    pub reason: String,
    pub case_ref: Option<String>,
    pub set_by: String,
    pub set_at: i64,
    /// Who released it, and when (`None`: in force).
    pub released: Option<(String, i64)>,
}

const HOLD_COLUMNS: &str =
    "id, kind, target, reason, case_ref, set_by, set_at, released_by, released_at";

impl Hold {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        let kind: String = row.try_get("kind")?;
        let target: String = row.try_get("target")?;
        let released_by: Option<String> = row.try_get("released_by")?;
        let released_at: Option<i64> = row.try_get("released_at")?;
        Ok(Hold {
            id: row.try_get("id")?,
            target: HoldTarget::parse(&kind, &target)
                .ok_or_else(|| StoreError::corrupt("legal_hold", "target"))?,
            reason: row.try_get("reason")?,
            case_ref: row.try_get("case_ref")?,
            set_by: row.try_get("set_by")?,
            set_at: row.try_get("set_at")?,
            released: released_by.zip(released_at),
        })
    }
}

impl Store {
    /// Puts `target` under a hold, audited as `actor`'s doing in the same transaction. `None`
    /// if one is in force already (that one stays as it is).
    pub async fn hold_set(
        &self,
        target: &HoldTarget,
        reason: &str,
        case_ref: Option<&str>,
        actor: &str,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let row = sqlx::query(
            "INSERT INTO legal_hold (kind, target, reason, case_ref, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (kind, target) WHERE released_at IS NULL DO NOTHING RETURNING id",
        )
        .bind(target.kind())
        .bind(target.id())
        .bind(reason)
        .bind(case_ref)
        .bind(actor)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.try_get("id")?;
        let case = case_ref.map(|c| format!(", case {c}")).unwrap_or_default();
        let details = format!("hold {id}{case}: {reason}");
        audit::append(
            &mut tx,
            &self.audit_key,
            now,
            actor,
            "hold.set",
            target.id(),
            &details,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Releases the hold in force on `target`, audited; `false` if there was none.
    pub async fn hold_release(&self, target: &HoldTarget, actor: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let row = sqlx::query(
            "UPDATE legal_hold SET released_by = $1, released_at = $2 \
             WHERE kind = $3 AND target = $4 AND released_at IS NULL RETURNING id",
        )
        .bind(actor)
        .bind(now)
        .bind(target.kind())
        .bind(target.id())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let id: i64 = row.try_get("id")?;
        audit::append(
            &mut tx,
            &self.audit_key,
            now,
            actor,
            "hold.released",
            target.id(),
            &format!("hold {id}"),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The holds in force, or all of them (`released` too), oldest first.
    pub async fn holds(&self, released: bool) -> Result<Vec<Hold>, StoreError> {
        let filter = if released {
            ""
        } else {
            "WHERE released_at IS NULL"
        };
        sqlx::query(&format!(
            "SELECT {HOLD_COLUMNS} FROM legal_hold {filter} ORDER BY id"
        ))
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(Hold::from_row)
        .collect()
    }
}
