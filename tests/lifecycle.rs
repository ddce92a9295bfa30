//! The data lifecycle's commands: legal holds set, listed and released by admins in the
//! management room and by the operator on the command line, each audited.

use crate::common;

use std::{path::Path, process::Command};

use serde_json::Value;
use threema_bridge::store::UNREADABLE;

use common::{
    bridge::Harness,
    db::TestDb,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart},
};

const BOT: &str = "@threemabot:dispatch.test";

/// `threema-bridge -c CONFIG gdpr SUBCOMMAND ARGS` as the operator `dpo`.
fn gdpr(config: &Path, subcommand: &str, args: &[&str]) -> (i32, String, String) {
    let args = [&["gdpr", subcommand], args].concat();
    common::bridge::run_cli(config, &args, &[("USER", "dpo")])
}

/// `gdpr hold ARGS`: (exit success, stdout, stderr).
fn hold(config: &Path, args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = gdpr(config, "hold", args);
    (code == 0, out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legal_holds_are_set_listed_and_released_in_the_management_room_and_on_the_command_line() {
    let desk_localpart = unique_localpart("desk");
    let admin_localpart = unique_localpart("admin");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let admin_id = format!("@{admin_localpart}:{DOMAIN}");
    let h = Harness::start(TestDb::sqlite(), |c| {
        c.dispatchers = vec![desk_id.clone()];
        c.bridge_extra = format!("  permissions: {{ \"{admin_id}\": admin }}");
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
    let admin = Dispatcher::login(h.synapse, &admin_localpart, "Admin").await;
    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);

    let admin_dm = admin.management_room().await;
    let set = admin
        .ask(
            &admin_dm,
            "hold set abcd1234 --reason dispute over a delivery --case C-17",
        )
        .await;
    assert!(set.ends_with("set on driver ABCD1234"), "{set}");
    // A dispatcher who is not an admin may not even look.
    let desk_dm = desk.management_room().await;
    let refused = desk.ask(&desk_dm, "hold list").await;
    assert_eq!(refused, "Only bridge admins may do that.");
    // The driver's ghost names the same person: one hold in force per person.
    let again = admin
        .ask(
            &admin_dm,
            &format!("hold set @threema_abcd1234:{DOMAIN} --reason again"),
        )
        .await;
    assert_eq!(
        again,
        "driver ABCD1234 is under a hold already; nothing changed"
    );
    let usage = admin.ask(&admin_dm, "hold set ABCD1234").await;
    assert!(usage.starts_with("Usage: hold set"), "{usage}");

    // The command line sees the same holds and adds its own.
    let (ok, out, err) = hold(&config, &["list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("on driver ABCD1234")
            && out.contains(&format!(
                "by {admin_id}; case C-17; dispute over a delivery"
            )),
        "{out}"
    );
    let room = format!("!disputed:{DOMAIN}");
    let (ok, out, err) = hold(&config, &["set", &room, "--reason", "works council"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("set on room {room}")), "{out}");
    for (args, why) in [
        (
            vec!["set", "nobody-known", "--reason", "x"],
            "is neither an employee ID of the directory, a Threema ID nor a Matrix user ID",
        ),
        (vec!["set", "ABCD1234", "--reason", " "], "needs a reason"),
        (
            vec!["set", "#threema_abcd1234:dispatch.test", "--reason", "x"],
            "ABCD1234 has no portal",
        ),
        (
            vec!["set", "#lobby:dispatch.test", "--reason", "x"],
            "is not a portal's alias",
        ),
    ] {
        let (ok, _, err) = hold(&config, &args);
        assert!(!ok && err.contains(why), "{args:?}: {err}");
    }
    assert_eq!(h.bridge.store.holds(false).await.unwrap().len(), 2);

    let released = admin.ask(&admin_dm, "hold release ABCD1234").await;
    assert_eq!(released, "hold on driver ABCD1234 released");
    let (ok, _, err) = hold(&config, &["release", "ABCD1234"]);
    assert!(
        !ok && err.contains("no hold is in force on driver ABCD1234"),
        "{err}"
    );
    let (ok, out, _) = hold(&config, &["list"]);
    assert!(
        ok && !out.contains("ABCD1234") && out.contains(&room),
        "{out}"
    );
    let (ok, out, _) = hold(&config, &["list", "--all"]);
    assert!(
        ok && out.contains("ABCD1234") && out.contains(&format!("by {admin_id})")),
        "{out}"
    );
    let list = admin.ask(&admin_dm, "hold list").await;
    assert!(
        list.contains(&room) && list.contains("by cli:dpo"),
        "{list}"
    );

    // Each change is in the audit log, with who made it.
    let audit = h
        .bridge
        .store
        .audit_recent(Some("ABCD1234"), 10)
        .await
        .unwrap();
    let entries: Vec<_> = audit
        .iter()
        .rev()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    // The admin's commands (a Threema ID typed in any case) and what they did.
    assert_eq!(
        entries,
        [
            ("command.hold", admin_id.as_str()),
            ("hold.set", admin_id.as_str()),
            ("command.hold", admin_id.as_str()),
            ("hold.released", admin_id.as_str())
        ]
    );
    let audit = h.bridge.store.audit_recent(Some(&room), 10).await.unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str()),
        ("hold.set", "cli:dpo")
    );
    h.stop().await;
}

/// Every text in every column of every table, the tables and columns read from the schema (so
/// that a table added later is searched too): (table, column, value).
async fn every_text(url: &str) -> Vec<(String, String, String)> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let columns: Vec<(String, String)> = if url.starts_with("sqlite:") {
        sqlx::query(
            "SELECT m.name AS t, c.name AS c FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND c.type = 'TEXT'",
        )
    } else {
        sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND data_type = 'text'",
        )
    }
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("t"), r.get("c")))
    .collect();
    assert!(columns.len() > 40, "the schema was read: {columns:?}");
    let mut texts = Vec::new();
    for (table, column) in columns {
        let sql = format!("SELECT {column} AS v FROM {table} WHERE {column} IS NOT NULL");
        for row in sqlx::query(&sql).fetch_all(&mut conn).await.unwrap() {
            texts.push((table.clone(), column.clone(), row.get::<String, _>("v")));
        }
    }
    texts
}

