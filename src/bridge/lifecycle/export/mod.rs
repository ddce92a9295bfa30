//! `gdpr export` (Art. 15): everything the bridge and the homeserver hold about one person, in
//! one ZIP with a manifest of hashes. The history is read as the bot sees it through the
//! ordinary client API (it is in every portal with shared history), so the export shows what
//! the homeserver has, not what the bridge remembers of it. Gathering is IO; what the files say
//! is built by the pure modules beside this one.

mod archive;
mod art15;
mod pseudonyms;
mod render;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt,
    path::{Path, PathBuf},
};

use ruma::{OwnedRoomId, OwnedUserId, UserId};
use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

use archive::File;
pub use archive::{MANIFEST, Manifest};
use art15::Held;
use pseudonyms::Pseudonyms;
use render::DeliveryLine;

use super::{LifecycleError, Subject, erase::IdHasher, requests, resolve};
use crate::{
    bridge::{BridgeError, status},
    config::Config,
    ids,
    matrix::MatrixClient,
    store::{IncomingMessage, OutboxItem, RequestKind, Store},
    texts::Texts,
    threema::ThreemaId,
    tr,
};

/// Events per timeline page.
const PAGE: u32 = 200;

/// What `gdpr export` did, or would do.
#[derive(Debug)]
pub enum Exported {
    Written {
        path: PathBuf,
        bytes: u64,
        summary: Summary,
    },
    /// `--dry-run`: what the ZIP would hold.
    WouldWrite(Summary),
}

/// Counts and sizes, for the operator and the audit entry (no personal data).
#[derive(Debug, Default)]
pub struct Summary {
    pub held: Held,
    pub media_bytes: u64,
    pub colleagues: usize,
    pub due_on: String,
}

impl Summary {
    /// A line per file of the ZIP, then the pseudonymised colleagues and the due day.
    pub fn said(&self, texts: &Texts) -> String {
        let h = &self.held;
        let profile = match h.has_directory_record {
            true => tr!(texts, "export-summary-profile-record"),
            false => tr!(texts, "export-summary-profile-ids"),
        };
        [
            tr!(texts, "export-summary-messages", count = h.events),
            tr!(
                texts,
                "export-summary-media",
                count = h.media,
                bytes = self.media_bytes
            ),
            tr!(texts, "export-summary-delivery", count = h.delivery_rows),
            tr!(texts, "export-summary-audit", count = h.audit_entries),
            tr!(texts, "export-summary-profile", what = profile),
            tr!(texts, "export-summary-colleagues", count = self.colleagues),
            tr!(texts, "export-summary-due", day = self.due_on.as_str()),
        ]
        .map(|line| format!("  {line}"))
        .join("\n")
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.said(Texts::english()))
    }
}

/// Everything an export reads.
pub struct Exporter<'a> {
    pub store: &'a Store,
    /// A client that retries, as the bot: this runs outside the queues.
    pub matrix: &'a MatrixClient,
    pub config: &'a Config,
}

/// The IDs and names that are the subject's own (never pseudonymised).
struct Own {
    keys: Vec<String>,
    names: Vec<String>,
    ghost: Option<OwnedUserId>,
}

