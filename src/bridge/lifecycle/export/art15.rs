//! The information Art. 15(1) and (2) GDPR owe with the copy: purposes, categories, recipients,
//! retention, source. Generated from the live config, so it says what this installation does
//! (read receipts off: no read times; no directory: no HR data), never a generic text.

use serde::Serialize;

use crate::config::{Config, ReadReceipts};

/// Who the export is about, and what it holds (filled in by the exporter).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Held {
    pub events: usize,
    pub media: usize,
    pub delivery_rows: usize,
    pub audit_entries: usize,
    pub has_directory_record: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Art15 {
    pub controller: String,
    pub subject: Vec<String>,
    pub purposes: Vec<String>,
    pub categories: Vec<Category>,
    pub recipients: Vec<String>,
    pub retention: Vec<Period>,
    pub sources: Vec<String>,
    pub rights: String,
    pub privacy_notice: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Category {
    pub category: String,
    /// Where in this export it is (a file), or why it is not.
    pub in_export: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub what: String,
    pub kept: String,
}

/// The Art. 15 statement for `subject` (their IDs) given what was found.
pub fn statement(config: &Config, subject: Vec<String>, held: &Held) -> Art15 {
    let domain = &config.homeserver.domain;
    let gateway = config
        .threema
        .api_url
        .host_str()
        .unwrap_or("the Threema Gateway")
        .to_owned();
    let receipts = config.bridge.read_receipts;
    let directory = config.directory.enabled();

    let mut purposes = vec![
        "dispatch: messages between drivers (Threema) and the dispatch desk (Matrix homeserver \
         of the company)"
            .to_owned(),
        "proof of what was sent to whom and when (delivery status of messages sent to drivers)"
            .to_owned(),
    ];
    if receipts != ReadReceipts::Off {
        purposes.push(
            "read status: whether a message was read (per message, or as counts only when \
             bridge.read_receipts is aggregate or privacy.receipt_detail limits who sees it)"
                .to_owned(),
        );
    }
    if directory {
        purposes.push(
            "access control and offboarding from the employee directory (who may see whom, \
             spaces by depot/team/vehicle)"
                .to_owned(),
        );
    }
    purposes.push("broadcasts from the desk to groups of drivers".to_owned());

    let mut categories = vec![
        Category {
            category: "identity: name, employee ID, Threema ID, Matrix ID".into(),
            in_export: "profile.json".into(),
        },
        Category {
            category: format!(
                "message content and media ({} event(s), {} file(s))",
                held.events, held.media
            ),
            in_export: "messages.jsonl, messages.html, media/".into(),
        },
        Category {
            category: format!(
                "message metadata: times, delivery and read status ({} row(s))",
                held.delivery_rows
            ),
            in_export: "delivery.csv".into(),
        },
        Category {
            category: format!(
                "records of actions about you ({} entries)",
                held.audit_entries
            ),
            in_export: "audit.jsonl".into(),
        },
    ];
    if directory {
        categories.push(Category {
            category: "directory record: role, depot/team/vehicle attributes, leaving date, \
                       phone number or email where used to find your Threema ID"
                .into(),
            in_export: if held.has_directory_record {
                "profile.json".into()
            } else {
                "none held".into()
            },
        });
    }

    let recipients = vec![
        format!(
            "dispatchers of the company responsible for you, through the company's Matrix \
             homeserver {domain}"
        ),
        format!(
            "Threema GmbH (Switzerland) as operator of the Threema Gateway ({gateway}): messages \
             end-to-end encrypted, your Threema ID and the message metadata it needs to deliver"
        ),
        "Threema GmbH's app on your phone, from which you read and send".to_owned(),
    ];

    let mut retention = vec![Period {
        what: "chat history and media in your portal room on the homeserver".into(),
        kept: match config.gdpr.erase_after {
            Some(after) => format!(
                "until erased, at the latest {} day(s) after you leave (gdpr.erase_after_days), \
                 unless a legal hold keeps it",
                after.as_secs() / 86_400
            ),
            None => "until erased on request (gdpr erase) or by a retention rule".into(),
        },
    }];
    retention.push(Period {
        what: "raw messages received and sent by the bridge (its inboxes)".into(),
        kept: format!(
            "{} day(s) after they were handled (retention.inbox_days)",
            config.retention.inbox.as_secs() / 86_400
        ),
    });
    retention.push(Period {
        what: "records of actions (audit)".into(),
        kept: match config.retention.audit {
            Some(keep) => format!(
                "{} day(s) (retention.audit_days); erasure makes them unreadable (your key is \
                 deleted)",
                keep.as_secs() / 86_400
            ),
            None => "as long as the bridge runs; erasure makes them unreadable (your key is \
                     deleted)"
                .into(),
        },
    });

    let mut sources = vec![
        "you, from the Threema app (your messages, receipts and files)".to_owned(),
        "dispatchers, from their Matrix clients (their messages to you)".to_owned(),
    ];
    if directory {
        sources.push("the company's employee directory (HR/ERP export or SCIM)".to_owned());
    }

    Art15 {
        controller: format!("the company operating the Matrix homeserver {domain}"),
        subject,
        purposes,
        categories,
        recipients,
        retention,
        sources,
        rights: "You may ask for rectification (Art. 16), erasure (Art. 17), restriction \
                 (Art. 18) and object (Art. 21); ask the company's data protection officer. You \
                 may complain to a supervisory authority (Art. 77)."
            .into(),
        privacy_notice: config.gdpr.driver_notice.clone(),
    }
}
