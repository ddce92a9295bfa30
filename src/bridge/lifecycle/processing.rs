//! What the bridge records about whom, who sees it and for how long, from the live
//! configuration: `privacy report` (the annex a works council asks for) and `gdpr ropa` (the
//! Art. 30 record of processing) print the same facts, so neither can say what the
//! installation does not do.

use std::fmt::Write;

use crate::config::{Config, ReadReceipts, ReceiptDetail};

/// One kind of record about one kind of person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub person: Person,
    pub what: String,
    pub who_sees: String,
    pub kept: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Person {
    Driver,
    Dispatcher,
}

impl Person {
    fn label(self) -> &'static str {
        match self {
            Person::Driver => "Drivers (Threema)",
            Person::Dispatcher => "Dispatchers and admins (Matrix)",
        }
    }
}

fn days(period: Option<std::time::Duration>, key: &str, otherwise: &str) -> String {
    match period {
        Some(p) => format!("{} day(s) ({key})", p.as_secs() / 86_400),
        None => otherwise.to_owned(),
    }
}

/// Who sees per-person read and delivery times.
fn per_person_viewers(detail: ReceiptDetail) -> &'static str {
    match detail {
        ReceiptDetail::Dispatchers => "every dispatcher who may see the driver",
        ReceiptDetail::Admins => "bridge admins only; other dispatchers see counts",
        ReceiptDetail::Nobody => "nobody; everyone sees counts only",
    }
}