impl Exporter<'_> {
    /// Exports the person `text` names to `output` (default: a file named after the request in
    /// the working directory), or with `dry_run` says what it would hold.
    pub async fn export(
        &self,
        text: &str,
        actor: &str,
        requested_on: Option<Date>,
        output: Option<&Path>,
        dry_run: bool,
    ) -> Result<Exported, LifecycleError> {
        let domain = &self.config.homeserver.domain;
        let subject = resolve(self.store, domain, text).await?;
        let key = subject.hold_target().id().to_owned();
        // The day the request came in: given, else as registered, else today.
        let requested_on = match requested_on {
            Some(day) => day,
            None => requests::received_on(self.store, RequestKind::Export, &key)
                .await?
                .unwrap_or_else(requests::today),
        };
        let own = self.own(&subject).await?;
        let bot = self.config.bot_user_id();

        let mut events = self.history(&subject, own.ghost.as_deref()).await?;
        let recipient = subject.driver.as_ref().map(|d| d.as_str());
        let sender = subject.user.as_ref().map(|u| u.as_str());
        let outgoing = match (recipient, sender) {
            (None, None) => Vec::new(),
            _ => self.store.outbox_of(recipient, sender).await?,
        };
        let incoming = match &subject.driver {
            Some(driver) => self.store.messages_from_driver(driver.as_str()).await?,
            None => Vec::new(),
        };
        let inbox = self.shared_inbox(&subject).await?;
        // The drivers a dispatcher wrote to, or whose conversations they have, are colleagues
        // too, and so are the dispatchers who have a driver's.
        let recipients = (outgoing.iter().map(|row| &row.recipient))
            .chain(inbox.drivers.iter())
            .map(|driver| ids::ghost_user_id(driver, domain).to_string())
            .chain(inbox.dispatchers.iter().cloned());
        let pseudonyms = self.pseudonyms(&own, &events, recipients, &bot).await?;
        let delivery = delivery_lines(&subject, outgoing, incoming, &pseudonyms, domain);
        let (media, media_bytes) = self
            .annotate(&mut events, &delivery, &pseudonyms, dry_run)
            .await?;
        let audit: Vec<Value> = self
            .store
            .audit_about(&own.keys)
            .await?
            .into_iter()
            .map(|e| {
                let mut entry = json!({
                    "at": status::time(e.at), "actor": e.actor, "action": e.action,
                    "subject": e.subject, "details": e.details,
                });
                pseudonyms.apply(&mut entry);
                entry
            })
            .collect();
        let mut profile = self.profile(&subject, &own, &audit).await?;
        if !inbox.held.is_null() {
            profile["shared_inbox"] = inbox.held;
            pseudonyms.apply(&mut profile["shared_inbox"]);
        }
        if let Some(driver) = &subject.driver {
            let sent = self.store.api_messages_to(driver.as_str()).await?;
            if !sent.is_empty() {
                profile["integration_api"] = sent.iter().map(api_message).collect();
            }
        }

        let held = Held {
            events: events.len(),
            media: media.len(),
            delivery_rows: delivery.len(),
            audit_entries: audit.len(),
            has_directory_record: profile["directory"].is_object(),
        };
        let due = requests::due_on(requested_on);
        let summary = Summary {
            held: held.clone(),
            media_bytes,
            colleagues: pseudonyms.len(),
            due_on: due.to_string(),
        };
        if dry_run {
            return Ok(Exported::WouldWrite(summary));
        }

        let statement = art15::statement(self.config, subject_ids(&subject), &held);
        let files = files(&statement, &profile, &events, &delivery, &audit, media);
        let now = OffsetDateTime::now_utc();
        let manifest = Manifest {
            format: "threema-bridge gdpr export 1",
            subject: subject_ids(&subject),
            requested_on: requested_on.to_string(),
            due_on: due.to_string(),
            generated_at: status::time((now.unix_timestamp_nanos() / 1_000_000) as i64),
            colleagues_pseudonymised: self.config.gdpr.pseudonymise_colleagues,
            files: files.iter().map(archive::entry).collect(),
        };
        let path = match output {
            Some(path) => path.to_owned(),
            None => PathBuf::from(format!("gdpr-export-{key}-{requested_on}.zip")),
        };
        let bytes =
            archive::write(&path, &files, &manifest).map_err(|source| LifecycleError::Write {
                path: path.clone(),
                source,
            })?;
        // The audit names whom it was about by their key and what went out by counts only.
        self.store
            .audit(
                actor,
                "gdpr.exported",
                &key,
                &format!(
                    "{} event(s), {} file(s), {} delivery row(s), {bytes} byte(s); due {due}",
                    held.events, held.media, held.delivery_rows
                ),
            )
            .await?;
        self.store
            .requests_done(RequestKind::Export, &key, actor)
            .await?;
        Ok(Exported::Written {
            path,
            bytes,
            summary,
        })
    }

    /// Gives each event its time, its delivery rows and its file (downloaded, unless
    /// `dry_run`), then replaces the colleagues in it. Returns the files and their bytes.
    async fn annotate(
        &self,
        events: &mut [Value],
        delivery: &[DeliveryLine],
        pseudonyms: &Pseudonyms,
        dry_run: bool,
    ) -> Result<(Vec<File>, u64), LifecycleError> {
        let mut by_event: HashMap<&str, Vec<&DeliveryLine>> = HashMap::new();
        for line in delivery {
            by_event.entry(&line.event_id).or_default().push(line);
        }
        let mut media = Vec::new();
        let mut media_bytes = 0;
        for event in events {
            let ts = event["origin_server_ts"].as_i64().unwrap_or_default();
            let mut export = json!({ "time": status::time(ts) });
            if let Some(lines) = event["event_id"].as_str().and_then(|id| by_event.get(id)) {
                export["delivery"] = json!(lines);
            }
            if let Some(uri) = event["content"]["url"].as_str().map(str::to_owned) {
                let name = format!(
                    "media/{:04}{}",
                    media.len() + 1,
                    extension(&event["content"])
                );
                let bytes = match dry_run {
                    true => Vec::new(),
                    false => self.matrix.download(&uri).await.map_err(homeserver)?,
                };
                media_bytes += match dry_run {
                    true => event["content"]["info"]["size"]
                        .as_u64()
                        .unwrap_or_default(),
                    false => bytes.len() as u64,
                };
                export["media"] = name.clone().into();
                media.push(File { name, bytes });
            }
            pseudonyms.apply(event);
            event["export"] = export;
        }
        Ok((media, media_bytes))
    }

    async fn own(&self, subject: &Subject) -> Result<Own, LifecycleError> {
        let domain = &self.config.homeserver.domain;
        let mut keys = Vec::new();
        let mut names = Vec::new();
        if let Some(id) = &subject.employee_id {
            keys.push(id.clone());
            if let Some(stored) = self.store.employee_by_id(id).await? {
                names.push(stored.employee.record.display_name);
            }
        }
        let ghost = subject
            .driver
            .as_ref()
            .map(|d| ids::ghost_user_id(d, domain));
        if let Some(driver) = &subject.driver {
            keys.push(driver.to_string());
            if let Some(g) = self.store.ghost_by_threema_id(driver.as_str()).await?
                && let Some(name) = g.display_name
            {
                names.push(name);
            }
        }
        keys.extend(ghost.iter().map(ToString::to_string));
        keys.extend(subject.user.iter().map(ToString::to_string));
        Ok(Own { keys, names, ghost })
    }

    /// A driver's whole portal; a dispatcher's own events in every room the bot is in (portals,
    /// broadcast rooms, their management room). Each event once, oldest first.
    async fn history(
        &self,
        subject: &Subject,
        ghost: Option<&UserId>,
    ) -> Result<Vec<Value>, LifecycleError> {
        let mut rooms: Vec<(OwnedRoomId, Option<OwnedUserId>)> = Vec::new();
        if let (Some(driver), Some(_)) = (&subject.driver, ghost)
            && let Some(portal) = self.store.portal_by_threema_id(driver.as_str()).await?
        {
            rooms.push((portal.room_id, None));
        }
        if let Some(user) = &subject.user {
            for room in self.matrix.joined_rooms().await.map_err(homeserver)? {
                rooms.push((room, Some(user.clone())));
            }
        }
        let mut seen = BTreeSet::new();
        let mut events = Vec::new();
        for (room, sender) in rooms {
            let senders = sender.map(|s| vec![s]);
            let mut from: Option<String> = None;
            let mut room_events = Vec::new();
            loop {
                let page = self
                    .matrix
                    .timeline_page(&room, senders.as_deref(), from.as_deref(), PAGE)
                    .await
                    .map_err(homeserver)?;
                for raw in &page.chunk {
                    let Ok(event) = serde_json::from_str::<Value>(raw.json().get()) else {
                        continue;
                    };
                    let id = event["event_id"].as_str().unwrap_or_default().to_owned();
                    if seen.insert(id) {
                        room_events.push(event);
                    }
                }
                match page.end {
                    Some(end) if !page.chunk.is_empty() => from = Some(end),
                    _ => break,
                }
            }
            room_events.reverse();
            events.extend(room_events);
        }
        Ok(events)
    }

    /// Everyone the events name but the subject and the bridge, with the names they go by.
    async fn pseudonyms(
        &self,
        own: &Own,
        events: &[Value],
        also: impl Iterator<Item = String>,
        bot: &UserId,
    ) -> Result<Pseudonyms, LifecycleError> {
        let hasher = self
            .config
            .gdpr
            .pseudonymise_colleagues
            .then(|| IdHasher::pseudonyms(self.config));
        let mut own_ids = own.keys.clone();
        own_ids.extend(own.names.iter().cloned());
        let mut pseudonyms = Pseudonyms::new(hasher, own_ids);
        let mut people: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for event in events {
            let mut named = vec![event["sender"].as_str()];
            if event["type"] == "m.room.member" {
                let user = event["state_key"].as_str();
                named.push(user);
                if let (Some(user), Some(name)) = (user, event["content"]["displayname"].as_str()) {
                    people
                        .entry(user.to_owned())
                        .or_default()
                        .insert(name.to_owned());
                }
            }
            if let Some(mentioned) = event["content"]["m.mentions"]["user_ids"].as_array() {
                named.extend(mentioned.iter().map(Value::as_str));
            }
            for user in named.into_iter().flatten() {
                people.entry(user.to_owned()).or_default();
            }
        }
        for user in also {
            people.entry(user).or_default();
        }
        people.remove(bot.as_str());
        // Names the directory and the ghosts know them by, beyond the room's member events.
        let employees = self.store.employees().await?;
        let domain = &self.config.homeserver.domain;
        for (user, names) in &mut people {
            let Ok(user_id) = <&UserId>::try_from(user.as_str()) else {
                continue;
            };
            let driver = ids::parse_ghost_user_id(user_id, domain);
            for e in &employees {
                let record = &e.employee.record;
                let same_driver =
                    driver.is_some() && (record.threema_id == driver || e.looked_up() == driver);
                if record.matrix_id.as_deref() == Some(user_id) || same_driver {
                    names.insert(record.display_name.clone());
                }
            }
            if let Some(driver) = &driver {
                // Rows and audit entries name a driver by their Threema ID.
                names.insert(driver.to_string());
                if let Some(g) = self.store.ghost_by_threema_id(driver.as_str()).await?
                    && let Some(name) = g.display_name
                {
                    names.insert(name);
                }
            }
        }
        for (user, names) in people {
            pseudonyms.add(&user, names);
        }
        Ok(pseudonyms)
    }

    /// What the shared inbox holds about the subject: a driver's conversation (its state, since
    /// when it waits, who has it, who closed it and how, when the desk was told), a
    /// dispatcher's conversations and whether they are off shift; with the others it names.
    async fn shared_inbox(&self, subject: &Subject) -> Result<InboxHeld, LifecycleError> {
        let mut held = serde_json::Map::new();
        let (mut drivers, mut dispatchers) = (Vec::new(), Vec::new());
        let at = |ms: Option<i64>| ms.map(status::time);
        if let Some(driver) = &subject.driver
            && let Some(c) = self.store.conversation(driver.as_str()).await?
        {
            dispatchers.extend(c.owner.iter().chain(c.closed_by.iter()).cloned());
            held.insert(
                "conversation".into(),
                json!({
                    "state": c.state.as_str(),
                    "waiting_since": at(c.waiting_since),
                    "owner": c.owner,
                    "closed_by": c.closed_by,
                    "closed_how": c.closed_how.map(|h| h.as_str()),
                    "desk_told_late_at": at(c.late_at),
                    "admins_told_at": at(c.escalated_at),
                }),
            );
        }
        if let Some(user) = &subject.user {
            let theirs = (self.store)
                .conversations_of_dispatcher(user.as_str())
                .await?;
            drivers.extend(
                theirs
                    .iter()
                    .filter_map(|c| ThreemaId::parse(&c.threema_id)),
            );
            let conversations: Vec<Value> = (theirs.iter())
                .map(|c| {
                    json!({
                        "driver": c.threema_id,
                        "state": c.state.as_str(),
                        "they_have_it": c.owner.as_deref() == Some(user.as_str()),
                        "they_closed_it": c.closed_by.as_deref() == Some(user.as_str()),
                        "closed_how": c.closed_how.map(|h| h.as_str()),
                    })
                })
                .collect();
            let off_since = (self.store)
                .dispatcher_off_shift_since(user.as_str())
                .await?;
            held.insert(
                "dispatcher".into(),
                json!({ "conversations": conversations, "off_shift_since": at(off_since) }),
            );
        }
        Ok(InboxHeld {
            held: match held.is_empty() {
                true => Value::Null,
                false => Value::Object(held),
            },
            drivers,
            dispatchers,
        })
    }

    /// The directory record with its history, the ghost and the portal.
    async fn profile(
        &self,
        subject: &Subject,
        own: &Own,
        audit: &[Value],
    ) -> Result<Value, LifecycleError> {
        let mut profile = json!({
            "employee_id": subject.employee_id,
            "threema_id": subject.driver.as_ref().map(ToString::to_string),
            "matrix_id": subject.user.as_ref().map(ToString::to_string),
            "ghost": own.ghost.as_ref().map(ToString::to_string),
        });
        if let Some(id) = &subject.employee_id
            && let Some(stored) = self.store.employee_by_id(id).await?
        {
            profile["directory"] = json!({
                "record": stored.employee.record,
                "source": stored.employee.source,
                "offboarded": stored.employee.removed,
                "scim_user_name": stored.scim_user_name,
                "threema_id_looked_up": stored.looked_up_id,
                "first_seen": status::time(stored.created_at),
                "last_changed": status::time(stored.updated_at),
            });
            profile["directory"]["history"] = audit
                .iter()
                .filter(|e| {
                    e["action"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("directory") || a.starts_with("scim"))
                })
                .cloned()
                .collect();
        }
        if let Some(driver) = &subject.driver {
            if let Some(g) = self.store.ghost_by_threema_id(driver.as_str()).await? {
                profile["ghost_display_name"] = g.display_name.into();
            }
            if let Some(p) = self.store.portal_by_threema_id(driver.as_str()).await? {
                profile["portal"] =
                    json!({"room_id": p.room_id, "opened": status::time(p.created_at)});
            }
        }
        Ok(profile)
    }
}

