//! The management room's selection commands (`select`, `broadcast`, `save-list`): which drivers
//! a selection reaches, its preview and what it costs, and opening a broadcast room for it.

use std::collections::HashMap;

use bridge_convert::plan::Outgoing;
use ruma::{EventId, UserId};

use super::Broadcasts;
use crate::{
    bridge::BridgeError,
    directory::{
        Role,
        plan::{self, may_see},
        selection::{self, Candidate, Exclusion, Selected},
    },
    threema::ThreemaId,
};

/// Credits a broadcast of `items` to `recipients` costs: every message to every recipient, and
/// each blob of a file once (shared by all).
pub(super) fn credits(items: &[Outgoing], recipients: usize) -> i64 {
    let blobs: i64 = items
        .iter()
        .map(|item| match item {
            Outgoing::File(file) => 1 + i64::from(file.thumbnail_mxc.is_some()),
            _ => 0,
        })
        .sum();
    items.len() as i64 * recipients as i64 + blobs
}

/// The preview of a selection: who gets it, who is left out and why, what it costs.
fn preview(selection: &str, selected: &Selected, cost: i64, balance: Option<i64>) -> String {
    let n = selected.recipients.len();
    let mut text = format!("📢 {selection}: {n} recipient(s)");
    if !selected.excluded.is_empty() {
        text.push_str(&format!("\nLeft out ({}):", selected.excluded.len()));
        // Drivers outside the dispatcher's scope are counted, not named.
        let (hidden, named): (Vec<_>, Vec<_>) = selected
            .excluded
            .iter()
            .partition(|(_, why)| *why == Exclusion::OutOfScope);
        for (label, why) in named.iter().take(30) {
            text.push_str(&format!("\n• {label} {}", why.reason()));
        }
        if named.len() > 30 {
            text.push_str(&format!("\n• and {} more", named.len() - 30));
        }
        if !hidden.is_empty() {
            text.push_str(&format!(
                "\n• {} driver(s) outside your scope",
                hidden.len()
            ));
        }
    }
    let balance = match balance {
        Some(b) => format!("balance {b}"),
        None => "balance not known (the Gateway did not answer)".into(),
    };
    text.push_str(&format!(
        "\nCost: {cost} credit(s) per text message (a file costs more); {balance}."
    ));
    text
}

/// Whether the balance covers `cost` (an unknown balance does not stop anything).
pub(super) fn affordable(cost: i64, balance: Option<i64>) -> bool {
    balance.is_none_or(|b| b >= cost)
}

impl Broadcasts {
    /// The drivers `text` selects for `dispatcher`, or why the selection is not understood.
    pub async fn select_drivers(
        &self,
        text: &str,
        dispatcher: &UserId,
    ) -> Result<Result<Selected, String>, BridgeError> {
        let lists = self.store.broadcast_lists().await?;
        let expr = match selection::parse(text).and_then(|e| selection::resolve(e, &lists)) {
            Ok(expr) => expr,
            Err(e) => return Ok(Err(e)),
        };
        let stored = self.store.employees().await?;
        let today = self.zone.today();
        let settings = &self.plan;
        let directory: Vec<_> = stored.iter().map(|s| s.employee.clone()).collect();
        let dispatchers = plan::dispatchers(&directory, today);
        let own = dispatchers.get(dispatcher).map(|(record, _)| *record);
        let unscoped = own.is_none_or(|d| {
            settings
                .scope_attributes
                .iter()
                .all(|a| d.attribute(a).is_none())
        });
        let mut candidates: Vec<Candidate> = Vec::new();
        // Active records first: an ID's first candidate wins.
        let mut drivers: Vec<_> = stored
            .iter()
            .filter(|s| s.employee.record.role == Role::Driver)
            .collect();
        drivers.sort_by_key(|s| !s.employee.is_active_on(today));
        for s in drivers {
            let record = &s.employee.record;
            let id = record.threema_id.clone().or_else(|| s.looked_up());
            let name = match &id {
                Some(id) => plan::render_name(&settings.ghost_name_template, id, record),
                None => record.display_name.clone(),
            };
            candidates.push(Candidate {
                id,
                name,
                record: Some(record),
                active: s.employee.is_active_on(today),
                visible: may_see(own, record, settings),
            });
        }
        for known in &self.drivers {
            candidates.push(Candidate {
                id: Some(known.id.clone()),
                name: known.name.clone().unwrap_or_else(|| known.id.to_string()),
                record: None,
                active: true,
                visible: unscoped,
            });
        }
        let ghosts: HashMap<ThreemaId, Option<String>> = self
            .store
            .ghosts()
            .await?
            .into_iter()
            .map(|g| (g.threema_id, g.display_name))
            .collect();
        for portal in self.store.portals().await? {
            let id = portal.threema_id;
            let name = ghosts
                .get(&id)
                .cloned()
                .flatten()
                .unwrap_or_else(|| id.to_string());
            candidates.push(Candidate {
                active: !self.access.is_former_driver(&id),
                id: Some(id),
                name,
                record: None,
                visible: unscoped,
            });
        }
        Ok(Ok(selection::select(&expr, &candidates, settings)))
    }