/// The facts, drivers first.
pub fn facts(config: &Config) -> Vec<Fact> {
    let r = &config.retention;
    let privacy = &config.privacy;
    let erase = match config.gdpr.erase_after {
        Some(after) => format!(
            "until erased: on request, or {} day(s) after leaving (gdpr.erase_after_days)",
            after.as_secs() / 86_400
        ),
        None => "until erased on request (gdpr erase)".to_owned(),
    };
    let history = days(r.history, "retention.history_days", &erase);
    let audit_kept = format!(
        "{}; an erasure deletes the person's pseudonym and key: their entries can no longer be \
         found by their ID nor read",
        days(
            r.audit,
            "retention.audit_days, from the oldest up to the first entry about someone under a \
             legal hold",
            "as long as the bridge runs",
        )
    );
    let scope = if config.directory.enabled() {
        "the dispatchers whose directory scope includes the driver, and admins"
    } else {
        "every dispatcher of the bridge"
    };
    let minimum = match privacy.minimum_group {
        0 | 1 => String::new(),
        n => format!("; read counts only for groups of {n} or more (privacy.minimum_group)"),
    };
    let mut facts = vec![Fact {
        person: Person::Driver,
        what: "messages and files to and from the desk (portal room on the homeserver)".into(),
        who_sees: scope.into(),
        kept: history.clone(),
    }];
    facts.push(Fact {
        person: Person::Driver,
        what: "delivery: when each message was sent and received on the phone".into(),
        who_sees: format!(
            "per person with times: {} (privacy.receipt_detail); in portals every member sees \
             the ✓ when a driver's phone received a message",
            per_person_viewers(privacy.receipt_detail)
        ),
        kept: days(
            r.delivery_times,
            "retention.delivery_times_days; the state stays",
            "as long as the message's record",
        ),
    });
    let reading = match config.bridge.read_receipts {
        ReadReceipts::Off => Fact {
            person: Person::Driver,
            what: "reading: not recorded (bridge.read_receipts: off)".into(),
            who_sees: "nobody".into(),
            kept: "-".into(),
        },
        mode => Fact {
            person: Person::Driver,
            what: "reading: when each message was read on the phone".into(),
            who_sees: format!(
                "per person with times: {}{minimum}; in portals {} (bridge.read_receipts: {})",
                per_person_viewers(privacy.receipt_detail),
                if privacy.reads_in_portals(mode) {
                    "every member sees each driver's read marker and read position"
                } else {
                    "only whether a message was received is shown"
                },
                match mode {
                    ReadReceipts::On => "on",
                    ReadReceipts::TrackOnly => "track_only",
                    ReadReceipts::Aggregate => "aggregate",
                    ReadReceipts::Off => "off",
                }
            ),
            kept: days(
                r.delivery_times,
                "retention.delivery_times_days; the state stays",
                "as long as the message's record",
            ),
        },
    };
    facts.push(reading);
    if config.directory.enabled() {
        facts.push(Fact {
            person: Person::Driver,
            what: "directory record: name, employee ID, Threema ID, attributes (depot, team, \
                   vehicle), leaving date"
                .into(),
            who_sees: "admins (audit, export); dispatchers see names and attributes in spaces"
                .into(),
            kept: erase.clone(),
        });
    }
    facts.push(Fact {
        person: Person::Driver,
        what: "raw messages as received from the Gateway (the bridge's inbox)".into(),
        who_sees: "operators with database access".into(),
        kept: format!(
            "{} day(s) after handling (retention.inbox_days)",
            r.inbox.as_secs() / 86_400
        ),
    });
    facts.push(Fact {
        person: Person::Dispatcher,
        what: "messages they send to drivers, signed with their name".into(),
        who_sees: "the driver, and the dispatchers who see the driver's portal".into(),
        kept: history.clone(),
    });
    facts.push(Fact {
        person: Person::Dispatcher,
        what: "their own reading of drivers' messages".into(),
        who_sees: match config.bridge.read_receipts {
            ReadReceipts::On | ReadReceipts::Aggregate => {
                "the driver learns the desk read it (as the company, never naming the \
                 dispatcher); not stored"
            }
            _ => "not passed on, not stored",
        }
        .into(),
        kept: "-".into(),
    });
    facts.push(Fact {
        person: Person::Driver,
        what: "polls: a poll they started or were sent, and their vote in it (which answers)"
            .into(),
        who_sees: format!(
            "{scope}, in the portal; for a broadcast's poll the broadcast room sees the counts \
             only"
        ),
        kept: history.clone(),
    });
    facts.push(Fact {
        person: Person::Driver,
        what: "scheduled messages to them (!at, !every): the text, when it goes, who scheduled \
               it"
        .into(),
        who_sees: format!("{scope}, in the portal (!scheduled)"),
        kept: "until it went for the last time or was cancelled; erased with the driver or the \
               dispatcher who scheduled it"
            .into(),
    });
    facts.push(Fact {
        person: Person::Driver,
        what: "location: the last location they shared in their chat (when asked with !where or \
               not), and when; never tracked otherwise"
            .into(),
        who_sees: format!("{scope}: in the portal, and with last-positions (each look audited)"),
        kept: format!("the latest only; {history}"),
    });
    if !config.quick_codes.is_empty() && config.inbox.enabled {
        facts.push(Fact {
            person: Person::Driver,
            what: "status: the latest quick code they sent (quick_codes:), what it means and when"
                .into(),
            who_sees: "the desk room of the shared inbox, for 24 hours".into(),
            kept: format!("the latest only; {history}"),
        });
    }
    if !config.api.clients.is_empty() {
        let clients: Vec<&str> = config.api.clients.iter().map(|c| c.name.as_str()).collect();
        let hooks: Vec<&str> = (config.api.webhooks.iter())
            .filter_map(|h| h.url.host_str())
            .collect();
        facts.push(Fact {
            person: Person::Driver,
            what: format!(
                "integration API ({}): the messages and job cards the company's programs sent \
                 them (sender, reference, job fields and state), their delivery, read and 👍/👎, \
                 and their next message after one as its answer",
                clients.join(", ")
            ),
            who_sees: match hooks.is_empty() {
                true => format!("{scope}, in the portal; the sending program, by its API"),
                false => format!(
                    "{scope}, in the portal; the sending program, by its API and the webhooks \
                     ({}), which receive the answer's text",
                    hooks.join(", ")
                ),
            },
            kept: format!(
                "the message's text until each copy is queued, then with the send \
                 (retention.outbox_days); its record {history}; webhook events until the \
                 receiver took them, then retention.inbox_days"
            ),
        });
    }
    if config.bridge.reactions_to_drivers {
        facts.push(Fact {
            person: Person::Dispatcher,
            what: "their 👍 / 👎 on a driver's message".into(),
            who_sees: "the driver, as the company's agree / decline (never naming the \
                       dispatcher); the desk in the portal"
                .into(),
            kept: "not stored by the bridge; the reaction stays in the portal as long as its \
                   messages"
                .into(),
        });
    }
    facts.push(Fact {
        person: Person::Dispatcher,
        what: "audit trail: each message sent (who, to whom, a keyed hash of the content, \
               never the text), broadcasts, looks at per-person status and reports, admin \
               commands, directory changes, exports, erasures, holds"
            .into(),
        who_sees: "bridge admins (audit show, the management room's audit), operators with \
                   database access, the person in their own export; tamper-evident (hash chain, \
                   signed checkpoints)"
            .into(),
        kept: audit_kept,
    });
    if config.inbox.enabled {
        facts.push(Fact {
            person: Person::Dispatcher,
            what: "shared inbox: which driver's conversation they took or were given, and which \
                   they answered or marked handled (with when a driver's message began to \
                   wait), shown in the portal's topic; whether they said they are off shift \
                   (and since when), and, with inbox.shift_attribute, whether their shift in \
                   the directory is on (not stored: read when an alert is said); each change \
                   in the audit trail"
                .into(),
            who_sees: "the dispatchers who see the driver's portal; admins".into(),
            kept: "the driver's latest conversation (who has it, who closed it) until the driver \
                   or the dispatcher is erased; off shift until they say on-shift or are \
                   erased; the topic's history stays in the portal, as long as its messages"
                .into(),
        });
        facts.push(Fact {
            person: Person::Driver,
            what: "shared inbox desk rooms: the driver's name with how long their message has \
                   waited, and the text of a message found urgent (🆘, inbox.urgent_keywords), \
                   mentioning the dispatchers to answer it"
                .into(),
            who_sees: "the dispatchers who may see the driver, in the desk room of the driver's \
                       scope; admins"
                .into(),
            kept: match r.history {
                Some(keep) => format!(
                    "{} day(s) (retention.history_days, unless a legal hold covers any driver), \
                     or until the driver is erased (the bot's events naming them are redacted)",
                    keep.as_secs() / 86_400
                ),
                None => {
                    "until the driver is erased (the bot's events naming them are redacted)".into()
                }
            },
        });
        if crate::bridge::desk::duty::holds_any(&config.inbox.duty) {
            let duty = &config.inbox.duty;
            let by = match (&duty.shift_attribute, &duty.off_duty) {
                (Some(attribute), Some(_)) => format!(
                    "their shift (directory attribute {attribute:?}, inbox.shifts), else \
                     inbox.off_duty"
                ),
                (Some(attribute), None) => {
                    format!("their shift (directory attribute {attribute:?}, inbox.shifts)")
                }
                (None, _) => "inbox.off_duty".into(),
            };
            facts.push(Fact {
                person: Person::Driver,
                what: format!(
                    "off duty by {by}: a dispatcher's message to them waits (with the time it \
                     waits until) and goes when their duty starts, unless sent with !urgent"
                ),
                who_sees: "the dispatchers who see the driver's portal (\"held until 06:00\"); \
                           not the driver"
                    .into(),
                kept: "the time with the message until it is sent (no record of when someone \
                       works is kept: it is read from the directory and the config)"
                    .into(),
            });
        }
    }
    if config.directory.enabled() {
        facts.push(Fact {
            person: Person::Dispatcher,
            what: "directory record: name, Matrix ID, scope attributes, leaving date".into(),
            who_sees: "admins".into(),
            kept: erase,
        });
    }
    facts
}