/// The shared inbox's part of an export, and the people it names.
struct InboxHeld {
    held: Value,
    drivers: Vec<ThreemaId>,
    /// Matrix IDs.
    dispatchers: Vec<String>,
}

/// The Threema side of the messages: sends to the driver (or by the dispatcher) with their
/// delivery status, and the driver's messages with when they were told the desk read them.
fn delivery_lines(
    subject: &Subject,
    outgoing: Vec<OutboxItem>,
    incoming: Vec<IncomingMessage>,
    pseudonyms: &Pseudonyms,
    domain: &ruma::ServerName,
) -> Vec<DeliveryLine> {
    let driver_name = |id: &ThreemaId| match subject.driver.as_ref() == Some(id) {
        true => id.to_string(),
        false => pseudonyms.user(ids::ghost_user_id(id, domain).as_str()),
    };
    let at = |ms: Option<i64>| ms.map(status::time);
    let mut lines: Vec<DeliveryLine> = outgoing
        .into_iter()
        .map(|row| DeliveryLine {
            direction: "out",
            event_id: row.event_id.to_string(),
            driver: driver_name(&row.recipient),
            threema_message_id: row.threema_message_id,
            part: row.part,
            resend: row.resend,
            state: row.state.as_str().to_owned(),
            sent_at: at(row.status.sent_at),
            received_at: at(row.status.received_at),
            read_at: at(row.status.read_at),
            reaction: row.status.reaction.map(|r| r.as_str().to_owned()),
            reaction_at: at(row.status.reaction_at),
            read_reported_at: None,
        })
        .collect();
    if let Some(driver) = &subject.driver {
        lines.extend(incoming.into_iter().map(|m| DeliveryLine {
            direction: "in",
            event_id: m.event_id,
            driver: driver.to_string(),
            threema_message_id: Some(m.threema_message_id),
            part: m.part,
            resend: 0,
            state: String::new(),
            sent_at: Some(status::time(m.created_at)),
            received_at: None,
            read_at: None,
            reaction: None,
            reaction_at: None,
            read_reported_at: at(m.read_sent_at),
        }));
    }
    lines
}