    /// `broadcast [live] <selection>`: the preview and, if the credits cover a message to
    /// everyone, a new broadcast room with the dispatcher invited.
    pub(in crate::bridge) async fn broadcast_command(
        &self,
        args: &str,
        sender: &UserId,
        command_event: &EventId,
    ) -> Result<String, BridgeError> {
        let (live, text) = match args.split_once(char::is_whitespace) {
            Some((word, rest)) if word.eq_ignore_ascii_case("live") => (true, rest.trim()),
            _ => (false, args.trim()),
        };
        let selected = match self.select_drivers(text, sender).await? {
            Ok(selected) => selected,
            Err(e) => return Ok(format!("The selection {text:?} is not understood: {e}.")),
        };
        let cost = selected.recipients.len() as i64;
        let balance = self.credits.refresh().await;
        let mut answer = preview(text, &selected, cost, balance);
        if selected.recipients.is_empty() {
            answer.push_str("\nNobody to write to: no broadcast room was opened.");
            return Ok(answer);
        }
        if !affordable(cost, balance) {
            answer.push_str(
                "\n⚠️ Not enough credits for one message to everyone: the broadcast was not \
                 started and no room was opened. Top up the Gateway account first.",
            );
            return Ok(answer);
        }
        let room_id = self
            .create_room(text, live, &selected, sender, command_event)
            .await?;
        let mode = if live {
            "live: the selection is evaluated again for every message"
        } else {
            "frozen: these recipients, until you send !refresh there"
        };
        answer.push_str(&format!(
            "\nBroadcast room ({mode}): https://matrix.to/#/{room_id} — you are invited."
        ));
        Ok(answer)
    }

    /// `select <selection>`: the preview alone.
    pub(in crate::bridge) async fn select_command(
        &self,
        text: &str,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        Ok(match self.select_drivers(text, sender).await? {
            Ok(selected) => {
                let cost = selected.recipients.len() as i64;
                let mut answer = preview(text, &selected, cost, self.credits.refresh().await);
                let names: Vec<String> = selected
                    .recipients
                    .iter()
                    .take(50)
                    .map(|(id, name)| format!("• {name} ({id})"))
                    .collect();
                if !names.is_empty() {
                    answer.push_str(&format!("\nRecipients:\n{}", names.join("\n")));
                }
                if selected.recipients.len() > 50 {
                    answer.push_str(&format!("\n• and {} more", selected.recipients.len() - 50));
                }
                answer
            }
            Err(e) => format!("The selection {text:?} is not understood: {e}."),
        })
    }

    /// `save-list <name> <selection>`: a named selection (`list:<name>`).
    pub(in crate::bridge) async fn save_list_command(
        &self,
        args: &str,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        let Some((name, text)) = args.trim().split_once(char::is_whitespace) else {
            return Ok("Usage: save-list <name> <selection>".into());
        };
        let name = name.to_lowercase();
        let mut lists = self.store.broadcast_lists().await?;
        lists.insert(name.clone(), text.trim().to_owned());
        if let Err(e) = selection::parse(text).and_then(|e| selection::resolve(e, &lists)) {
            return Ok(format!("The selection {text:?} is not understood: {e}."));
        }
        if !self
            .store
            .broadcast_list_save(&name, text.trim(), sender.as_str())
            .await?
        {
            return Ok(format!(
                "list:{name} is a colleague's list and stays as they saved it. Save yours \
                 under another name."
            ));
        }
        let count = match self.select_drivers(text, sender).await? {
            Ok(selected) => selected.recipients.len(),
            Err(_) => 0,
        };
        Ok(format!(
            "Saved list:{name} = {} ({count} recipient(s) now). Use it as broadcast list:{name}.",
            text.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threema::ThreemaId;

    #[test]
    fn the_preview_says_who_gets_it_who_not_and_what_it_costs() {
        let selected = Selected {
            recipients: vec![(ThreemaId::parse("AAAA0001").unwrap(), "Kim".into())],
            excluded: vec![
                ("Max (AAAA0002)".into(), Exclusion::Left),
                ("Secret (AAAA0003)".into(), Exclusion::OutOfScope),
            ],
        };
        let text = preview("depot=North", &selected, 1, Some(0));
        assert!(text.contains("depot=North: 1 recipient(s)"), "{text}");
        assert!(
            text.contains("Max (AAAA0002) has left the company"),
            "{text}"
        );
        assert!(
            text.contains("Cost: 1 credit(s) per text message"),
            "{text}"
        );
        assert!(text.contains("balance 0"), "{text}");
        assert!(!affordable(1, Some(0)));
        assert!(affordable(1, None));
    }

    #[test]
    fn a_file_costs_its_blobs_once() {
        let file = Outgoing::File(bridge_convert::plan::FileToSend {
            mxc: "mxc://x/y".into(),
            mimetype: "image/png".into(),
            file_name: None,
            caption: None,
            thumbnail_mxc: Some("mxc://x/t".into()),
            thumbnail_mimetype: None,
            media: true,
            width_height: None,
            duration_s: None,
            shared: true,
        });
        let text = Outgoing::Text {
            text: "x".into(),
            reply_to: None,
        };
        assert_eq!(credits(std::slice::from_ref(&text), 250), 250);
        assert_eq!(credits(&[file, text], 250), 500 + 2);
    }
}
