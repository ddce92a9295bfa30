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
        selection::{self, Candidate, Exclusion, Expr, Selected},
    },
    texts::Texts,
    threema::ThreemaId,
    tr,
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
fn preview(
    texts: &Texts,
    selection: &str,
    selected: &Selected,
    cost: i64,
    balance: Option<i64>,
) -> String {
    let n = selected.recipients.len();
    let mut text = tr!(texts, "select-head", selection = selection, count = n);
    if !selected.excluded.is_empty() {
        text.push('\n');
        text.push_str(&tr!(
            texts,
            "select-left-out",
            count = selected.excluded.len()
        ));
        // Drivers outside the dispatcher's scope are counted, not named.
        let (hidden, named): (Vec<_>, Vec<_>) = selected
            .excluded
            .iter()
            .partition(|(_, why)| *why == Exclusion::OutOfScope);
        for (label, why) in named.iter().take(30) {
            text.push_str(&format!("\n• {label} {}", exclusion(texts, *why)));
        }
        if named.len() > 30 {
            text.push_str("\n• ");
            text.push_str(&tr!(texts, "select-more", count = named.len() - 30));
        }
        if !hidden.is_empty() {
            text.push_str("\n• ");
            text.push_str(&tr!(texts, "select-out-of-scope", count = hidden.len()));
        }
    }
    let balance = match balance {
        Some(b) => tr!(texts, "broadcast-balance", balance = b),
        None => tr!(texts, "select-balance-unknown"),
    };
    text.push('\n');
    text.push_str(&tr!(texts, "select-cost", cost = cost, balance = balance));
    text
}

/// Why a selected driver gets nothing, in the desk's language.
fn exclusion(texts: &Texts, why: Exclusion) -> String {
    match why {
        Exclusion::Left => tr!(texts, "select-why-left"),
        Exclusion::NoThreemaId => tr!(texts, "select-why-no-id"),
        Exclusion::OutOfScope => tr!(texts, "select-why-out-of-scope"),
        Exclusion::Unknown => tr!(texts, "select-why-unknown"),
    }
}

/// Whether the balance covers `cost` (an unknown balance does not stop anything).
pub(super) fn affordable(cost: i64, balance: Option<i64>) -> bool {
    balance.is_none_or(|b| b >= cost)
}