/// `privacy report`: the facts per kind of person.
pub fn report(config: &Config) -> String {
    let facts = facts(config);
    let mut text = format!(
        "What threema-bridge records about whom ({}), who sees it, for how long.\n\
         Generated from the running configuration.\n",
        config.homeserver.domain
    );
    for person in [Person::Driver, Person::Dispatcher] {
        let _ = write!(text, "\n{}\n", person.label());
        for fact in facts.iter().filter(|f| f.person == person) {
            let _ = write!(
                text,
                "- {}\n    seen by: {}\n    kept: {}\n",
                fact.what, fact.who_sees, fact.kept
            );
        }
    }
    text
}

/// `gdpr ropa`: the Art. 30(1) record of this processing activity.
pub fn ropa(config: &Config) -> String {
    let domain = &config.homeserver.domain;
    let gateway = config
        .threema
        .api_url
        .host_str()
        .unwrap_or("the Threema Gateway");
    let mut text = format!(
        "Record of processing activities (Art. 30(1) GDPR): dispatch messaging bridge\n\n\
         (a) Controller: the company operating the Matrix homeserver {domain}; fill in its name, \
         address and data protection officer.\n\
         (b) Purposes: dispatch communication between the desk and drivers; proof of what was \
         sent to whom and when; access control and offboarding from the employee directory; \
         accountability (audit trail).\n\
         (c) Data subjects: drivers (Threema), dispatchers and admins (Matrix).\n    \
         Categories of personal data:\n"
    );
    for fact in facts(config) {
        let _ = writeln!(text, "    - {}: {}", fact.person.label(), fact.what);
    }
    let programs = match config.api.clients.is_empty() {
        true => String::new(),
        false => {
            let clients: Vec<&str> = config.api.clients.iter().map(|c| c.name.as_str()).collect();
            let hooks: Vec<&str> = (config.api.webhooks.iter())
                .filter_map(|h| h.url.host_str())
                .collect();
            let hooks = match hooks.is_empty() {
                true => String::new(),
                false => format!(" and their webhook receivers ({})", hooks.join(", ")),
            };
            format!(
                "; the company's own programs through the integration API ({}){hooks}",
                clients.join(", ")
            )
        }
    };
    let _ = write!(
        text,
        "(d) Recipients: dispatchers of the company through its homeserver {domain}; Threema \
         GmbH as operator of the Threema Gateway ({gateway}) for delivery, end-to-end \
         encrypted{programs}.\n\
         (e) Transfers to third countries: Switzerland (Threema GmbH), adequacy decision \
         2000/518/EC.\n\
         (f) Erasure periods:\n"
    );
    for fact in facts(config).iter().filter(|f| f.kept != "-") {
        let _ = writeln!(text, "    - {}: {}", fact.what, fact.kept);
    }
    let _ = writeln!(
        text,
        "(g) Technical and organisational measures (Art. 32): messages to and from phones \
         end-to-end encrypted (NaCl); database file readable by its owner only; admin tokens \
         in files of mode 600; access to each driver by directory scope; personal data kept \
         out of logs; tamper-evident audit trail (hash chain{}) with personal values encrypted \
         under a key per person, so that an erasure can delete them while the chain stays \
         verifiable; retention periods applied daily; legal holds; erasure on request.",
        if config.audit.signing_key_file.is_some() {
            ", Ed25519-signed checkpoints kept outside the database"
        } else {
            "; no signed checkpoints: set audit.signing_key_file"
        }
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_follows_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::tests::in_dir(dir.path(), "").unwrap();
        let open = report(&config);
        assert!(
            open.contains("every dispatcher who may see the driver"),
            "{open}"
        );
        assert!(open.contains("read marker"), "{open}");
        config.privacy.receipt_detail = ReceiptDetail::Admins;
        config.privacy.minimum_group = 5;
        config.retention.audit = Some(std::time::Duration::from_secs(400 * 86_400));
        let limited = report(&config);
        assert!(limited.contains("bridge admins only"), "{limited}");
        assert!(limited.contains("groups of 5 or more"), "{limited}");
        assert!(limited.contains("only whether a message was received is shown"));
        assert!(limited.contains("400 day(s) (retention.audit_days, from the oldest"));
        config.bridge.read_receipts = ReadReceipts::Off;
        let off = ropa(&config);
        assert!(off.contains("reading: not recorded"), "{off}");
        assert!(off.contains("no signed checkpoints"), "{off}");
        assert!(!off.contains("shared inbox"), "off by default");
        assert!(!off.contains("integration API"), "off by default");
        config.api.clients.push(crate::config::ApiClient {
            name: "ERP".into(),
            token: "t".repeat(32).into(),
            scope: None,
            scope_text: None,
        });
        config.api.webhooks.push(crate::config::Webhook {
            url: "https://erp.example.com/hook?token=secret".parse().unwrap(),
            secret: "s".repeat(16).into(),
            events: crate::config::WebhookEvent::ALL.to_vec(),
            clients: None,
        });
        let api = ropa(&config);
        assert!(api.contains("integration API (ERP)"), "{api}");
        assert!(
            api.contains("integration API (ERP) and their webhook receivers (erp.example.com)")
                && !api.contains("token=secret"),
            "{api}"
        );
        let seen = report(&config);
        assert!(seen.contains("the webhooks (erp.example.com)"), "{seen}");
        config.inbox.enabled = true;
        let inbox = report(&config);
        assert!(
            inbox.contains("shared inbox: which driver's conversation"),
            "{inbox}"
        );
        assert!(inbox.contains("shared inbox desk rooms"), "{inbox}");
        assert!(
            !inbox.contains("off duty by"),
            "no holds without a schedule"
        );
        config.inbox.duty.off_duty = crate::zone::Window::parse("22:00-06:00");
        let held = report(&config);
        assert!(held.contains("off duty by inbox.off_duty"), "{held}");
    }
}
