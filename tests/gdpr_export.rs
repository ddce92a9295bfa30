//! `gdpr export` (Art. 15) from the outside: the real binary against the real Synapse, the
//! ZIP opened and checked as the subject (or their lawyer) would.

use crate::{
    broadcasts::{broadcast, open_broadcast, reader},
    common,
};

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read,
    path::Path,
    time::Duration,
};

use common::{
    bridge::Harness,
    db::TestDb,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart, wait_for},
    threema::add_phone,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use threema_gateway_sim::UserMessage;

const WAIT: Duration = Duration::from_secs(60);
const BOT: &str = "@threemabot:dispatch.test";

fn gdpr(config: &Path, args: &[&str]) -> (i32, String, String) {
    let args: Vec<&str> = ["gdpr", "export"].iter().chain(args).copied().collect();
    common::bridge::run_cli(config, &args, &[("USER", "dpo")])
}

/// The ZIP's files by name.
pub(crate) fn unzip(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            (file.name().to_owned(), bytes)
        })
        .collect()
}

/// Checks the manifest against the files: every file listed with its hash, nothing else.
fn verified(files: &BTreeMap<String, Vec<u8>>) -> Value {
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let listed: BTreeSet<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f["name"].as_str().unwrap();
            let bytes = files.get(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(f["sha256"], hex::encode(Sha256::digest(bytes)), "{name}");
            assert_eq!(f["bytes"], bytes.len(), "{name}");
            name
        })
        .collect();
    let present: BTreeSet<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|n| *n != "manifest.json")
        .collect();
    assert_eq!(listed, present);
    manifest
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn audit_rows(url: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM audit")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drivers_export_holds_their_whole_portal_once_and_a_dispatchers_what_they_sent_sqlite() {
    exports_of_a_driver_and_a_dispatcher(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drivers_export_holds_their_whole_portal_once_and_a_dispatchers_what_they_sent_postgres()
{
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    exports_of_a_driver_and_a_dispatcher(db).await;
}

async fn exports_of_a_driver_and_a_dispatcher(db: TestDb) {
    sqlx::any::install_default_drivers();
    let desk_localpart = unique_localpart("desk");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let mut driver = String::new();
    let (h, sim) = Harness::with_simulator_on(db, |c| {
        c.dispatchers = vec![desk_id.clone()];
        c.sections = "broadcast:\n  board_interval_ms: 300\n".into();
        c.bridge_extra = format!("  permissions:\n    \"{desk_id}\": admin");
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Anna Exportdesk").await;
    driver.push_str(&add_phone(&sim, 'X', "Erika Export", reader()));
    let url = h.config.db_url.clone();

    // Texts, a photo and a location from the driver; an answer the phone receives and reads;
    // a broadcast.
    sim.send_from_user(&driver, UserMessage::text("Guten Morgen"))
        .await
        .unwrap();
    let room = desk.wait_invite(WAIT).await;
    desk.join(&room).await;
    let photo: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    sim.send_from_user(
        &driver,
        UserMessage::file(photo.clone(), "image/jpeg", Some("rampe.jpg")),
    )
    .await
    .unwrap();
    sim.send_from_user(
        &driver,
        UserMessage::Location {
            lat: 52.52,
            lon: 13.405,
            accuracy: Some(10.0),
            name: Some("Rampe 4".into()),
            address: Some("Lagerstrasse 1, Berlin".into()),
        },
    )
    .await
    .unwrap();
    desk.wait_messages(&room, 3, WAIT).await;
    let answer = desk.send_text(&room, "Danke, Rampe 4 ist frei").await;
    let dm = desk.management_room().await;
    let (_, broadcast_room) = open_broadcast(&desk, &dm, "all").await;
    let (broadcast_event, _, _) =
        broadcast(&desk, &broadcast_room, "Depot schliesst um 18 Uhr").await;
    wait_for("both read on the phone", WAIT, || async {
        let read = h
            .bridge
            .store
            .outbox_of(Some(&driver), None)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.status.read_at.is_some())
            .count();
        (read >= 2).then_some(())
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);
    let zip_path = dir.path().join("erika.zip");
    let zip_arg = zip_path.to_str().unwrap();

    // The request as it came in ten days ago, in the register.
    let received = (time::OffsetDateTime::now_utc() - time::Duration::days(10)).date();
    let register = |args: &[&str]| {
        let args: Vec<&str> = ["gdpr", "requests"].iter().chain(args).copied().collect();
        let (code, out, err) = common::bridge::run_cli(&config, &args, &[("USER", "dpo")]);
        assert_eq!(code, 0, "{err}");
        out
    };
    let out = register(&[
        "add",
        "export",
        &driver,
        "--received",
        &received.to_string(),
    ]);
    assert!(out.contains("registered, due"), "{out}");
    let open = register(&[]);
    assert!(
        open.contains(&format!("export of {driver}: received {received}"))
            && open.contains("day(s) left"),
        "{open}"
    );

    // --dry-run: what it would hold, nothing written, nothing audited.
    let audit_before = audit_rows(&url).await;
    // What the shared inbox holds about both (its state is exported whether the inbox is on).
    let store = &h.bridge.store;
    store
        .conversation_driver_wrote(&driver, "$waiting", 1_700_000_000_000)
        .await
        .unwrap();
    store
        .conversation_set_owner(&driver, Some(&desk_id))
        .await
        .unwrap();
    store
        .dispatcher_set_off_shift(&desk_id, true)
        .await
        .unwrap();
    let (code, out, err) = gdpr(&config, &[&driver, "-o", zip_arg, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("media/: 1 file(s), 20000 byte(s)"), "{out}");
    assert!(out.contains("nothing written"), "{out}");
    assert!(!zip_path.exists());
    assert_eq!(audit_rows(&url).await, audit_before);

    let (code, out, err) = gdpr(&config, &[&driver, "-o", zip_arg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("erika.zip"), "{out}");
    let files = unzip(&zip_path);
    let manifest = verified(&files);
    assert_eq!(manifest["requested_on"], received.to_string(), "{manifest}");
    assert!(manifest["due_on"].as_str().is_some(), "{manifest}");
    assert_eq!(
        register(&[]).trim(),
        "no open requests",
        "the export answered it"
    );
    for name in [
        "art15.json",
        "art15.html",
        "profile.json",
        "messages.jsonl",
        "messages.html",
        "delivery.csv",
        "audit.jsonl",
    ] {
        assert!(files.contains_key(name), "{name} missing");
    }

    // Every event of the portal as the homeserver has it, each once.
    let exported = lines(&files["messages.jsonl"]);
    let ids: Vec<&str> = exported
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an event twice");
    let portal = h.synapse.appservice_bot().timeline(&room).await;
    let on_server: BTreeSet<&str> = portal
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(unique, on_server);
    assert!(unique.contains(answer.as_str()));
    let bodies: Vec<&str> = exported
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    for text in [
        "Guten Morgen",
        "Danke, Rampe 4 ist frei",
        "Depot schliesst um 18 Uhr",
    ] {
        assert!(
            bodies.iter().any(|b| b.contains(text)),
            "{text}: {bodies:?}"
        );
    }
    assert!(
        exported
            .iter()
            .any(|e| e["content"]["msgtype"] == "m.location"),
        "the location"
    );
    // The photo, byte-identical.
    let image = exported
        .iter()
        .find(|e| e["content"]["url"].is_string())
        .expect("the photo's event");
    let media = image["export"]["media"].as_str().unwrap();
    assert_eq!(files[media], photo);
    // Delivery: the answer sent, received and read.
    let csv = String::from_utf8(files["delivery.csv"].clone()).unwrap();
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("out,{answer},")))
        .unwrap_or_else(|| panic!("no row for the answer: {csv}"));
    assert!(
        row.contains(",sent,") && row.matches(" UTC").count() >= 3,
        "{row}"
    );
    assert!(
        csv.lines().filter(|l| l.starts_with("in,")).count() >= 3,
        "{csv}"
    );
    // The colleague is a pseudonym everywhere; the driver is herself.
    for (name, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(&desk_id) && !text.contains("Anna Exportdesk"),
            "{name} names the colleague"
        );
    }
    let answer_event = exported
        .iter()
        .find(|e| e["event_id"] == answer.as_str())
        .unwrap();
    assert!(
        answer_event["sender"]
            .as_str()
            .unwrap()
            .starts_with("colleague-")
    );
    let profile: Value = serde_json::from_slice(&files["profile.json"]).unwrap();
    assert_eq!(profile["threema_id"], driver.as_str());
    let conversation = &profile["shared_inbox"]["conversation"];
    assert_eq!(conversation["state"], "open", "{profile}");
    assert_eq!(conversation["waiting_since"], "2023-11-14 22:13:20 UTC");
    assert!(
        (conversation["owner"].as_str()).is_some_and(|o| o.starts_with("colleague-")),
        "{profile}"
    );
    let art15 = String::from_utf8_lossy(&files["art15.json"]);
    assert!(art15.contains("Threema Gateway"), "{art15}");
    // The export itself is audited, by counts and the subject's key only.
    let audit = h.bridge.store.audit_recent(Some(&driver), 5).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "gdpr.exported")
        .expect("audited");
    assert_eq!(entry.actor, "cli:dpo");
    assert!(!entry.details.contains("Guten") && !entry.details.contains("Erika"));

    // The same verb for admins in the management room: the ZIP is posted there.
    let answer_text = desk.ask(&dm, &format!("export {driver}")).await;
    assert!(answer_text.starts_with("Exported ("), "{answer_text}");
    let posted = desk
        .timeline(&dm)
        .await
        .into_iter()
        .rfind(|e| e["sender"] == BOT && e["content"]["msgtype"] == "m.file")
        .expect("the ZIP in the management room");
    let mxc = posted["content"]["url"].as_str().unwrap();
    let bytes = reqwest::Client::new()
        .get(format!(
            "{}/_matrix/client/v1/media/download/{}",
            h.synapse.url,
            mxc.strip_prefix("mxc://").unwrap()
        ))
        .bearer_auth(&h.synapse.admin_token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let posted_zip = dir.path().join("posted.zip");
    std::fs::write(&posted_zip, &bytes).unwrap();
    let posted_files = unzip(&posted_zip);
    verified(&posted_files);
    assert_eq!(lines(&posted_files["messages.jsonl"]).len(), exported.len());

    // The dispatcher's export: what they sent, in the portal and as a broadcast, and not the
    // driver's messages; the driver a pseudonym.
    let desk_zip = dir.path().join("desk.zip");
    let (code, _, err) = gdpr(&config, &[&desk_id, "-o", desk_zip.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let files = unzip(&desk_zip);
    verified(&files);
    let exported = lines(&files["messages.jsonl"]);
    let ids: BTreeSet<&str> = exported
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(answer.as_str()) && ids.contains(broadcast_event.as_str()),
        "{ids:?}"
    );
    assert!(exported.iter().all(|e| e["sender"] == desk_id.as_str()));
    let csv = String::from_utf8(files["delivery.csv"].clone()).unwrap();
    assert!(csv.contains(&format!("out,{answer},colleague-")), "{csv}");
    let profile: Value = serde_json::from_slice(&files["profile.json"]).unwrap();
    let inbox = &profile["shared_inbox"]["dispatcher"];
    assert!(inbox["off_shift_since"].is_string(), "{profile}");
    let theirs = inbox["conversations"].as_array().unwrap();
    assert_eq!(theirs.len(), 1, "{profile}");
    assert!(
        (theirs[0]["driver"].as_str()).is_some_and(|d| d.starts_with("colleague-"))
            && theirs[0]["they_have_it"] == true
            && theirs[0]["state"] == "open",
        "{profile}"
    );
    for (name, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(&driver) && !text.contains("Erika Export"),
            "{name} names the driver"
        );
    }
    h.stop().await;
}