/// Whose reach a selection is limited to.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// A dispatcher: the directory's scope attributes.
    Dispatcher(&'a UserId),
    /// An integration API client: its `scope` selection (`None`: every driver).
    Client(Option<&'a Expr>),
}

impl Broadcasts {
    /// The drivers `text` selects for `dispatcher`, or why the selection is not understood.
    pub async fn select_drivers(
        &self,
        text: &str,
        dispatcher: &UserId,
    ) -> Result<Result<Selected, String>, BridgeError> {
        Ok(match self.parse_selection(text).await? {
            Ok(expr) => Ok(self.select(&expr, Viewer::Dispatcher(dispatcher)).await?),
            Err(e) => Err(e),
        })
    }

    /// `text` as a selection, its saved lists resolved, or why it is not understood.
    pub async fn parse_selection(&self, text: &str) -> Result<Result<Expr, String>, BridgeError> {
        let lists = self.store.broadcast_lists().await?;
        Ok(selection::parse(text).and_then(|e| selection::resolve(e, &lists)))
    }

    /// The drivers `expr` selects among those `viewer` may reach, and who is left out.
    pub async fn select(&self, expr: &Expr, viewer: Viewer<'_>) -> Result<Selected, BridgeError> {
        let stored = self.store.employees().await?;
        let today = self.zone.today();
        let settings = &self.plan;
        let directory: Vec<_> = stored.iter().map(|s| s.employee.clone()).collect();
        let dispatchers = plan::dispatchers(&directory, today);
        let own = match viewer {
            Viewer::Dispatcher(user) => dispatchers.get(user).map(|(record, _)| *record),
            Viewer::Client(_) => None,
        };
        let unscoped = own.is_none_or(|d| {
            settings
                .scope_attributes
                .iter()
                .all(|a| d.attribute(a).is_none())
        });
        // A client's scope is a selection of its own: whom it matches, the client may reach.
        let visible = |c: &Candidate, by_dispatcher: bool| match viewer {
            Viewer::Dispatcher(_) => by_dispatcher,
            Viewer::Client(scope) => scope.is_none_or(|s| s.matches(c, settings)),
        };
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
            let mut candidate = Candidate {
                id,
                name,
                record: Some(record),
                active: s.employee.is_active_on(today),
                visible: false,
            };
            candidate.visible = visible(&candidate, may_see(own, record, settings));
            candidates.push(candidate);
        }
        for known in &self.drivers {
            let mut candidate = Candidate {
                id: Some(known.id.clone()),
                name: known.name.clone().unwrap_or_else(|| known.id.to_string()),
                record: None,
                active: true,
                visible: false,
            };
            candidate.visible = visible(&candidate, unscoped);
            candidates.push(candidate);
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
            let mut candidate = Candidate {
                active: !self.access.is_former_driver(&id),
                id: Some(id),
                name,
                record: None,
                visible: false,
            };
            candidate.visible = visible(&candidate, unscoped);
            candidates.push(candidate);
        }
        Ok(selection::select(expr, &candidates, settings))
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
            Err(e) => return Ok(self.not_understood(text, &e.to_string())),
        };
        let cost = selected.recipients.len() as i64;
        let balance = self.credits.refresh().await;
        let mut answer = preview(&self.texts, text, &selected, cost, balance);
        answer.push('\n');
        if selected.recipients.is_empty() {
            answer.push_str(&tr!(self.texts, "select-nobody"));
            return Ok(answer);
        }
        if !affordable(cost, balance) {
            answer.push_str(&tr!(self.texts, "select-no-credits"));
            return Ok(answer);
        }
        let room_id = self
            .create_room(text, live, &selected, sender, command_event)
            .await?;
        let link = format!("https://matrix.to/#/{room_id}");
        answer.push_str(&match live {
            true => tr!(self.texts, "select-room-live", link = link),
            false => tr!(self.texts, "select-room-frozen", link = link),
        });
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
                let balance = self.credits.refresh().await;
                let mut answer = preview(&self.texts, text, &selected, cost, balance);
                let names: Vec<String> = selected
                    .recipients
                    .iter()
                    .take(50)
                    .map(|(id, name)| format!("• {name} ({id})"))
                    .collect();
                if !names.is_empty() {
                    answer.push('\n');
                    answer.push_str(&tr!(
                        self.texts,
                        "select-recipients",
                        list = names.join("\n")
                    ));
                }
                if selected.recipients.len() > 50 {
                    answer.push_str("\n• ");
                    let more = selected.recipients.len() - 50;
                    answer.push_str(&tr!(self.texts, "select-more", count = more));
                }
                answer
            }
            Err(e) => self.not_understood(text, &e.to_string()),
        })
    }

    /// `save-list <name> <selection>`: a named selection (`list:<name>`).
    pub(in crate::bridge) async fn save_list_command(
        &self,
        args: &str,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        let Some((name, text)) = args.trim().split_once(char::is_whitespace) else {
            return Ok(tr!(self.texts, "select-save-usage"));
        };
        let name = name.to_lowercase();
        let mut lists = self.store.broadcast_lists().await?;
        lists.insert(name.clone(), text.trim().to_owned());
        if let Err(e) = selection::parse(text).and_then(|e| selection::resolve(e, &lists)) {
            return Ok(self.not_understood(text, &e.to_string()));
        }
        if !self
            .store
            .broadcast_list_save(&name, text.trim(), sender.as_str())
            .await?
        {
            return Ok(tr!(self.texts, "select-list-theirs", name = name.as_str()));
        }
        let count = match self.select_drivers(text, sender).await? {
            Ok(selected) => selected.recipients.len(),
            Err(_) => 0,
        };
        Ok(tr!(
            self.texts,
            "select-list-saved",
            name = name.as_str(),
            selection = text.trim(),
            count = count
        ))
    }

    fn not_understood(&self, selection: &str, error: &str) -> String {
        tr!(
            self.texts,
            "select-not-understood",
            selection = selection,
            error = error
        )
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
        let text = preview(&Texts::default(), "depot=North", &selected, 1, Some(0));
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
            encrypted: None,
            mimetype: "image/png".into(),
            file_name: None,
            caption: None,
            thumbnail_mxc: Some("mxc://x/t".into()),
            thumbnail_encrypted: None,
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