/// The texts that mention any of `needles` (case-insensitive).
async fn mentions(url: &str, needles: &[&str]) -> Vec<(String, String, String)> {
    every_text(url)
        .await
        .into_iter()
        .filter(|(_, _, v)| {
            let v = v.to_lowercase();
            needles.iter().any(|n| v.contains(&n.to_lowercase()))
        })
        .collect()
}

/// `gdpr erase ARGS`: (exit code, stdout, stderr).
fn erase(config: &Path, args: &[&str]) -> (i32, String, String) {
    gdpr(config, "erase", args)
}

/// The admin API's answer about `path` (status, JSON).
async fn admin_get(h: &Harness, path: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/_synapse/admin/{path}", h.synapse.url))
        .bearer_auth(&h.synapse.admin_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The status of a client-server API GET (`/_matrix/client/<path>`), as an admin.
async fn client_get(h: &Harness, path: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/_matrix/client/{path}", h.synapse.url))
        .bearer_auth(&h.synapse.admin_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn encoded(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_driver_is_gone_from_the_homeserver_and_every_bridge_table_on_sqlite() {
    an_erased_driver_is_gone_from_the_homeserver_and_every_bridge_table(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_driver_is_gone_from_the_homeserver_and_every_bridge_table_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    an_erased_driver_is_gone_from_the_homeserver_and_every_bridge_table(db).await;
}

async fn an_erased_driver_is_gone_from_the_homeserver_and_every_bridge_table(db: TestDb) {
    use common::threema::add_phone;
    use threema_bridge::store::Direction;
    use threema_gateway_sim::{Behaviour, UserMessage};
    const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

    let desk_localpart = unique_localpart("desk");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let url = db.url().to_owned();
    let (h, sim) = Harness::with_simulator_on(db, |c| {
        c.dispatchers = vec![desk_id.clone()];
        c.with_synapse_admin();
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
    let name = "Erika Erasmus";
    let driver = add_phone(&sim, 'E', name, Behaviour::silent());
    let other = add_phone(&sim, 'O', "Otto Other", Behaviour::silent());
    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);

    // A text and a file from the driver, an answer from the desk, and a colleague's chat that
    // mentions her.
    let first = sim
        .send_from_user(&driver, UserMessage::text("Hallo, hier Erika"))
        .await
        .unwrap();
    let room = desk.wait_invite(WAIT).await;
    desk.join(&room).await;
    let ghost = format!("@threema_{}:{DOMAIN}", driver.to_lowercase());
    sim.send_from_user(
        &driver,
        UserMessage::file(
            b"%PDF-1.4 Lieferschein".to_vec(),
            "application/pdf",
            Some("ls.pdf"),
        ),
    )
    .await
    .unwrap();
    let file = desk.wait_messages(&room, 2, WAIT).await[1]["content"]["url"]
        .as_str()
        .expect("the file's mxc URI")
        .to_owned();
    let download = format!("v1/media/download/{}", file.strip_prefix("mxc://").unwrap());
    assert_eq!(
        client_get(&h, &download).await,
        200,
        "the file is on the homeserver"
    );
    let (_, media) = admin_get(&h, &format!("v1/users/{}/media", encoded(&ghost))).await;
    assert_eq!(media["total"], 1, "the ghost uploaded it: {media}");
    // Her poll, and her vote in it.
    let pause = |closed| UserMessage::PollSetup {
        poll_id: 5,
        description: "Pause?".into(),
        choices: vec!["Ja".into(), "Nein".into()],
        multiple: false,
        closed,
    };
    sim.send_from_user(&driver, pause(false)).await.unwrap();
    sim.send_from_user(
        &driver,
        UserMessage::PollVote {
            creator: driver.clone(),
            poll_id: 5,
            choices: vec![(0, true), (1, false)],
        },
    )
    .await
    .unwrap();
    common::synapse::wait_for("her vote recorded", WAIT, || async {
        let poll = h
            .bridge
            .store
            .poll_get(&driver, &driver, 5)
            .await
            .unwrap()?;
        let votes = h.bridge.store.poll_votes(&poll).await.unwrap();
        (!votes.is_empty()).then_some(())
    })
    .await;
    // A greeting scheduled for her (tomorrow's 05:55 is far off).
    let scheduled = desk
        .ask(&room, "!every daily 05:55 Guten Morgen, Erika Erasmus")
        .await;
    assert!(scheduled.starts_with("⏰ Scheduled #"), "{scheduled}");
    desk.send_text(&room, "Danke, Erika Erasmus!").await;
    common::synapse::wait_for("the answer on the phone", WAIT, || async {
        (!sim.inbox(&driver).is_empty()).then_some(())
    })
    .await;
    sim.send_from_user(&other, UserMessage::text("Otto hier"))
        .await
        .unwrap();
    let other_room = desk.wait_invite(WAIT).await;
    desk.join(&other_room).await;
    desk.send_text(&other_room, &format!("Bitte mit {name} tauschen"))
        .await;
    let store = &h.bridge.store;
    common::synapse::wait_for("both answers sent", WAIT, || async {
        (sim.inbox(&other).len() == 1).then_some(())
    })
    .await;
    assert!(
        store
            .message_by_threema_id(&driver, &first, Direction::In)
            .await
            .unwrap()
            .is_some()
    );
    // Her erasure request, in the register until the erasure is done.
    let (code, _, err) = gdpr(&config, "requests", &["add", "erasure", &driver]);
    assert_eq!(code, 0, "{err}");

    // Reported to the homeserver's admins (the report quotes her message).
    let reported = desk.wait_messages(&room, 1, WAIT).await[0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.synapse
        .appservice_bot()
        .report(&room, &reported, "Ton")
        .await;
    let (_, reports) = admin_get(&h, &format!("v1/event_reports?room_id={}", encoded(&room))).await;
    assert_eq!(reports["total"], 1, "{reports}");
    let before = mentions(&url, &[&driver, name]).await;
    assert!(
        before.len() > 5,
        "the driver is all over the store: {before:?}"
    );

    // Still active: a driver in no directory is not; --dry-run changes nothing.
    let (code, out, err) = erase(&config, &[&driver, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("would erase") && out.contains("bridge table message:"),
        "{out}"
    );
    assert_eq!(mentions(&url, &[&driver, name]).await, before);
    assert_eq!(
        admin_get(&h, &format!("v1/rooms/{}", encoded(&room)))
            .await
            .0,
        200
    );

    // Under a legal hold: exit 3, nothing erased, processing restricted instead (Art. 18):
    // the portal read-only without the desk, nothing bridged from her.
    let (ok, _, err) = hold(&config, &["set", &driver, "--reason", "dispute"]);
    assert!(ok, "{err}");
    let (code, _, err) = erase(&config, &[&driver]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("under a legal hold"), "{err}");
    assert_eq!(
        admin_get(&h, &format!("v1/rooms/{}", encoded(&room)))
            .await
            .0,
        200
    );
    assert_eq!(client_get(&h, &download).await, 200, "her file stays");
    let (_, members) = admin_get(&h, &format!("v1/rooms/{}/members", encoded(&room))).await;
    let members: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(!members.contains(&desk_id.as_str()), "{members:?}");
    let (_, state) = admin_get(&h, &format!("v1/rooms/{}/state", encoded(&room))).await;
    let levels = state["state"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.room.power_levels")
        .unwrap();
    assert_eq!(levels["content"]["events_default"], 100, "read-only");
    let shown = bridge_events_naming(&h, &ghost, &["noch da?"]).await.len();
    let outcome = later_message_outcome(&sim, store, &driver).await;
    assert!(outcome.contains("restricted"), "{outcome}");
    assert_eq!(
        bridge_events_naming(&h, &ghost, &["noch da?"]).await.len(),
        shown,
        "not in her portal"
    );
    let (ok, _, err) = hold(&config, &["release", &driver]);
    assert!(ok, "{err}");

    // Killed (SIGKILL) after the room is purged, while the ghost is being deactivated: the
    // next run finishes what is left.
    let proxy = common::http_proxy::HttpProxy::start(&h.synapse.url).await;
    let mut through_proxy = h.config.clone();
    through_proxy.homeserver_url = Some(proxy.url.clone());
    let proxy_dir = tempfile::tempdir().unwrap();
    let proxy_config = through_proxy.write(proxy_dir.path(), h.synapse);
    proxy.hold("/deactivate/");
    let mut cut_off = Command::new(env!("CARGO_BIN_EXE_threema-bridge"))
        .arg("-c")
        .arg(&proxy_config)
        .args(["gdpr", "erase", &driver])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::timeout(WAIT, proxy.held(1))
        .await
        .expect("the erasure reached the ghost");
    cut_off.kill().unwrap();
    cut_off.wait().unwrap();
    proxy.pass();
    let (status, _) = admin_get(&h, &format!("v1/rooms/{}", encoded(&room))).await;
    assert_eq!(status, 404, "the portal was purged before the kill");
    assert!(store.portal_by_threema_id(&driver).await.unwrap().is_some());

    let (code, out, err) = erase(&config, &[&driver]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("erased (tombstone"), "{out}");
    // The portal is purged, the ghost deactivated and its media gone.
    let (status, _) = admin_get(&h, &format!("v1/rooms/{}", encoded(&room))).await;
    assert_eq!(status, 404, "the portal is gone");
    let (_, user) = admin_get(&h, &format!("v2/users/{}", encoded(&ghost))).await;
    assert_eq!(user["deactivated"], true, "{user}");
    let (_, media) = admin_get(&h, &format!("v1/users/{}/media", encoded(&ghost))).await;
    assert_eq!(media["total"], 0, "{media}");
    let (_, reports) = admin_get(&h, &format!("v1/event_reports?room_id={}", encoded(&room))).await;
    assert_eq!(reports["total"], 0, "the report is gone: {reports}");
    assert_eq!(client_get(&h, &download).await, 404, "the file is gone");
    // Neither her ID nor her name is in any text of any table; the colleague's chat stays,
    // without her name.
    let left = mentions(&url, &[&driver, name]).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(store.portal_by_threema_id(&other).await.unwrap().is_some());
    // The tombstone: done, and without personal data (the scan above covers it).
    let audit = store.audit_recent(None, 5).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "gdpr.erased" && e.actor == "cli:dpo")
    );

    let (_, open, _) = gdpr(&config, "requests", &[]);
    assert_eq!(open.trim(), "no open requests", "the erasure answered it");

    // A second run finds nothing more and still succeeds.
    let (code, _, err) = erase(&config, &[&driver]);
    assert_eq!(code, 0, "{err}");

    // A later message from her ID opens no portal and no ghost by itself (tests run with
    // `unknown_senders: open`): it is quarantined like an unknown sender's.
    let outcome = later_message_outcome(&sim, store, &driver).await;
    assert!(outcome.contains("unknown sender: quarantined"), "{outcome}");
    assert!(store.portal_by_threema_id(&driver).await.unwrap().is_none());
    assert!(store.ghost_by_threema_id(&driver).await.unwrap().is_none());
    h.stop().await;
}

/// Admins are reminded of a request a week before it is due, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_are_reminded_of_a_request_a_week_before_it_is_due_once() {
    let admin = unique_localpart("dpo");
    let admin_id = format!("@{admin}:{DOMAIN}");
    let (mut h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![admin_id.clone()];
        c.bridge_extra = format!("  permissions:\n    \"{admin_id}\": admin");
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &admin, "Dana Protect").await;
    let dm = desk.management_room().await;
    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);
    let soon = (time::OffsetDateTime::now_utc() - time::Duration::days(26)).date();
    let later = time::OffsetDateTime::now_utc().date();
    for (who, received) in [("ECHO1234", soon), ("FOXY5678", later)] {
        let (code, _, err) = gdpr(
            &config,
            "requests",
            &["add", "erasure", who, "--received", &received.to_string()],
        );
        assert_eq!(code, 0, "{err}");
    }
    let reminders = || async {
        desk.timeline(&dm)
            .await
            .into_iter()
            .filter(|e| e["sender"] == BOT)
            .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
            .filter(|b| b.starts_with("GDPR request"))
            .collect::<Vec<_>>()
    };
    // The bridge looks at start (and hourly).
    h.restart(Some(&sim)).await;
    let wait = std::time::Duration::from_secs(30);
    let shown = desk
        .wait_until("the reminder", wait, || async {
            let shown = reminders().await;
            (!shown.is_empty()).then_some(shown)
        })
        .await;
    assert!(shown[0].contains("erasure of ECHO1234"), "{shown:?}");
    assert!(shown[0].contains("gdpr erase ECHO1234"), "{shown:?}");
    h.restart(Some(&sim)).await;
    let (_, open, _) = gdpr(&config, "requests", &[]);
    assert!(open.contains("FOXY5678"), "{open}");
    assert_eq!(
        reminders().await.len(),
        1,
        "once, and not for the later one"
    );
    h.stop().await;
}

/// A dispatcher's erasure: their access and their own rows go; what they wrote to drivers stays
/// in the portals and in the bridge's records, under a fixed pseudonym instead of their ID and
/// name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_dispatcher_loses_access_and_their_name_but_what_they_wrote_stays() {
    use common::threema::add_phone;
    use threema_gateway_sim::{Behaviour, UserMessage};
    const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

    let desk_localpart = unique_localpart("dora");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![desk_id.clone()];
        c.with_synapse_admin();
    })
    .await;
    let url = h.config.db_url.clone();
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Dora Deskwoman").await;
    let driver = add_phone(&sim, 'D', "Dieter Fahrer", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Hallo"))
        .await
        .unwrap();
    let room = desk.wait_invite(WAIT).await;
    desk.join(&room).await;
    let answer = desk.send_text(&room, "Tour 7 geht heute an Dieter").await;
    sim.wait_inbox(&driver, 1, WAIT).await;
    let dm = desk.management_room().await;
    desk.ask(&dm, "help").await;
    assert!(
        !mentions(&url, &[&desk_id, "Dora Deskwoman"])
            .await
            .is_empty()
    );
    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);

    let (code, out, err) = erase(&config, &[&desk_id, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rooms left: 2"), "{out}");
    let (code, out, err) = erase(&config, &[&desk_id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("erased (tombstone"), "{out}");

    // No access: out of the portal; the bot left the management room.
    let (_, members) = admin_get(&h, &format!("v1/rooms/{}/members", encoded(&room))).await;
    assert!(
        !members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == desk_id.as_str()),
        "{members}"
    );
    assert!(
        !h.synapse
            .appservice_bot()
            .joined_rooms()
            .await
            .contains(&dm)
    );
    // What they wrote stays in the portal, unredacted.
    let timeline = h.synapse.appservice_bot().timeline(&room).await;
    let kept = timeline.iter().find(|e| e["event_id"] == answer.as_str());
    assert_eq!(
        kept.unwrap()["content"]["body"],
        "Tour 7 geht heute an Dieter"
    );
    // Nowhere in the bridge's tables under their ID or name; the send is the pseudonym's.
    let left = mentions(&url, &[&desk_id, "Dora Deskwoman"]).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    let sends = h.bridge.store.outbox_by_event(&answer).await.unwrap();
    assert!(
        sends[0].sender.localpart().starts_with("erased-"),
        "{:?}",
        sends[0].sender
    );
    assert!(
        h.bridge
            .store
            .audit_recent(None, 5)
            .await
            .unwrap()
            .iter()
            .any(|e| e.action == "gdpr.erased" && e.details.contains("a dispatcher"))
    );
    // Again: nothing left to do.
    let (code, _, err) = erase(&config, &[&desk_id]);
    assert_eq!(code, 0, "{err}");
    h.stop().await;
}

/// The events of the bot's and of `ghost`'s, in every room the bot is in (edits included),
/// whose content mentions any of `needles` (case-insensitive).
async fn bridge_events_naming(
    h: &Harness,
    ghost: &str,
    needles: &[&str],
) -> Vec<serde_json::Value> {
    let bot = h.synapse.appservice_bot();
    let mut found = Vec::new();
    for room in bot.joined_rooms().await {
        for event in bot.timeline(&room).await {
            let sender = event["sender"].as_str().unwrap_or_default();
            let content = event["content"].to_string().to_lowercase();
            if (sender == bot.user_id || sender == ghost)
                && needles.iter().any(|n| content.contains(&n.to_lowercase()))
            {
                found.push(event);
            }
        }
    }
    found
}

/// The line of an erasure's report on the events outside the portal.
fn elsewhere(report: &str) -> &str {
    report
        .lines()
        .find(|l| l.contains("homeserver events elsewhere:"))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_erases_a_driver_from_the_management_room() {
    use common::threema::add_phone;
    use threema_gateway_sim::{Behaviour, UserMessage};
    const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

    let desk_localpart = unique_localpart("desk");
    let admin_localpart = unique_localpart("admin");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let admin_id = format!("@{admin_localpart}:{DOMAIN}");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![desk_id.clone()];
        c.bridge_extra = format!("  permissions: {{ \"{admin_id}\": admin }}");
        c.with_synapse_admin();
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
    let admin = Dispatcher::login(h.synapse, &admin_localpart, "Admin").await;
    let driver = add_phone(&sim, 'M', "Mara Management", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Hallo"))
        .await
        .unwrap();
    let room = desk.wait_invite(WAIT).await;
    desk.join(&room).await;
    desk.wait_messages(&room, 1, WAIT).await;

    let desk_dm = desk.management_room().await;
    // The bot names her in the desk's management room.
    let found = desk.ask(&desk_dm, "find Mara").await;
    assert!(found.contains("Mara Management"), "{found}");
    let ghost = format!("@threema_{}:{DOMAIN}", driver.to_lowercase());
    let needles = [driver.as_str(), "Mara Management"];
    assert!(!bridge_events_naming(&h, &ghost, &needles).await.is_empty());
    let refused = desk.ask(&desk_dm, &format!("erase {driver}")).await;
    assert_eq!(refused, "Only bridge admins may do that.");
    let admin_dm = admin.management_room().await;
    let preview = admin
        .ask(&admin_dm, &format!("erase {driver} --dry-run"))
        .await;
    assert!(
        preview.starts_with("Would erase:")
            && preview.contains("bridge table portal: 1 row(s)")
            && elsewhere(&preview).contains(r#""redacted":1,"#),
        "{preview}"
    );
    assert_eq!(
        admin_get(&h, &format!("v1/rooms/{}", encoded(&room)))
            .await
            .0,
        200
    );
    let done = admin.ask(&admin_dm, &format!("erase {driver}")).await;
    assert!(done.starts_with("Erased (tombstone"), "{done}");
    // Nothing the bridge posted anywhere names her any more; what the desk wrote stays.
    let left = bridge_events_naming(&h, &ghost, &needles).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(elsewhere(&done).contains(r#""redacted":1,"#), "{done}");
    let asked = desk.messages(&desk_dm).await;
    assert!(asked.iter().any(|m| m["content"]["body"] == "find Mara"));
    assert_eq!(
        admin_get(&h, &format!("v1/rooms/{}", encoded(&room)))
            .await
            .0,
        404
    );
    let store = &h.bridge.store;
    assert!(store.portal_by_threema_id(&driver).await.unwrap().is_none());
    let audit = store.audit_recent(None, 5).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "gdpr.erased" && e.actor == admin_id),
        "{audit:?}"
    );
    h.stop().await;
}

/// A broadcast that reached an erased driver gets a new board without them; the old one, which
/// counted (and named) them, is redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_rebuilds_the_boards_of_broadcasts_that_reached_the_driver() {
    use common::threema::add_phone;
    use threema_gateway_sim::{Behaviour, UserMessage};
    const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

    let desk_localpart = unique_localpart("desk");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![desk_id.clone()];
        c.sections = "broadcast:\n  board_interval_ms: 300\n".into();
        c.with_synapse_admin();
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
    let mara = add_phone(&sim, 'M', "Mara Board", Behaviour::silent());
    let otto = add_phone(&sim, 'O', "Otto Board", Behaviour::silent());
    for driver in [&mara, &otto] {
        sim.send_from_user(driver, UserMessage::text("Hallo"))
            .await
            .unwrap();
        let room = desk.wait_invite(WAIT).await;
        desk.join(&room).await;
    }
    let dm = desk.management_room().await;
    let (_, room) = crate::broadcasts::open_broadcast(&desk, &dm, "all").await;
    let (_, old_board, _) = crate::broadcasts::broadcast(&desk, &room, "Tor 3 gesperrt").await;
    let board_body = |event: Value| event["content"]["body"].as_str().map(str::to_owned);
    desk.wait_until("both sent", WAIT, || async {
        let timeline = desk.timeline(&room).await;
        timeline
            .iter()
            .any(|e| {
                e["content"]["m.relates_to"]["event_id"] == old_board.as_str()
                    && e["content"]["m.new_content"]["body"]
                        .as_str()
                        .is_some_and(|b| b.contains("to 2 driver(s): sent 2"))
            })
            .then_some(())
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);
    let (code, out, err) = erase(&config, &[&mara]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("homeserver boards: 1"), "{out}");
    let new_board = desk
        .wait_until("a new board", WAIT, || async {
            desk.timeline(&room).await.into_iter().find(|e| {
                e["sender"] == BOT
                    && e["event_id"] != old_board.as_str()
                    && e["content"]["m.relates_to"]["rel_type"].is_null()
                    && board_body(e.clone()).is_some_and(|b| b.starts_with("📢"))
            })
        })
        .await;
    let text = board_body(new_board).unwrap();
    assert!(text.contains("Broadcast to 1 driver(s): sent 1"), "{text}");
    assert!(!text.contains("Mara"), "{text}");
    let old = desk.event(&room, &old_board).await;
    assert!(
        old["content"].as_object().unwrap().is_empty(),
        "redacted: {old}"
    );
    h.stop().await;
}

/// A directory CSV listing these drivers: (employee ID, Threema ID, name).
fn drivers_csv(path: &Path, drivers: &[(String, String, &str)]) {
    let mut text = "employee_id,display_name,role,active,threema_id\n".to_owned();
    for (employee, id, name) in drivers {
        text.push_str(&format!("{employee},{name},driver,true,{id}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// What became of a message `driver` sends now, as the Threema inbox recorded it.
async fn later_message_outcome(
    sim: &threema_gateway_sim::Simulator,
    store: &threema_bridge::store::Store,
    driver: &str,
) -> String {
    let later = sim
        .send_from_user(driver, threema_gateway_sim::UserMessage::text("noch da?"))
        .await
        .unwrap();
    let wait = std::time::Duration::from_secs(30);
    common::synapse::wait_for("the later message handled", wait, || async {
        store
            .threema_inbox_outcome(driver, &later)
            .await
            .unwrap()
            .flatten()
    })
    .await
}

/// An erasure on the command line while the bridge runs: a later message from the erased
/// driver, whom the running bridge's directory view still holds as a former driver until its
/// next pass, is a stranger's (quarantined), and nothing is audited under their ID again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_erased_on_the_command_line_is_a_stranger_to_the_running_bridge() {
    use threema_bridge::bridge::directory::SyncOptions;
    use threema_gateway_sim::{Behaviour, UserMessage, UserSpec};
    const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let t = hex::encode(rand::random::<[u8; 3]>());
    let id = common::threema::unique_threema_id('S');
    let employee = format!("S{t}");
    drivers_csv(&csv, &[(employee.clone(), id.clone(), "Stella Stranger")]);
    let (h, sim) = Harness::with_simulator(|c| {
        c.directory = format!(
            "  csv: {}\n  check_seconds: 3600\n  sync_interval_seconds: 0\n",
            csv.display()
        );
        c.with_synapse_admin();
    })
    .await;
    let store = &h.bridge.store;
    let sync = async |force| {
        let options = SyncOptions {
            force,
            ..Default::default()
        };
        h.bridge.directory.sync(options).await.expect("sync runs");
    };
    sync(false).await;
    sim.add_user(
        UserSpec::new(&id)
            .nickname("Stella")
            .behaviour(Behaviour::silent()),
    );
    sim.send_from_user(&id, UserMessage::text("Hallo"))
        .await
        .unwrap();
    common::synapse::wait_for("her portal", WAIT, || async {
        store.portal_by_threema_id(&id).await.unwrap()
    })
    .await;
    drivers_csv(&csv, &[]);
    sync(true).await;
    let config_dir = tempfile::tempdir().unwrap();
    let config = h.config.write(config_dir.path(), h.synapse);
    let (code, _, err) = erase(&config, &[&employee]);
    assert_eq!(code, 0, "{err}");

    let outcome = later_message_outcome(&sim, store, &id).await;
    assert!(outcome.contains("unknown sender: quarantined"), "{outcome}");
    // Her audit entries stay in the chain, which still verifies; her ID no longer finds them
    // and nothing in them can be read: her pseudonym and key are gone.
    assert!(store.audit_recent(Some(&id), 10).await.unwrap().is_empty());
    let audit = store.audit_recent(None, 50).await.unwrap();
    let hers = (audit.iter())
        .filter(|e| e.action == "driver.offboarded" || e.action == "inbound.refused")
        .collect::<Vec<_>>();
    assert!(!hers.is_empty(), "{audit:?}");
    for entry in hers {
        assert_eq!(
            (entry.subject.as_str(), entry.details.as_str()),
            (UNREADABLE, UNREADABLE),
            "{audit:?}"
        );
    }
    let (code, out, err) = common::bridge::run_cli(&config, &["audit", "verify"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("OK "), "{out}");
    h.stop().await;
}

/// `gdpr.erase_after_days`: a driver the directory offboarded is erased by the bridge itself
/// once that many days have passed (0 here: after the directory's next pass), as `gdpr erase`
/// would; one under a legal hold is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_erases_offboarded_drivers_after_erase_after_days_unless_held() {
    use common::threema::unique_threema_id;
    use threema_bridge::{
        bridge::{
            directory::SyncOptions,
            lifecycle::{due, erase::IdHasher},
        },
        config::Config,
        store::HoldTarget,
        threema::ThreemaId,
    };
    use threema_gateway_sim::{Behaviour, UserMessage, UserSpec};
    const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let t = hex::encode(rand::random::<[u8; 3]>());
    let drivers = [
        (format!("E{t}-1"), unique_threema_id('E'), "Elsa Erasmus"),
        (format!("E{t}-2"), unique_threema_id('E'), "Hanna Hold"),
    ];
    let write_csv = |listed: &[(String, String, &str)]| drivers_csv(&csv, listed);
    write_csv(&drivers);
    let (h, sim) = Harness::with_simulator(|c| {
        c.directory = format!(
            "  csv: {}\n  check_seconds: 3600\n  sync_interval_seconds: 0\n",
            csv.display()
        );
        c.with_synapse_admin();
        c.sections.push_str("gdpr:\n  erase_after_days: 0\n");
    })
    .await;
    let store = &h.bridge.store;
    // No timers in this config: the test says when the directory is read.
    h.bridge
        .directory
        .sync(SyncOptions::default())
        .await
        .expect("sync runs");
    let mut rooms = Vec::new();
    for (_, id, name) in &drivers {
        sim.add_user(
            UserSpec::new(id)
                .nickname(name)
                .behaviour(Behaviour::silent()),
        );
        sim.send_from_user(id, UserMessage::text("Guten Morgen"))
            .await
            .unwrap();
        let portal = common::synapse::wait_for("the driver's portal", WAIT, || async {
            store.portal_by_threema_id(id).await.unwrap()
        })
        .await;
        rooms.push(portal.room_id.to_string());
    }
    let (held_employee, held_id, _) = &drivers[1];
    let held = ThreemaId::parse(held_id).unwrap();
    store
        .hold_set(&HoldTarget::Driver(held), "dispute", None, "cli:dpo")
        .await
        .unwrap()
        .expect("a new hold");

    // Both leave the company: the directory offboards them, the bridge erases the one it may.
    write_csv(&[]);
    let force = SyncOptions {
        force: true, // every driver gone at once trips the safety stop otherwise
        ..SyncOptions::default()
    };
    h.bridge.directory.sync(force).await.expect("sync runs");
    let (erased_employee, erased_id, _) = &drivers[0];
    // The audit entry is the erasure's last step.
    common::synapse::wait_for("the offboarded driver erased", WAIT, || async {
        let audit = store.audit_recent(None, 20).await.unwrap();
        audit
            .iter()
            .any(|e| e.action == "gdpr.erased" && e.actor == due::ACTOR)
            .then_some(())
    })
    .await;
    let room = admin_get(&h, &format!("v1/rooms/{}", encoded(&rooms[0]))).await;
    assert_eq!(room.0, 404, "the portal is purged");
    assert!(
        store
            .portal_by_threema_id(erased_id)
            .await
            .unwrap()
            .is_none()
    );
    let names = [erased_id.as_str(), erased_employee, "Elsa Erasmus"];
    let left = mentions(&h.config.db_url, &names).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    // The held one is due too, and kept: a pass run now finds her held, and nothing else.
    let config_dir = tempfile::tempdir().unwrap();
    let config = Config::load(&h.config.write(config_dir.path(), h.synapse)).unwrap();
    let pass = due::DueErasures {
        store: store.clone(),
        matrix: h.bridge.matrix.clone(),
        admin: config.synapse_admin.clone().expect("set"),
        domain: config.homeserver.domain.clone(),
        hasher: IdHasher::new(&config),
        zone: config.bridge.timezone.clone(),
        after: std::time::Duration::ZERO,
        wake: Default::default(),
        directory: Default::default(),
    }
    .once()
    .await
    .unwrap();
    assert_eq!(pass, due::Pass { erased: 0, held: 1 });
    assert_eq!(
        admin_get(&h, &format!("v1/rooms/{}", encoded(&rooms[1])))
            .await
            .0,
        200
    );
    assert!(store.portal_by_threema_id(held_id).await.unwrap().is_some());
    assert!(store.employee_by_id(held_employee).await.unwrap().is_some());
    h.stop().await;
}

/// `gdpr.driver_notice` (Art. 13): a driver who writes first gets the privacy notice in answer,
/// one the desk writes to first gets it before the desk's message, each once; the portal shows
/// it as the bot's notice; a changed text goes out again, once, before what follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_driver_gets_the_privacy_notice_once_per_text_before_anything_else() {
    use common::threema::add_phone;
    use threema_gateway_sim::{Behaviour, Decoded, Simulator, UserMessage};
    const WAIT: std::time::Duration = std::time::Duration::from_secs(30);
    const FIRST: &str =
        "Datenschutzhinweis: Ihre Nachrichten an die Disposition werden 90 Tage gespeichert.";
    const CHANGED: &str = "Datenschutzhinweis (neu): 60 Tage.";
    let texts = |sim: &Simulator, driver: &str| -> Vec<String> {
        sim.inbox(driver)
            .into_iter()
            .filter_map(|m| match m.message {
                Decoded::Text(text) => Some(text),
                _ => None,
            })
            .collect()
    };
    let phone_has = async |sim: &Simulator, driver: &str, n: usize| {
        common::synapse::wait_for("the phone's messages", WAIT, || async {
            (texts(sim, driver).len() >= n).then_some(())
        })
        .await;
        texts(sim, driver)
    };

    let desk_localpart = unique_localpart("desk");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let gdpr = |text: &str| format!("gdpr:\n  driver_notice: \"{text}\"\n");
    let (mut h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![desk_id.clone()];
        c.sections.push_str(&gdpr(FIRST));
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;

    // Nora writes first: the notice answers her, and the desk sees it in her portal.
    let nora = add_phone(&sim, 'N', "Nora Notice", Behaviour::silent());
    sim.send_from_user(&nora, UserMessage::text("Hallo"))
        .await
        .unwrap();
    let room = desk.wait_invite(WAIT).await;
    desk.join(&room).await;
    assert_eq!(phone_has(&sim, &nora, 1).await, [FIRST]);
    let shown = desk
        .wait_message(&room, "the notice in the portal", |m| {
            m["sender"] == BOT
                && m["content"]["body"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(FIRST)
        })
        .await;
    assert_eq!(shown["content"]["msgtype"], "m.notice");
    // The desk answers, she writes again: no second notice.
    desk.send_text(&room, "Guten Tag").await;
    let got = phone_has(&sim, &nora, 2).await;
    assert!(got[1].ends_with("Guten Tag"), "{got:?}");
    sim.send_from_user(&nora, UserMessage::text("Danke"))
        .await
        .unwrap();
    desk.wait_messages(&room, 2, WAIT).await;
    desk.send_text(&room, "Gern").await;
    let got = phone_has(&sim, &nora, 3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[2].ends_with("Gern"), "{got:?}");

    // Otto is written to first: the notice goes before the desk's message.
    let otto = add_phone(&sim, 'N', "Otto Offen", Behaviour::silent());
    let dm = desk.management_room().await;
    let started = desk.ask(&dm, &format!("start {otto}")).await;
    let otto_room = started
        .split("https://matrix.to/#/")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the portal's link")
        .to_owned();
    desk.join(&otto_room).await;
    desk.send_text(&otto_room, "Willkommen").await;
    let got = phone_has(&sim, &otto, 2).await;
    assert_eq!(got[0], FIRST, "{got:?}");
    assert!(got[1].ends_with("Willkommen"), "{got:?}");

    // A new text: Nora gets it once, before the desk's next message.
    h.config.sections = h.config.sections.replace(&gdpr(FIRST), &gdpr(CHANGED));
    h.restart(Some(&sim)).await;
    desk.send_text(&room, "Neue Regeln").await;
    desk.send_text(&room, "Und noch was").await;
    let got = phone_has(&sim, &nora, 6).await;
    assert_eq!(got[3], CHANGED, "{got:?}");
    assert!(
        got[4].ends_with("Neue Regeln") && got[5].ends_with("Und noch was"),
        "{got:?}"
    );
    assert_eq!(got.iter().filter(|t| *t == CHANGED).count(), 1, "{got:?}");
    h.stop().await;
}

/// The log keeps no personal data: the real binary at debug level, fed a directory with phone
/// numbers and email addresses and bridging texts both ways, writes neither, nor a message's
/// words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_at_debug_level_holds_no_phone_number_email_or_message_text() {
    use common::bridge::{Process, TestConfig};
    use threema_gateway_sim::{Behaviour, UserMessage, UserSpec};
    const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

    let guard = common::synapse::acquire().await;
    let hs = guard.synapse;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let desk_localpart = unique_localpart("desk");
    let mut config = TestConfig::new(db.url());
    config.dispatchers = vec![format!("@{desk_localpart}:{DOMAIN}")];
    let sim = config.start_simulator(|_| {}).await;
    // One driver found by phone, one by email; the directory has both for each.
    let t = hex::encode(rand::random::<[u8; 3]>());
    let phones = [
        format!("4179{:07}", rand::random::<u32>() % 10_000_000),
        format!("4178{:07}", rand::random::<u32>() % 10_000_000),
    ];
    let emails = [
        format!("paula.{t}@example.com"),
        format!("emil.{t}@example.com"),
    ];
    let by_phone = common::threema::unique_threema_id('L');
    let by_email = common::threema::unique_threema_id('L');
    sim.add_user(
        UserSpec::new(&by_phone)
            .phone(&phones[0])
            .behaviour(Behaviour::silent()),
    );
    sim.add_user(
        UserSpec::new(&by_email)
            .email(&emails[1])
            .behaviour(Behaviour::silent()),
    );
    let csv = dir.path().join("directory.csv");
    std::fs::write(
        &csv,
        format!(
            "employee_id,display_name,role,active,phone,email,matrix_id\n\
             L{t}-1,Paula Phone,driver,true,+{},{},\n\
             L{t}-2,Emil Email,driver,true,,{},\n\
             L{t}-3,Desk,dispatcher,true,+{},,@{desk_localpart}:{DOMAIN}\n",
            phones[0], emails[0], emails[1], phones[1]
        ),
    )
    .unwrap();
    config.directory = format!("  csv: {}\n  check_seconds: 3600\n", csv.display());
    let config_path = config.write(dir.path(), hs);
    let log = dir.path().join("bridge.log");
    let bridge = Process::start(&config_path, log.clone()).await;
    let desk = Dispatcher::login(hs, &desk_localpart, "Desk").await;

    let words = ["Ladeliste Kiesgrube Nord", "Kennwort Blau bitte"];
    sim.send_from_user(&by_phone, UserMessage::text(words[0]))
        .await
        .unwrap();
    let store = threema_bridge::store::Store::connect(db.url(), 2)
        .await
        .unwrap();
    let portal = common::synapse::wait_for("the driver's portal", WAIT, || async {
        store.portal_by_threema_id(&by_phone).await.unwrap()
    })
    .await;
    let room = portal.room_id.to_string();
    // The directory invites the desk to its space and the portal.
    common::synapse::wait_for("the desk in the portal", WAIT, || async {
        desk.try_join(&room).await.then_some(())
    })
    .await;
    desk.send_text(&room, words[1]).await;
    common::synapse::wait_for("the answer on the phone", WAIT, || async {
        (!sim.inbox(&by_phone).is_empty()).then_some(())
    })
    .await;
    // The driver found by email was looked up too: the directory's sync has run.
    common::synapse::wait_for("both drivers looked up", WAIT, || async {
        let employees = store.employees().await.unwrap();
        (employees
            .iter()
            .filter(|e| e.looked_up_id.is_some())
            .count()
            == 2)
            .then_some(())
    })
    .await;
    assert!(bridge.terminate().success());

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("DEBUG"), "a debug log:\n{text}");
    for (what, needle) in [
        ("a phone number", phones[0].as_str()),
        ("a phone number", &phones[0][2..]),
        ("a phone number", phones[1].as_str()),
        ("an email address", emails[0].as_str()),
        ("an email address", emails[1].as_str()),
        ("a driver's words", words[0]),
        ("a dispatcher's words", words[1]),
    ] {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
        assert!(lines.is_empty(), "{what} in the log: {lines:#?}");
    }
}
