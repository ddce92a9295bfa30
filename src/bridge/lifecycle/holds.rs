//! Legal holds (GDPR Art. 17(3)(e), Art. 18; §35(3) BDSG): set, release and list them, and
//! what the holds in force cover, in the IDs the pruning and erasure compare with.

use std::fmt;

use ruma::ServerName;

use super::{LifecycleError, Refused, resolve_target};
use crate::{
    directory::Role,
    ids,
    store::{HeldScope, Hold, HoldTarget, Store, StoreError},
    texts::Texts,
    tr,
};

/// What `hold set` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldSet {
    Set {
        id: i64,
        target: HoldTarget,
    },
    /// A hold was in force already; it stays as it was.
    AlreadyHeld(HoldTarget),
}

impl HoldSet {
    pub fn said(&self, texts: &Texts) -> String {
        match self {
            HoldSet::Set { id, target } => tr!(
                texts,
                "hold-set",
                id = *id,
                target = texts.hold_target(target)
            ),
            HoldSet::AlreadyHeld(target) => {
                tr!(texts, "hold-already", target = texts.hold_target(target))
            }
        }
    }
}

impl fmt::Display for HoldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.said(Texts::english()))
    }
}

/// Puts what `text` names (a person or a room) under a hold, as `actor`.
pub async fn set(
    store: &Store,
    domain: &ServerName,
    text: &str,
    reason: &str,
    case_ref: Option<&str>,
    actor: &str,
) -> Result<HoldSet, LifecycleError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(LifecycleError::Input(Refused::HoldWithoutReason));
    }
    let case_ref = case_ref.map(str::trim).filter(|c| !c.is_empty());
    let target = resolve_target(store, domain, text).await?;
    Ok(
        match store.hold_set(&target, reason, case_ref, actor).await? {
            Some(id) => HoldSet::Set { id, target },
            None => HoldSet::AlreadyHeld(target),
        },
    )
}

/// Releases the hold on what `text` names; `Err(Input)` if none is in force.
pub async fn release(
    store: &Store,
    domain: &ServerName,
    text: &str,
    actor: &str,
) -> Result<HoldTarget, LifecycleError> {
    let target = resolve_target(store, domain, text).await?;
    if store.hold_release(&target, actor).await? {
        Ok(target)
    } else {
        Err(LifecycleError::Input(Refused::NoHoldOn(target)))
    }
}

/// What `hold release` says it did.
pub fn released(texts: &Texts, target: &HoldTarget) -> String {
    tr!(texts, "hold-released", target = texts.hold_target(target))
}

/// One line per hold, for the CLI and the management room.
pub fn describe(texts: &Texts, hold: &Hold) -> String {
    let time = crate::bridge::status::time;
    let case = (hold.case_ref.as_deref())
        .map(|case| tr!(texts, "hold-case", case = case))
        .unwrap_or_default();
    let released = match &hold.released {
        Some((by, at)) => tr!(texts, "hold-released-at", at = time(*at), by = by.as_str()),
        None => String::new(),
    };
    tr!(
        texts,
        "hold-line",
        id = hold.id,
        target = texts.hold_target(&hold.target),
        at = time(hold.set_at),
        by = hold.set_by.as_str(),
        case = case,
        reason = hold.reason.as_str(),
        released = released
    )
}

/// What the holds in force cover now: a person's hold follows their current IDs in the
/// directory (a changed Threema ID too), and a driver's covers their portal.
pub async fn scope(store: &Store, domain: &ServerName) -> Result<HeldScope, StoreError> {
    let holds = store.holds(false).await?;
    let mut scope = HeldScope::default();
    if holds.is_empty() {
        return Ok(scope);
    }
    let employees = store.employees().await?;
    for hold in holds {
        match hold.target {
            HoldTarget::Employee(id) => {
                let Some(stored) = employees
                    .iter()
                    .find(|e| e.employee.record.employee_id == id)
                else {
                    continue;
                };
                let record = &stored.employee.record;
                if record.role == Role::Driver
                    && let Some(driver) = record.threema_id.clone().or_else(|| stored.looked_up())
                {
                    scope.drivers.push(driver.to_string());
                }
                if let Some(user) = &record.matrix_id {
                    scope.users.push(user.to_string());
                }
            }
            HoldTarget::Driver(driver) => scope.drivers.push(driver.to_string()),
            HoldTarget::User(user) => match ids::parse_ghost_user_id(&user, domain) {
                Some(driver) => scope.drivers.push(driver.to_string()),
                None => scope.users.push(user.to_string()),
            },
            HoldTarget::Room(room) => scope.rooms.push(room.to_string()),
        }
    }
    for driver in &scope.drivers {
        if let Some(portal) = store.portal_by_threema_id(driver).await? {
            scope.rooms.push(portal.room_id.to_string());
        }
        // The driver's own ghost sends in their portal (reactions, receipts).
        if let Some(id) = threema_protocol::ThreemaId::parse(driver) {
            scope
                .users
                .push(ids::ghost_user_id(&id, domain).to_string());
        }
    }
    scope.rooms.sort();
    scope.rooms.dedup();
    scope.users.sort();
    scope.users.dedup();
    scope.drivers.sort();
    scope.drivers.dedup();
    Ok(scope)
}

