//! The employee directory end to end: a CSV (and SCIM, and an HTTP endpoint) provisions ghosts,
//! portals, spaces and invites on the real Synapse; changes move, rename and offboard; the
//! safety stop refuses a truncated export. Dispatchers are matrix-sdk clients.

use crate::common;

use std::{collections::HashSet, path::PathBuf, time::Duration};

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart},
    threema::{add_phone, unique_threema_id},
};
use serde_json::{Value, json};
use threema_bridge::bridge::directory::{SyncOptions, SyncReport};
use threema_bridge::store::RoomStateKind;
use threema_gateway_sim::{Behaviour, Fault, Simulator, UserMessage};

const WAIT: Duration = Duration::from_secs(120);
const BOT: &str = "@threemabot:dispatch.test";

fn ghost(driver: &str) -> String {
    format!("@threema_{}:{DOMAIN}", driver.to_lowercase())
}

/// A unique tag, so that spaces and names of earlier runs on the shared homeserver never meet.
fn tag() -> String {
    hex::encode(rand::random::<[u8; 3]>())
}

#[derive(Clone)]
struct Row {
    employee_id: String,
    name: String,
    role: &'static str,
    active: bool,
    threema_id: String,
    matrix_id: String,
    depot: String,
    vehicle: String,
    leave_date: String,
}

impl Row {
    fn driver(n: usize, depot: &str) -> Row {
        Row {
            employee_id: format!("D{n:04}"),
            name: format!("Driver {n}"),
            role: "driver",
            active: true,
            threema_id: unique_threema_id('F'),
            matrix_id: String::new(),
            depot: depot.to_owned(),
            vehicle: n.to_string(),
            leave_date: String::new(),
        }
    }

    fn dispatcher(user_id: &str, depot: &str) -> Row {
        Row {
            employee_id: format!("P-{user_id}"),
            name: user_id.to_owned(),
            role: "dispatcher",
            active: true,
            threema_id: String::new(),
            matrix_id: user_id.to_owned(),
            depot: depot.to_owned(),
            vehicle: String::new(),
            leave_date: String::new(),
        }
    }
}

