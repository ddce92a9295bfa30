//! Erasing a dispatcher: their access and their own rows go; what they wrote to drivers stays
//! (the drivers' and the company's record) under a fixed pseudonym.

use ruma::OwnedRoomId;
use serde_json::json;

use super::{Erased, Eraser, Report, bridge};
use crate::{
    bridge::lifecycle::{LifecycleError, Refused, Subject, holds},
    ids,
    store::DispatcherTarget,
};

impl Eraser<'_> {
    /// A dispatcher: their access and their own rows go, and what they wrote to drivers stays
    /// (the drivers' and the company's record) under a fixed pseudonym instead of their ID and
    /// name. Nothing is redacted on the homeserver.
    pub(super) async fn erase_dispatcher(
        &self,
        subject: &Subject,
        actor: &str,
        dry_run: bool,
    ) -> Result<Erased, LifecycleError> {
        let Some(user) = subject.user.clone() else {
            return Err(LifecycleError::Input(Refused::NothingToErase(
                subject.clone(),
            )));
        };
        let scope = holds::scope(self.store, self.domain).await?;
        let held_employee = subject.employee_id.as_ref().is_some_and(|id| {
            scope.users.iter().any(|u| u == id) || scope.drivers.iter().any(|d| d == id)
        });
        if scope.users.iter().any(|u| u == user.as_str()) || held_employee {
            return Ok(Erased::Held(self.store.holds(false).await?));
        }
        let mut names = Vec::new();
        if let Some(id) = &subject.employee_id
            && let Some(stored) = self.store.employee_by_id(id).await?
        {
            names.push(stored.employee.record.display_name);
        }
        let rooms: Vec<OwnedRoomId> = (self.store.rooms_of_member(&user).await?)
            .into_iter()
            .filter_map(|room| OwnedRoomId::try_from(room).ok())
            .collect();
        let management: Vec<OwnedRoomId> = self
            .store
            .management_rooms()
            .await?
            .into_iter()
            .filter(|(_, owner)| owner == user.as_str())
            .filter_map(|(room, _)| OwnedRoomId::try_from(room).ok())
            .collect();
        // The names the relay template signed their messages with, as the rooms show them.
        for room in rooms.iter().chain(&management) {
            if let Some(name) = self
                .matrix
                .member_display_name(room, &user)
                .await
                .map_err(bridge)?
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
        let hash = self.hasher.hash_text(user.as_str());
        let tag = format!("erased-{}", &hash[..12]);
        let target = DispatcherTarget {
            user: user.to_string(),
            employee_id: subject.employee_id.clone(),
            names,
            pseudonym: format!("@{tag}:{}", self.domain),
            pseudonym_name: tag,
        };
        let mut report = Report::default();
        if dry_run {
            report
                .homeserver
                .insert("rooms left".into(), json!(rooms.len() + management.len()));
            report.rows = self.store.erase_dispatcher(&target, true).await?;
            return Ok(Erased::WouldErase(report));
        }
        let tombstone = self.store.erasure_start(&hash, actor).await?;
        let mut steps = self.store.erasure_steps(tombstone).await?;
        // The rooms first: the rows below are how they are found, and a run cut off after
        // them still has to take the dispatcher out.
        if steps.get("rooms").is_none() {
            let rooms = json!({"kick": rooms, "leave": management});
            self.done(tombstone, &mut steps, "rooms", rooms).await?;
        }
        if steps.get("bridge rows").is_none() {
            let rows = self.store.erase_dispatcher(&target, false).await?;
            let total = rows.values().sum::<u64>();
            report.rows = rows;
            self.done(tombstone, &mut steps, "bridge rows", json!(total))
                .await?;
        }
        if steps.get("rooms left").is_none() {
            let listed = |key: &str| -> Vec<OwnedRoomId> {
                steps["rooms"][key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| OwnedRoomId::try_from(r.as_str()?).ok())
                    .collect()
            };
            let (kick, leave) = (listed("kick"), listed("leave"));
            for room in &kick {
                self.matrix
                    .kick(room, &user, "erased (GDPR Art. 17)")
                    .await
                    .map_err(bridge)?;
            }
            let bot = ids::bot_user_id(self.domain);
            for room in &leave {
                match self.matrix.leave(room, &bot, "erased (GDPR Art. 17)").await {
                    Ok(()) => {}
                    // Left already, in an earlier run.
                    Err(e) if e.errcode() == Some("M_FORBIDDEN") => {}
                    Err(e) => return Err(bridge(e)),
                }
            }
            let left = json!(kick.len() + leave.len());
            self.done(tombstone, &mut steps, "rooms left", left).await?;
        }
        report
            .homeserver
            .insert("rooms left".into(), steps["rooms left"].clone());
        let what = format!(
            "a dispatcher: {} bridge row(s); what they wrote to drivers kept as {}",
            steps["bridge rows"], target.pseudonym
        );
        self.finish(tombstone, &hash, actor, &what).await?;
        Ok(Erased::Done { tombstone, report })
    }
}