/// A hold command in the management room: `hold set <who or room> --reason <text>
/// [--case <ref>]`, `hold release <who or room>`, `hold list [all]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldRequest {
    Set {
        target: String,
        reason: String,
        case_ref: Option<String>,
    },
    Release(String),
    List {
        all: bool,
    },
    /// Not one of these: the answer says how.
    Usage,
}

impl HoldRequest {
    /// Parses what follows `hold`.
    pub fn parse(args: &str) -> HoldRequest {
        let (verb, rest) = args
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((args.trim(), ""));
        let rest = rest.trim();
        match verb.to_lowercase().as_str() {
            "list" | "" => HoldRequest::List {
                all: rest.eq_ignore_ascii_case("all"),
            },
            "release" if !rest.is_empty() && !rest.contains("--") => {
                HoldRequest::Release(rest.to_owned())
            }
            "set" => {
                let (target, flags) = rest.split_once("--").unwrap_or((rest, ""));
                let mut reason = None;
                let mut case_ref = None;
                for flag in format!("--{flags}").split("--").skip(1) {
                    let (name, value) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
                    let value = value.trim().to_owned();
                    match name {
                        "reason" => reason = Some(value),
                        "case" => case_ref = Some(value),
                        _ => return HoldRequest::Usage,
                    }
                }
                match (target.trim(), reason) {
                    ("", _) | (_, None) => HoldRequest::Usage,
                    (target, Some(reason)) => HoldRequest::Set {
                        target: target.to_owned(),
                        reason,
                        case_ref,
                    },
                }
            }
            _ => HoldRequest::Usage,
        }
    }
}

/// Carries out `request` as `actor` and says what happened (a bad request is told, not an
/// error).
pub async fn answer(
    store: &Store,
    texts: &Texts,
    domain: &ServerName,
    request: HoldRequest,
    actor: &str,
) -> Result<String, StoreError> {
    let result = match request {
        HoldRequest::Set {
            target,
            reason,
            case_ref,
        } => set(store, domain, &target, &reason, case_ref.as_deref(), actor)
            .await
            .map(|set| set.said(texts)),
        HoldRequest::Release(target) => release(store, domain, &target, actor)
            .await
            .map(|target| released(texts, &target)),
        HoldRequest::List { all } => {
            let holds = store.holds(all).await?;
            Ok(if holds.is_empty() {
                tr!(texts, "hold-none")
            } else {
                let lines = holds.iter().map(|h| describe(texts, h));
                lines.collect::<Vec<_>>().join("\n")
            })
        }
        HoldRequest::Usage => Ok(tr!(texts, "hold-usage")),
    };
    match result {
        Ok(answer) => Ok(answer),
        Err(LifecycleError::Store(e)) => Err(e),
        // Input (what the admin typed names nobody); holds never ask the homeserver.
        Err(e) => Ok(e.said(texts)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_commands_parse_with_their_flags_in_any_order() {
        assert_eq!(
            HoldRequest::parse("set E1001 --reason dispute over a delivery --case C-17"),
            HoldRequest::Set {
                target: "E1001".into(),
                reason: "dispute over a delivery".into(),
                case_ref: Some("C-17".into()),
            }
        );
        assert_eq!(
            HoldRequest::parse("set !room:x --case C-1 --reason works council"),
            HoldRequest::Set {
                target: "!room:x".into(),
                reason: "works council".into(),
                case_ref: Some("C-1".into()),
            }
        );
        assert_eq!(
            HoldRequest::parse("release ABCD1234"),
            HoldRequest::Release("ABCD1234".into())
        );
        assert_eq!(HoldRequest::parse(""), HoldRequest::List { all: false });
        assert_eq!(
            HoldRequest::parse("list all"),
            HoldRequest::List { all: true }
        );
        for bad in [
            "set E1001",
            "set --reason x",
            "set E1001 --reason x --until friday",
            "release",
            "drop E1001",
        ] {
            assert_eq!(HoldRequest::parse(bad), HoldRequest::Usage, "{bad}");
        }
    }
}