fn homeserver(e: crate::matrix::MatrixError) -> LifecycleError {
    LifecycleError::Homeserver(BridgeError::Matrix(e))
}

fn subject_ids(subject: &Subject) -> Vec<String> {
    subject.to_string().split(", ").map(str::to_owned).collect()
}

/// The export's files, the media last.
fn files(
    statement: &art15::Art15,
    profile: &Value,
    events: &[Value],
    delivery: &[DeliveryLine],
    audit: &[Value],
    media: Vec<File>,
) -> Vec<File> {
    let file = |name: &str, bytes: Vec<u8>| File {
        name: name.to_owned(),
        bytes,
    };
    let mut files = vec![
        json_file("art15.json", statement),
        file("art15.html", render::art15_html(statement)),
        json_file("profile.json", profile),
        file("messages.jsonl", render::jsonl(events)),
        file("messages.html", render::messages_html(events)),
        file("delivery.csv", render::csv(delivery)),
        file("audit.jsonl", render::jsonl(audit)),
    ];
    files.extend(media);
    files
}

/// What the company's programs sent the driver through the integration API (the text is the
/// portal copy's, in the messages), with a job card's fields and state.
fn api_message(
    (message, recipient): &(crate::store::ApiMessage, crate::store::ApiRecipient),
) -> Value {
    json!({
        "id": message.id,
        "sent_by": message.client,
        "reference": message.reference,
        "at": status::time(message.created_at),
        "portal_event": recipient.portal_event,
        "job": message.job.as_deref().and_then(|j| serde_json::from_str::<Value>(j).ok()),
        "job_state": message.job_state,
    })
}

fn json_file(name: &str, value: &impl serde::Serialize) -> File {
    File {
        name: name.to_owned(),
        bytes: serde_json::to_vec_pretty(value).expect("JSON to memory"),
    }
}

/// A file's extension from its name in the event (`body` or `filename`), if it looks like one.
fn extension(content: &Value) -> String {
    let name = content["filename"]
        .as_str()
        .or_else(|| content["body"].as_str())
        .unwrap_or_default();
    match name.rsplit_once('.') {
        Some((_, ext))
            if (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_keep_a_plausible_extension_only() {
        assert_eq!(extension(&json!({"body": "Foto.JPG"})), ".jpg");
        assert_eq!(extension(&json!({"body": "a caption. really"})), "");
        assert_eq!(
            extension(&json!({"filename": "x.pdf", "body": "caption"})),
            ".pdf"
        );
    }
}