fn write_csv(path: &PathBuf, rows: &[Row]) {
    let mut text = String::from(
        "employee_id,display_name,role,active,threema_id,matrix_id,depot,vehicle,leave_date\n",
    );
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            r.employee_id,
            r.name,
            r.role,
            r.active,
            r.threema_id,
            r.matrix_id,
            r.depot,
            r.vehicle,
            r.leave_date
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// `directory:` keys for a CSV at `csv`; syncs only when a test asks (no timers).
fn csv_config(csv: &std::path::Path, space_name: &str, extra: &str) -> String {
    format!(
        "  csv: {}\n  check_seconds: 3600\n  sync_interval_seconds: 0\n  space_attributes: [depot]\n  scope_attributes: [depot]\n  ghost_name_template: \"{{display_name}} (Truck {{vehicle}})\"\n  space_name: \"{space_name}\"\n{extra}",
        csv.display()
    )
}

async fn sync(h: &Harness) -> SyncReport {
    h.bridge
        .directory
        .sync(SyncOptions::default())
        .await
        .expect("sync runs")
}

/// The portal rooms a space lists as children (the client must be in the space).
async fn children(client: &Dispatcher, space: &str) -> HashSet<String> {
    client
        .all_state(space)
        .await
        .into_iter()
        .filter(|e| e["type"] == "m.space.child" && e["content"]["via"].is_array())
        .map(|e| e["state_key"].as_str().unwrap().to_owned())
        .collect()
}

/// How many audit entries about `subject` record `action`.
async fn audited(h: &Harness, subject: &str, action: &str) -> usize {
    let audit = h
        .bridge
        .store
        .audit_recent(Some(subject), 100)
        .await
        .unwrap();
    audit.iter().filter(|e| e.action == action).count()
}

async fn portal_of(h: &Harness, threema_id: &str) -> String {
    h.bridge
        .store
        .portal_by_threema_id(threema_id)
        .await
        .unwrap()
        .expect("a portal")
        .room_id
        .to_string()
}

async fn space_of(h: &Harness, key: &str) -> String {
    h.bridge
        .store
        .spaces()
        .await
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no space {key}"))
        .1
}

/// Drivers in the large directory: `DIRECTORY_DRIVERS`, 250 by default (a desk's fleet); CI
/// runs it smaller (scripts/test). At least 20.
fn fleet() -> usize {
    std::env::var("DIRECTORY_DRIVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250)
        .max(20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_csv_of_a_fleet_provisions_the_desk_and_follows_its_changes() {
    let n = fleet();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let t = tag();
    let h = Harness::start(common::db::TestDb::sqlite(), |c| {
        c.directory = csv_config(&csv, &format!("Dispatch {t}"), "");
    })
    .await;
    let boss = Dispatcher::fresh(h.synapse, "boss").await;
    let nora = Dispatcher::fresh(h.synapse, "nora").await;
    let mut others = Vec::new();
    for n in 0..3 {
        others.push(
            h.synapse
                .create_user(&unique_localpart(&format!("desk{n}")), "Desk")
                .await,
        );
    }
    let depots = [format!("North{t}"), format!("South{t}"), format!("East{t}")];
    let mut rows: Vec<Row> = (0..n).map(|i| Row::driver(i, &depots[i % 3])).collect();
    rows.push(Row::dispatcher(&boss.user_id, ""));
    rows.push(Row::dispatcher(&nora.user_id, &depots[0]));
    rows.extend(others.iter().map(|u| Row::dispatcher(u, "")));
    write_csv(&csv, &rows);

    let started = std::time::Instant::now();
    let report = sync(&h).await;
    eprintln!(
        "first sync: {:?}, {} actions, {} homeserver calls",
        started.elapsed(),
        report.applied,
        report.homeserver_calls
    );
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.sources[0].changes.len(), n + 5);
    let north: Vec<&Row> = rows[..n].iter().filter(|r| r.depot == depots[0]).collect();
    let mut portals = HashSet::new();
    for row in &rows[..n] {
        portals.insert(portal_of(&h, &row.threema_id).await);
    }
    assert_eq!(portals.len(), n);

    // The boss (no depot) is invited to every portal, the root space and the 3 depot spaces;
    // Nora (depot North) to North's portals, North's space and the root space.
    let root = space_of(&h, "root").await;
    let north_space = space_of(&h, &format!("depot={}", depots[0])).await;
    let south_space = space_of(&h, &format!("depot={}", depots[1])).await;
    boss.wait_until("the boss's invites", WAIT, || async {
        (boss.rooms_in().len() == n + 4).then_some(())
    })
    .await;
    assert!(boss.rooms_in().is_superset(&portals));
    let nora_expected: HashSet<String> = {
        let mut rooms = HashSet::from([root.clone(), north_space.clone()]);
        for row in &north {
            rooms.insert(portal_of(&h, &row.threema_id).await);
        }
        rooms
    };
    nora.wait_until("Nora's invites", WAIT, || async {
        (nora.rooms_in() == nora_expected).then_some(())
    })
    .await;

    // Each depot space lists exactly its drivers' portals; the root space the depot spaces.
    for space in [&root, &north_space, &south_space] {
        boss.join(space).await;
    }
    let north_portals: HashSet<String> = nora_expected
        .iter()
        .filter(|r| **r != root && **r != north_space)
        .cloned()
        .collect();
    assert_eq!(children(&boss, &north_space).await, north_portals);
    assert_eq!(children(&boss, &root).await.len(), 3);
    assert!(children(&boss, &root).await.contains(&north_space));
    let first = &rows[0];
    assert_eq!(
        boss.display_name_of(&ghost(&first.threema_id))
            .await
            .as_deref(),
        Some("Driver 0 (Truck 0)")
    );

    // Nothing changed: nothing to do, not one homeserver request.
    let again = sync(&h).await;
    assert!(again.planned.is_empty(), "{again}");
    assert_eq!(again.homeserver_calls, 0, "{again}");
    // What IT's Prometheus sees of it: two good syncs, the time of the last one, the people.
    let scrape = h.bridge.metrics_text().await;
    for line in [
        r#"threema_bridge_directory_syncs_total{result="ok"} 2"#,
        &format!(r#"threema_bridge_directory_people{{role="driver",state="active"}} {n}"#),
    ] {
        assert!(scrape.lines().any(|l| l == line), "{line} not in\n{scrape}");
    }
    assert!(
        scrape
            .lines()
            .any(|l| l.starts_with("threema_bridge_directory_last_sync_timestamp_seconds ")),
        "{scrape}"
    );

    // Driver 0 moves from North to South and is renamed; the boss has their portal open.
    let moved_portal = portal_of(&h, &first.threema_id).await;
    boss.join(&moved_portal).await;
    let mut changed = rows.clone();
    changed[0].depot = depots[1].clone();
    changed[0].name = "Erika Muster".into();
    write_csv(&csv, &changed);
    let report = sync(&h).await;
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.sources[0].changes.len(), 1, "{report}");
    assert!(!children(&boss, &north_space).await.contains(&moved_portal));
    assert!(children(&boss, &south_space).await.contains(&moved_portal));
    boss.wait_until("the new room name", WAIT, || async {
        let name = boss.room(&moved_portal).await.name();
        (name.as_deref() == Some("Erika Muster (Truck 0)")).then_some(())
    })
    .await;
    assert_eq!(
        boss.display_name_of(&ghost(&first.threema_id))
            .await
            .as_deref(),
        Some("Erika Muster (Truck 0)")
    );
    // Nora (North only) no longer sees the driver who moved South.
    nora.wait_until("Nora losing the moved driver", WAIT, || async {
        (!nora.rooms_in().contains(&moved_portal)).then_some(())
    })
    .await;

    // Nora uses the bot, joins a portal and her depot's space; then she leaves the company.
    let management = nora.create_room(&[BOT]).await;
    nora.wait_message(&management, "the bot's welcome", |m| m["sender"] == BOT)
        .await;
    let her_portal = portal_of(&h, &north[1].threema_id).await;
    nora.join(&her_portal).await;
    nora.join(&north_space).await;
    changed[n + 1].active = false; // Nora
    write_csv(&csv, &changed);
    let report = sync(&h).await;
    assert!(report.failed.is_empty(), "{report}");
    nora.wait_until("Nora out of every portal and space", WAIT, || async {
        (nora.rooms_in() == HashSet::from([management.clone()])).then_some(())
    })
    .await;
    let before = nora.messages(&management).await.len();
    nora.send_text(&management, "help").await;
    let refusal = nora
        .wait_message(&management, "the refusal", |m| {
            m["sender"] == BOT
                && m["content"]["body"]
                    .as_str()
                    .unwrap()
                    .contains("not permitted")
        })
        .await;
    assert!(nora.messages(&management).await.len() > before, "{refusal}");
    assert!(audited(&h, &nora.user_id, "access.removed").await >= 4);

    // A truncated export (a fifth of the rows) is refused and changes nothing.
    write_csv(&csv, &changed[..n / 5]);
    let report = sync(&h).await;
    assert!(report.refused(), "{report}");
    assert!(report.planned.is_empty(), "{report}");
    let employees = h.bridge.store.employees().await.unwrap();
    assert_eq!(
        employees
            .iter()
            .filter(|e| !e.employee.removed && e.employee.record.active)
            .count(),
        n + 4
    );
    assert!(
        boss.rooms_in().is_superset(&portals),
        "the desk keeps every driver"
    );
    h.stop().await;
}

/// The directory's scope holds at the commands, not only in the planner: a North dispatcher
/// cannot open a South driver's chat (no invite, audited), and `find` shows her North drivers
/// only. With a directory, an account it does not list cannot use the bridge at all, not even
/// as one of `bridge.dispatchers`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_opens_and_finds_only_the_drivers_in_her_scope() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let t = tag();
    let intern = unique_localpart("intern");
    let intern_id = format!("@{intern}:{DOMAIN}");
    let h = Harness::start(common::db::TestDb::sqlite(), |c| {
        c.directory = csv_config(&csv, &format!("Dispatch {t}"), "");
        c.dispatchers = vec![intern_id.clone()];
    })
    .await;
    let nora = Dispatcher::fresh(h.synapse, "nora").await;
    let intern = Dispatcher::login(h.synapse, &intern, "Intern").await;
    let (north, south) = (format!("North{t}"), format!("South{t}"));
    let rows = vec![
        Row::driver(1, &north),
        Row::driver(2, &south),
        Row::dispatcher(&nora.user_id, &north),
    ];
    write_csv(&csv, &rows);
    let report = sync(&h).await;
    assert!(report.failed.is_empty(), "{report}");
    let (mine, theirs) = (&rows[0].threema_id, &rows[1].threema_id);
    let management = nora.create_room(&[BOT]).await;
    nora.wait_message(&management, "the bot's welcome", |m| m["sender"] == BOT)
        .await;

    let refused = nora.ask(&management, &format!("start {theirs}")).await;
    assert!(
        refused.contains("not among the drivers you are responsible for"),
        "{refused}"
    );
    assert_eq!(audited(&h, theirs, "access.refused").await, 1);
    let found = nora.ask(&management, "find Driver").await;
    assert!(
        found.contains(mine.as_str()) && !found.contains(theirs.as_str()),
        "{found}"
    );

    // She was never invited to the South driver's portal.
    let south_portal = portal_of(&h, theirs).await;
    assert!(!nora.rooms_in().contains(&south_portal));
    let invited = common::db::room_states(&h.bridge.store)
        .await
        .into_iter()
        .any(|(room, _, key, _)| room == south_portal && key == nora.user_id);
    assert!(!invited, "no invite, not even for a moment");

    // The account the directory does not list: the bot will not serve it, and it was invited
    // to no portal although `bridge.dispatchers` names it.
    let asked = intern.create_room(&[BOT]).await;
    let refusal = intern
        .wait_message(&asked, "the bot's refusal", |m| m["sender"] == BOT)
        .await;
    assert!(
        refusal["content"]["body"]
            .as_str()
            .unwrap()
            .contains("not permitted to use the Threema bridge"),
        "{refusal}"
    );
    assert_eq!(
        intern.rooms_in(),
        HashSet::from([asked]),
        "no portal invite"
    );
}

/// A CSV directory of one driver (on a simulated phone) and the desk, synced, with the desk in
/// the driver's portal; unknown senders are rejected.
struct OneDriver {
    h: Harness,
    sim: Simulator,
    desk: Dispatcher,
    csv: PathBuf,
    rows: Vec<Row>,
    phone: String,
    portal: String,
    _dir: tempfile::TempDir,
}

/// [`OneDriver`], the phone's ID starting with `letter`, the driver in a depot named `depot`
/// and a tag of this run.
async fn one_driver_and_the_desk(letter: char, nickname: &str, depot: &str) -> OneDriver {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let t = tag();
    let (h, sim) = Harness::with_simulator(|c| {
        c.directory = csv_config(&csv, &format!("Dispatch {t}"), "");
        c.unknown_senders = "reject".into();
    })
    .await;
    let desk = Dispatcher::fresh(h.synapse, "desk").await;
    let phone = add_phone(&sim, letter, nickname, Behaviour::default());
    let mut driver = Row::driver(1, &format!("{depot}{t}"));
    driver.threema_id = phone.clone();
    let rows = vec![driver, Row::dispatcher(&desk.user_id, "")];
    write_csv(&csv, &rows);
    assert!(sync(&h).await.failed.is_empty());
    let portal = portal_of(&h, &phone).await;
    desk.wait_until("the portal invite", WAIT, || async {
        desk.rooms_in().contains(&portal).then_some(())
    })
    .await;
    desk.join(&portal).await;
    OneDriver {
        h,
        sim,
        desk,
        csv,
        rows,
        phone,
        portal,
        _dir: dir,
    }
}

/// Upgrading to an authoritative directory: whoever the wider rules before let into a portal
/// (here one of `bridge.dispatchers` whom the directory does not list) is removed, and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_the_directory_does_not_list_is_removed_at_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let t = tag();
    let intern = unique_localpart("intern");
    let intern_id = format!("@{intern}:{DOMAIN}");
    let (mut h, sim) = Harness::with_simulator(|c| c.dispatchers = vec![intern_id.clone()]).await;
    let intern = Dispatcher::login(h.synapse, &intern, "Intern").await;
    let phone = add_phone(&sim, 'U', "Uwe", Behaviour::default());
    sim.send_from_user(&phone, UserMessage::text("Hallo"))
        .await
        .unwrap();
    let portal = intern.wait_invite(WAIT).await;
    intern.join(&portal).await;

    let mut driver = Row::driver(1, &format!("Up{t}"));
    driver.threema_id = phone.clone();
    write_csv(&csv, &[driver]);
    h.config.directory = csv_config(&csv, &format!("Dispatch {t}"), "");
    h.restart(Some(&sim)).await;
    assert!(sync(&h).await.failed.is_empty());
    intern
        .wait_until("the intern out of the portal", WAIT, || async {
            (!intern.rooms_in().contains(&portal)).then_some(())
        })
        .await;
    assert_eq!(audited(&h, &intern.user_id, "access.removed").await, 1);
    h.stop().await;
}

/// A driver with a new phone and a new Threema ID keeps their portal and its history: the new
/// ghost joins, the old one leaves, the room's bridge state and alias name the new ID, and
/// what still comes from the old ID is a former driver's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_driver_with_a_new_threema_id_keeps_the_portal() {
    let OneDriver {
        h,
        sim,
        desk,
        csv,
        mut rows,
        phone: old_phone,
        portal,
        _dir,
    } = one_driver_and_the_desk('O', "Olga", "East").await;
    let new_phone = add_phone(&sim, 'N', "Olga", Behaviour::default());
    sim.send_from_user(&old_phone, UserMessage::text("Altes Handy"))
        .await
        .unwrap();
    desk.wait_message(&portal, "the old phone's message", |m| {
        m["content"]["body"] == "Altes Handy"
    })
    .await;

    rows[0].threema_id = new_phone.clone();
    write_csv(&csv, &rows);
    let report = sync(&h).await;
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(portal_of(&h, &new_phone).await, portal, "the same room");
    desk.wait_until("the new ghost in, the old one out", WAIT, || async {
        let members = desk.joined_members(&portal).await;
        (members.contains(&ghost(&new_phone)) && !members.contains(&ghost(&old_phone)))
            .then_some(())
    })
    .await;
    let bridge_state = desk
        .state(
            &portal,
            "m.bridge",
            &format!("threema://threema/{new_phone}"),
        )
        .await;
    assert_eq!(bridge_state["channel"]["id"], new_phone.as_str());
    let alias = format!("#threema_{}:{DOMAIN}", new_phone.to_lowercase());
    assert_eq!(
        desk.resolve_alias(&alias).await.as_deref(),
        Some(portal.as_str())
    );

    // The new phone writes into the same room; the old one is a former driver's.
    sim.send_from_user(&new_phone, UserMessage::text("Neues Handy"))
        .await
        .unwrap();
    let message = desk
        .wait_message(&portal, "the new phone's message", |m| {
            m["content"]["body"] == "Neues Handy"
        })
        .await;
    assert_eq!(message["sender"], ghost(&new_phone));
    sim.send_from_user(&old_phone, UserMessage::text("Noch das alte"))
        .await
        .unwrap();
    common::synapse::wait_for("the audit entry", WAIT, || async {
        (audited(&h, &old_phone, "inbound.refused").await > 0).then_some(())
    })
    .await;
    let bodies: Vec<String> = desk
        .messages(&portal)
        .await
        .iter()
        .filter_map(|m| m["content"]["body"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(bodies, ["Altes Handy", "Neues Handy"], "one history");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_driver_past_the_leaving_date_is_offboarded() {
    let OneDriver {
        h,
        sim,
        desk,
        csv,
        rows,
        phone,
        portal,
        _dir,
    } = one_driver_and_the_desk('L', "Leo", "West").await;
    sim.send_from_user(&phone, UserMessage::text("Tour beendet"))
        .await
        .unwrap();
    desk.wait_message(&portal, "the driver's message", |m| {
        m["content"]["body"] == "Tour beendet"
    })
    .await;

    // A message on its way while the Gateway is down; then the leaving date is reached.
    sim.inject_fault("send_e2e", Fault::status(500));
    let pending = desk.send_text(&portal, "Bitte Schlüssel abgeben").await;
    common::synapse::wait_for("the message in the outbox", WAIT, || async {
        let rows = h.bridge.store.outbox_by_event(&pending).await.unwrap();
        (!rows.is_empty()).then_some(())
    })
    .await;
    let mut left = rows.clone();
    left[0].leave_date = h.bridge.config.bridge.timezone.today().to_string();
    write_csv(&csv, &left);
    let report = sync(&h).await;
    assert!(report.failed.is_empty(), "{report}");
    sim.clear_faults();

    // Read-only, renamed, the ghost gone.
    desk.wait_until("the portal read-only and renamed", WAIT, || async {
        let room = desk.room(&portal).await;
        let levels = desk.state(&portal, "m.room.power_levels", "").await;
        let former = room.name().is_some_and(|n| n.ends_with("(former)"));
        (former && levels["events_default"] == 100).then_some(())
    })
    .await;
    desk.wait_until("the ghost gone", WAIT, || async {
        (!desk.joined_members(&portal).await.contains(&ghost(&phone))).then_some(())
    })
    .await;
    // The message that waited is not sent: a notice says why, the phone never gets it.
    let notice = desk
        .wait_message(&portal, "the refusal notice", |m| {
            m["sender"] == BOT
                && m["content"]["body"]
                    .as_str()
                    .unwrap()
                    .contains("left the company")
        })
        .await;
    assert_eq!(
        notice["content"]["m.relates_to"]["event_id"],
        pending.as_str()
    );
    assert!(
        desk.try_send_text(&portal, "Noch da?").await.is_none(),
        "the room is read-only"
    );
    assert!(
        sim.inbox(&phone).is_empty(),
        "nothing reached the former driver"
    );

    // What the former driver still sends is not bridged, but audited.
    sim.send_from_user(&phone, UserMessage::text("Hallo?"))
        .await
        .unwrap();
    common::synapse::wait_for("the audit entry", WAIT, || async {
        (audited(&h, &phone, "inbound.refused").await > 0).then_some(())
    })
    .await;
    assert!(
        !desk
            .messages(&portal)
            .await
            .iter()
            .any(|m| m["content"]["body"] == "Hallo?")
    );

    // Back in the directory: writable again, the ghost back.
    write_csv(&csv, &rows);
    assert!(sync(&h).await.failed.is_empty());
    desk.wait_until("the portal writable again", WAIT, || async {
        let levels = desk.state(&portal, "m.room.power_levels", "").await;
        let back = desk.joined_members(&portal).await.contains(&ghost(&phone));
        (levels["events_default"] == 0 && back).then_some(())
    })
    .await;
    h.stop().await;
}

fn scim_user(user_name: &str, matrix_id: &str, active: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:threema-bridge:params:scim:schemas:extension:2.0:User"],
        "userName": user_name,
        "externalId": format!("E-{user_name}"),
        "displayName": "Sam Scim",
        "active": active,
        "urn:threema-bridge:params:scim:schemas:extension:2.0:User": {
            "role": "dispatcher", "matrixId": matrix_id
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scim_provisions_and_deprovisions_a_dispatcher_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let t = tag();
    let token = format!("scim-{t}-{}", hex::encode(rand::random::<[u8; 16]>()));
    let h = Harness::start(common::db::TestDb::sqlite(), |c| {
        c.directory = csv_config(
            &csv,
            &format!("Dispatch {t}"),
            &format!("  scim_token: \"{token}\"\n"),
        );
        c.with_synapse_admin();
    })
    .await;
    let sam = Dispatcher::fresh(h.synapse, "sam").await;
    let rows = vec![
        Row::driver(1, &format!("Hub{t}")),
        Row::driver(2, &format!("Hub{t}")),
    ];
    write_csv(&csv, &rows);
    assert!(sync(&h).await.failed.is_empty());
    let users = format!("{}/scim/v2/Users", h.base_url);
    let http = reqwest::Client::new();
    let count_before = h.bridge.store.employees().await.unwrap().len();

    // Wrong token: 401, SCIM error JSON, nothing stored.
    let refused = http
        .post(&users)
        .bearer_auth("wrong")
        .json(&scim_user("sam", &sam.user_id, json!(true)))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    // Malformed: 400 with a scimType, nothing stored.
    for bad in [
        "{not json",
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}"#,
    ] {
        let response = http
            .post(&users)
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "400");
        assert!(body["scimType"].is_string(), "{body}");
    }
    // Far larger than any user: refused before it is read.
    let huge = http
        .post(&users)
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(format!("{{\"userName\": \"{}\"}}", "x".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert_eq!(
        h.bridge.store.employees().await.unwrap().len(),
        count_before
    );

    // Created: within seconds Sam is invited to both portals and the spaces.
    let created = http
        .post(&users)
        .bearer_auth(&token)
        .json(&scim_user("sam", &sam.user_id, json!(true)))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(location.ends_with(&id));
    sam.wait_until("Sam's invites", Duration::from_secs(30), || async {
        (sam.rooms_in().len() == 4).then_some(())
    })
    .await;
    let found: Value = http
        .get(format!("{users}?filter=userName%20eq%20%22sam%22"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());

    // Entra's way of deprovisioning: PATCH active "False" (a string). Within seconds Sam is
    // out of every room and the account is deactivated.
    let patched = http
        .patch(format!("{users}/{id}"))
        .bearer_auth(&token)
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.json::<Value>().await.unwrap()["active"], false);
    common::synapse::wait_for(
        "Sam's account deactivated",
        Duration::from_secs(30),
        || async { (audited(&h, &sam.user_id, "account.deactivated").await > 0).then_some(()) },
    )
    .await;
    assert_eq!(audited(&h, &sam.user_id, "access.removed").await, 4);
    // A driver pushed by the identity provider: replaced (renamed), then deleted.
    let driver_id = unique_threema_id('S');
    let driver = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:threema-bridge:params:scim:schemas:extension:2.0:User"],
        "userName": format!("drv-{t}"), "displayName": "Dora Driver", "active": true,
        "urn:threema-bridge:params:scim:schemas:extension:2.0:User": {
            "role": "driver", "threemaId": driver_id, "attributes": {"depot": format!("Hub{t}")}
        }
    });
    let created: Value = http
        .post(&users)
        .bearer_auth(&token)
        .json(&driver)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let driver_scim = created["id"].as_str().unwrap().to_owned();
    let mut renamed = driver.clone();
    renamed["displayName"] = json!("Dora Renamed");
    let replaced = http
        .put(format!("{users}/{driver_scim}"))
        .bearer_auth(&token)
        .json(&renamed)
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    common::synapse::wait_for("the renamed ghost", Duration::from_secs(30), || async {
        let ghost = h
            .bridge
            .store
            .ghost_by_threema_id(&driver_id)
            .await
            .unwrap()?;
        (ghost.display_name.as_deref() == Some("Dora Renamed")).then_some(())
    })
    .await;
    let deleted = http
        .delete(format!("{users}/{driver_scim}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = http
        .get(format!("{users}/{driver_scim}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let portal = portal_of(&h, &driver_id).await;
    common::synapse::wait_for(
        "the deleted driver's portal read-only",
        Duration::from_secs(30),
        || async {
            let states = common::db::room_states(&h.bridge.store).await;
            states
                .iter()
                .any(|(room, kind, _, value)| {
                    *room == portal && *kind == RoomStateKind::ReadOnly && value == "true"
                })
                .then_some(())
        },
    )
    .await;

    let whoami = http
        .get(format!(
            "{}/_matrix/client/v3/account/whoami",
            h.synapse.url
        ))
        .bearer_auth(sam.client.access_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 401, "a deactivated account is logged out");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dry_run_prints_the_plan_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let t = tag();
    let h = Harness::start(common::db::TestDb::sqlite(), |c| {
        c.directory = csv_config(&csv, &format!("Dispatch {t}"), "");
    })
    .await;
    let rows = vec![Row::driver(1, &format!("Dry{t}"))];
    write_csv(&csv, &rows);
    let report = h
        .bridge
        .directory
        .sync(SyncOptions {
            dry_run: true,
            force: false,
        })
        .await
        .unwrap();
    let printed = report.to_string();
    assert!(
        printed.contains("added driver Driver 1 (D0001)"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "create portal \"Driver 1 (Truck 1)\" for {}",
            rows[0].threema_id
        )),
        "{printed}"
    );
    assert_eq!(report.homeserver_calls, 0);
    assert!(h.bridge.store.employees().await.unwrap().is_empty());
    assert!(
        h.bridge
            .store
            .portal_by_threema_id(&rows[0].threema_id)
            .await
            .unwrap()
            .is_none()
    );
    // The same from the command line, as an operator runs it before trusting a new export.
    let config = h.config.write(dir.path(), h.synapse);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_threema-bridge"))
        .args([
            "-c",
            config.to_str().unwrap(),
            "directory",
            "sync",
            "--dry-run",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("would do"), "{stdout}");
    assert!(
        stdout.contains(&format!("for {}", rows[0].threema_id)),
        "{stdout}"
    );
    assert!(h.bridge.store.employees().await.unwrap().is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_http_source_and_a_driver_known_by_phone() {
    use axum::response::IntoResponse;
    let t = tag();
    let phone_number = format!("4179{:07}", rand::random::<u32>() % 10_000_000);
    // The company's HR endpoint: JSON with its own field names, behind a token, and with
    // more about the person than the bridge needs.
    let body = json!({"people": [
        {"no": 1, "name": "Hanna Http", "kind": "driver", "enabled": "true",
         "mobile": format!("+{phone_number}"), "depot": format!("Api{t}"),
         "salary": "4200", "sick_days": 12, "vehicle": "17"}
    ]});
    let app = axum::Router::new().route(
        "/hr",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let body = body.clone();
            async move {
                match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some("Bearer hr-secret") => axum::Json(body).into_response(),
                    _ => axum::http::StatusCode::UNAUTHORIZED.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hr = format!("http://{}/hr", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (h, sim) = Harness::with_simulator(|c| {
        c.directory = format!(
            "  check_seconds: 3600\n  sync_interval_seconds: 0\n  space_name: \"Dispatch {t}\"\n  space_attributes: [depot]\n  http:\n    url: {hr}\n    authorization: \"Bearer hr-secret\"\n    items_path: people\n    fields: {{employee_id: \"no\", display_name: \"name\", role: \"kind\", active: \"enabled\", phone: \"mobile\"}}\n"
        );
    })
    .await;
    // The driver's phone is registered with the Gateway under that number.
    let phone = unique_threema_id('H');
    sim.add_user(threema_gateway_sim::UserSpec::new(&phone).phone(&phone_number));
    let report = sync(&h).await;
    assert!(
        report.failed.is_empty() && report.problems.is_empty(),
        "{report}"
    );
    assert_eq!(report.sources[0].source, "http");
    // Only what spaces and scopes use is kept (directory.attributes would name more).
    let stored = h.bridge.store.employees().await.unwrap();
    let kept: Vec<&String> = stored[0].employee.record.attributes.keys().collect();
    assert_eq!(kept, ["depot"]);
    let portal = portal_of(&h, &phone).await;
    assert!(!portal.is_empty());
    let printed = report.to_string();
    assert!(
        !printed.contains(&phone_number),
        "phone numbers stay out of reports: {printed}"
    );
    h.stop().await;
}
