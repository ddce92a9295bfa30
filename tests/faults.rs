//! Fault injection against the real binary, the real Synapse and the Gateway simulator, under
//! steady two-way traffic: the bridge is SIGKILLed again and again, the homeserver goes away,
//! the Gateway fails and times out, and old callbacks are delivered again out of order.
//!
//! After each scenario it checks from the outside what people would see: every driver message
//! in its portal once and in order; every dispatcher message on the phone once and in order, or
//! visibly marked failed / outcome unknown; never lost silently, never twice.
//!
//! Every check covers everything sent since the start, so a later scenario would also catch
//! damage done to an earlier one's messages. `FAULTS_KILLS` (default 10) and
//! `FAULTS_OUTAGE_SECONDS` (default 60) size the run.

use crate::common;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::{
    bridge::{Process, TestConfig},
    db::TestDb,
    dispatcher::Dispatcher,
    synapse::{self, DOMAIN, Synapse, unique_localpart, wait_for},
    threema::add_phone,
};
use threema_bridge::store::{OutboxState, Store};
use threema_gateway_sim::{Behaviour, CallbackOutcome, Decoded, Fault, Simulator, UserMessage};

const DRIVERS: usize = 4;
/// How long the checks wait for things to settle: long enough for backoffs (up to 60 s)
/// after an outage (`FAULTS_SETTLE_SECONDS`, default 180).
fn settle() -> Duration {
    Duration::from_secs(env_number("FAULTS_SETTLE_SECONDS", 180))
}
/// Between two messages of the steady traffic.
const PACE: Duration = Duration::from_millis(150);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What was sent, from both sides, as the people sending it know it.
#[derive(Default)]
struct Sent {
    /// Per driver: the texts the phone sent, with their Threema message ids.
    by_driver: HashMap<String, Vec<(String, String)>>,
    /// Per driver: the dispatcher's events and texts the homeserver accepted.
    by_desk: HashMap<String, Vec<(String, String)>>,
}

struct World {
    hs: &'static Synapse,
    dir: tempfile::TempDir,
    config_path: PathBuf,
    sim: Simulator,
    store: Store,
    bridge: Option<Process>,
    desk: Arc<Dispatcher>,
    /// (driver, portal room)
    portals: Vec<(String, String)>,
    sent: Arc<Mutex<Sent>>,
    starts: usize,
    /// Active/standby: the second process and the proxies in front of both.
    pair: Option<Pair>,
}

/// Two bridge processes on one PostgreSQL database. The homeserver and the Gateway reach the
/// one `World::bridge` runs (the active) through proxies, as through a load balancer whose
/// health check follows `/ready`'s role.
struct Pair {
    configs: [PathBuf; 2],
    /// Which of `configs` `World::bridge` runs.
    active: usize,
    standby: Option<Process>,
    appservice: common::tcp_proxy::Proxy,
    callbacks: common::tcp_proxy::Proxy,
    /// Per process: `appservice.listen`, `threema.callback_listen`, `metrics.listen`.
    ports: [(u16, u16, u16); 2],
}

/// How the active process goes away.
#[derive(Clone, Copy, Debug)]
enum Failure {
    Kill,
    /// SIGSTOP, and SIGCONT once the standby has taken over.
    Pause,
}

/// The checks' result for one scenario.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    sent: usize,
    lost: usize,
    duplicated: usize,
    out_of_order: usize,
    marked: usize,
    /// Messages the phone read whose status is wrong: not read in the store, or the room not
    /// showing exactly the ghost's one ✓✓.
    receipts_wrong: usize,
}

impl World {
    /// The bridge uses `bridge_db`; the checks read `check_db` (the same database, reached
    /// directly when the bridge's way to it is part of the fault).
    async fn new(hs: &'static Synapse, bridge_db: &str, check_db: &str) -> World {
        Self::build(hs, bridge_db, check_db, None, false).await
    }

    /// With end-to-bridge encryption (`bridge.encryption: default`): the portals are
    /// encrypted, the desk writes and reads them through an encrypting device.
    async fn encrypted(hs: &'static Synapse, db: &str) -> World {
        Self::build(hs, db, db, None, true).await
    }

    /// Two processes on `db` (PostgreSQL), `ha.lease_seconds` = `lease`.
    async fn pair(hs: &'static Synapse, db: &str, lease: u64) -> World {
        Self::build(hs, db, db, Some(lease), false).await
    }

    async fn build(
        hs: &'static Synapse,
        bridge_db: &str,
        check_db: &str,
        lease: Option<u64>,
        encrypted: bool,
    ) -> World {
        let dir = tempfile::tempdir().unwrap();
        let desk_lp = unique_localpart("desk");
        let mut config = TestConfig::new(bridge_db);
        config.dispatchers = vec![format!("@{desk_lp}:{DOMAIN}")];
        config.gateway_timeout_s = 2;
        config.callback_port = free_port();
        if encrypted {
            config.bridge_extra.push_str(&format!(
                "  encryption: default\n  encryption_key: {}\n",
                hex::encode(rand::random::<[u8; 32]>())
            ));
        }
        // A Gateway that keeps trying while the bridge is down (the real one gives up sooner;
        // what it discards is out of the bridge's hands).
        let sim = config
            .start_simulator(|sim| {
                sim.callback_attempts = 100_000;
                sim.callback_retry_interval = Duration::from_millis(20_000);
            })
            .await;
        let (config_path, pair) = match lease {
            None => (config.write(dir.path(), hs), None),
            Some(lease) => {
                let ports = [0, 1].map(|_| (free_port(), free_port(), free_port()));
                let configs = ports.map(|(listen, callbacks, metrics)| {
                    config.sections = format!(
                        "ha:\n  lease_seconds: {lease}\nmetrics:\n  listen: 127.0.0.1:{metrics}\n"
                    );
                    config.appservice_listen = Some(listen);
                    config.callback_port = callbacks;
                    let sub = dir.path().join(format!("{listen}"));
                    std::fs::create_dir(&sub).unwrap();
                    config.write(&sub, hs)
                });
                let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
                let appservice =
                    common::tcp_proxy::Proxy::start_on(hs.appservice_port, at(ports[0].0)).await;
                let callbacks = common::tcp_proxy::Proxy::start(at(ports[0].1)).await;
                sim.set_callback_url(&format!(
                    "http://127.0.0.1:{}/threema/callback",
                    callbacks.port
                ));
                let pair = Pair {
                    configs: configs.clone(),
                    active: 0,
                    standby: None,
                    appservice,
                    callbacks,
                    ports,
                };
                (configs[0].clone(), Some(pair))
            }
        };
        let store = Store::connect(check_db, 2).await.unwrap();
        let mut desk = Dispatcher::login(hs, &desk_lp, "Desk").await;
        if encrypted {
            desk = desk.with_encrypting_device(hs).await;
        }
        let desk = Arc::new(desk);
        let mut world = World {
            hs,
            dir,
            config_path,
            sim,
            store,
            bridge: None,
            desk,
            portals: Vec::new(),
            sent: Arc::default(),
            starts: 0,
            pair,
        };
        world.start_bridge().await;
        if let Some(config) = world.pair.as_ref().map(|p| p.configs[1].clone()) {
            let standby = world.start_own(&config).await;
            assert_eq!(standby.role().await.as_deref(), Some("standby"));
            assert_eq!(
                world.bridge.as_ref().unwrap().role().await.as_deref(),
                Some("active")
            );
            world.pair.as_mut().unwrap().standby = Some(standby);
        }
        world.open_portals().await;
        world
    }

    async fn start_bridge(&mut self) {
        let config = self.config_path.clone();
        self.bridge = Some(self.start_own(&config).await);
    }

    async fn start_own(&mut self, config: &std::path::Path) -> Process {
        self.starts += 1;
        let log = self.dir.path().join(format!("bridge-{}.log", self.starts));
        match self.pair {
            None => Process::start(config, log).await,
            Some(_) => Process::start_own(config, log).await,
        }
    }

    /// The active process fails; the proxies turn to the standby, which takes over. Returns how
    /// long that took (from the failure to the standby's `/ready` saying `active`). The failed
    /// process comes back (started again, or resumed) and must end up standby.
    async fn fail_over(&mut self, failure: Failure) -> Duration {
        let old = self.bridge.take().expect("running");
        let pair = self.pair.as_mut().expect("a pair");
        let new = pair.standby.take().expect("a standby");
        let failed_at = tokio::time::Instant::now();
        let paused = match failure {
            Failure::Kill => {
                old.kill();
                None
            }
            Failure::Pause => {
                old.pause(true);
                Some(old)
            }
        };
        pair.active = 1 - pair.active;
        let (listen, callbacks, _) = pair.ports[pair.active];
        let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        pair.appservice.point_to(at(listen));
        pair.callbacks.point_to(at(callbacks));
        wait_for(
            "the standby to take over",
            Duration::from_secs(120),
            || async { (new.role().await.as_deref() == Some("active")).then_some(()) },
        )
        .await;
        let took = failed_at.elapsed();
        self.bridge = Some(new);
        let paused_was_active = paused.is_some();
        let standby = match paused {
            None => {
                let pair = self.pair.as_ref().unwrap();
                let config = pair.configs[1 - pair.active].clone();
                self.start_own(&config).await
            }
            Some(old) => {
                old.pause(false);
                old
            }
        };
        // The old active, back, finds its lease taken and stays standby.
        wait_for(
            "the old active to be standby",
            Duration::from_secs(60),
            || async { (standby.role().await.as_deref() == Some("standby")).then_some(()) },
        )
        .await;
        if paused_was_active {
            // It lost the lease, rather than having started afresh, and knows it.
            let pair = self.pair.as_ref().unwrap();
            let metrics = pair.ports[1 - pair.active].2;
            let text = reqwest::get(format!("http://127.0.0.1:{metrics}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            for line in [
                "threema_bridge_ha_lease_losses_total 1",
                "threema_bridge_ha_role{role=\"standby\"} 1",
            ] {
                assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
            }
        }
        self.pair.as_mut().unwrap().standby = Some(standby);
        took
    }

    fn kill_bridge(&mut self) {
        self.bridge.take().expect("running").kill();
    }

    /// Each driver writes once; the desk joins every portal.
    async fn open_portals(&mut self) {
        for n in 0..DRIVERS {
            let nickname = format!("Fahrer {n}");
            // Phones that confirm receipt and read every message at once, as drivers do.
            let reads = Behaviour {
                read_after: Some(Duration::from_secs(1)),
                ..Behaviour::default()
            };
            let driver = add_phone(&self.sim, 'F', &nickname, reads);
            let text = format!("{driver} hello");
            let id = self
                .sim
                .send_from_user(&driver, UserMessage::text(&text))
                .await
                .unwrap();
            let room = self.desk.wait_invite(settle()).await;
            self.desk.join(&room).await;
            // The invite goes out with the room; the bridge records the portal a moment later.
            let store = &self.store;
            let portal = wait_for(
                "the portal of the driver who just wrote",
                settle(),
                || async { store.portal_by_threema_id(&driver).await.unwrap() },
            )
            .await;
            assert_eq!(portal.room_id, room);
            self.sent
                .lock()
                .unwrap()
                .by_driver
                .entry(driver.clone())
                .or_default()
                .push((id, text));
            self.portals.push((driver, room));
        }
    }

    /// Steady traffic both ways until `stop`; the desk only sends while `desk_on`.
    fn traffic(
        &self,
        label: &str,
        stop: Arc<AtomicBool>,
        desk_on: Arc<AtomicBool>,
    ) -> tokio::task::JoinHandle<()> {
        let (sim, desk, sent) = (self.sim.clone(), self.desk.clone(), self.sent.clone());
        let portals = self.portals.clone();
        let label = label.to_owned();
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                for (driver, room) in &portals {
                    let text = format!("{driver} {label} #{n}");
                    let id = sim
                        .send_from_user(driver, UserMessage::text(&text))
                        .await
                        .unwrap();
                    sent.lock()
                        .unwrap()
                        .by_driver
                        .entry(driver.clone())
                        .or_default()
                        .push((id, text));
                    if desk_on.load(Ordering::Relaxed) {
                        let text = format!("an {driver} {label} #{n}");
                        if let Some(event) = desk.try_send_text(room, &text).await {
                            sent.lock()
                                .unwrap()
                                .by_desk
                                .entry(driver.clone())
                                .or_default()
                                .push((event, text));
                        }
                    }
                    tokio::time::sleep(PACE).await;
                }
                n += 1;
            }
        })
    }

    /// Runs the traffic while `fault` does its damage, then checks everything.
    async fn scenario(
        &mut self,
        name: &str,
        fault: impl AsyncFnOnce(&mut World, Arc<AtomicBool>),
    ) -> Tally {
        let before = self.snapshot();
        let (stop, desk_on) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(true)),
        );
        let traffic = self.traffic(name, stop.clone(), desk_on.clone());
        tokio::time::sleep(PACE * 4).await;
        fault(self, desk_on).await;
        stop.store(true, Ordering::Relaxed);
        traffic.await.unwrap();
        let tally = self.check(before).await;
        eprintln!("scenario {name}: {tally:?}");
        tally
    }

    /// Whether the room shows the bot's reply to `event` that it could not be decrypted (its
    /// room key never reached the bridge: Synapse does not resend the to-device messages of a
    /// transaction that failed, e.g. while the bridge was down). Not lost silently: the
    /// dispatcher is told to send it again.
    async fn said_undecryptable(&self, room: &str, event: &str) -> bool {
        self.desk.messages(room).await.iter().any(|m| {
            m["sender"] == format!("@threemabot:{DOMAIN}").as_str()
                && m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event
                && (m["content"]["body"].as_str())
                    .is_some_and(|b| b.contains("could not be decrypted"))
        })
    }

    /// SIGKILLs the bridge `kills` times, 0.2 to 1.5 s apart, restarting it each time.
    async fn kill_repeatedly(&mut self, kills: u64) {
        for _ in 0..kills {
            let wait = 200 + rand::random::<u64>() % 1300;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            self.kill_bridge();
            self.start_bridge().await;
        }
    }

    fn snapshot(&self) -> (usize, usize) {
        let sent = self.sent.lock().unwrap();
        (
            sent.by_driver.values().map(Vec::len).sum(),
            sent.by_desk.values().map(Vec::len).sum(),
        )
    }

    /// Waits for everything sent to settle, then compares what each side sees.
    async fn check(&self, before: (usize, usize)) -> Tally {
        let (by_driver, by_desk) = {
            let sent = self.sent.lock().unwrap();
            (sent.by_driver.clone(), sent.by_desk.clone())
        };
        let mut tally = Tally {
            sent: self.snapshot().0 + self.snapshot().1 - before.0 - before.1,
            ..Tally::default()
        };
        for (driver, room) in &self.portals {
            // Driver → desk: the Gateway delivered every callback, the portal shows each once.
            let wanted = &by_driver[driver];
            for (id, _) in wanted {
                let outcome = self.sim.wait_callback_outcome(id, settle()).await;
                assert_eq!(outcome, CallbackOutcome::Delivered, "{id}");
            }
            let ghost = format!("@threema_{}:{DOMAIN}", driver.to_lowercase());
            let portal_texts = || async {
                self.desk
                    .messages(room)
                    .await
                    .iter()
                    .filter(|m| m["sender"] == ghost.as_str())
                    .filter_map(|m| m["content"]["body"].as_str().map(str::to_owned))
                    .collect::<Vec<String>>()
            };
            // Whatever is there after the wait is compared: what is missing counts as lost.
            // Waits for each text, not for as many texts: after a restore the portal also holds
            // what was sent before it, which `wanted` no longer counts.
            let all_there = self.desk.wait_until("the portal", settle() * 2, || async {
                let seen = portal_texts().await;
                (wanted.iter().all(|(_, text)| seen.contains(text))).then_some(())
            });
            let _ = tokio::time::timeout(settle(), all_there).await;
            let seen = portal_texts().await;
            let texts: Vec<&String> = wanted.iter().map(|(_, t)| t).collect();
            compare(&texts, &seen, &mut tally, |_| false);

            // Desk → driver: every accepted event reached a final state; the phone has each
            // once, or the room says it failed or may not have arrived. In the order the bridge
            // received them: Synapse can hold one back (a transaction made just as its retries
            // succeed stays unsent until the next failure, or the bridge's second look at the
            // timeline), and the bridge keeps the order it is given.
            let mut wanted = by_desk.get(driver).cloned().unwrap_or_default();
            let mut received = Vec::with_capacity(wanted.len());
            for (event, _) in &wanted {
                received.push(
                    self.store
                        .inbox_seq(event)
                        .await
                        .unwrap()
                        .unwrap_or(i64::MAX),
                );
            }
            let sent_order: Vec<String> = wanted.iter().map(|(e, _)| e.clone()).collect();
            let mut order: Vec<usize> = (0..wanted.len()).collect();
            order.sort_by_key(|&i| received[i]);
            wanted = order.iter().map(|&i| wanted[i].clone()).collect();
            let moved = (wanted.iter().zip(&sent_order))
                .filter(|((e, _), s)| e != *s)
                .count();
            if moved > 0 {
                eprintln!(
                    "{driver}: the homeserver delivered {moved} of the desk's messages out of their order"
                );
            }
            let mut marked = Vec::new();
            let mut delivered = Vec::new();
            for (event, text) in &wanted {
                let outcome =
                    self.desk
                        .wait_until("the message's outcome", settle() * 2, || async {
                            let rows = self.store.outbox_by_event(event).await.unwrap();
                            if rows.is_empty() && self.said_undecryptable(room, event).await {
                                return Some(rows);
                            }
                            let last = rows.iter().max_by_key(|r| r.resend)?;
                            matches!(
                                last.state,
                                OutboxState::Sent | OutboxState::Failed | OutboxState::Unknown
                            )
                            .then_some(rows)
                        });
                let Ok(rows) = tokio::time::timeout(settle(), outcome).await else {
                    let rows = self.store.outbox_by_event(event).await.unwrap();
                    panic!(
                        "no outcome for {event} ({text:?}) after {:?}: {rows:?}",
                        settle()
                    );
                };
                // No rows: it never went to the outbox (see `said_undecryptable`).
                if rows
                    .iter()
                    .all(|r| matches!(r.state, OutboxState::Failed | OutboxState::Unknown))
                {
                    if rows.is_empty() {
                        eprintln!("said undecryptable: {text}");
                    }
                    marked.push(format!("Desk: {text}"));
                } else {
                    delivered.push((event.clone(), text.clone()));
                }
            }
            let phone: Vec<String> = self
                .sim
                .inbox(driver)
                .into_iter()
                .filter_map(|m| match m.message {
                    Decoded::Text(text) => Some(text),
                    _ => None,
                })
                .collect();
            let texts: Vec<String> = wanted.iter().map(|(_, t)| format!("Desk: {t}")).collect();
            let texts: Vec<&String> = texts.iter().collect();
            tally.marked += marked.len();
            compare(&texts, &phone, &mut tally, |t| {
                marked.iter().any(|m| m == t)
            });

            // Receipts: what the phone read is read in the store, and the room shows the
            // ghost's ✓✓ on it once (the ✓ it replaced gone).
            for (event, text) in &delivered {
                let read = self
                    .desk
                    .wait_until("the read receipt", settle() * 2, || async {
                        let rows = self.store.outbox_by_event(event).await.unwrap();
                        rows.iter()
                            .any(|r| r.status.read_at.is_some())
                            .then_some(())
                    });
                if tokio::time::timeout(settle(), read).await.is_err() {
                    eprintln!("receipt missing: {text}");
                    tally.receipts_wrong += 1;
                }
            }
            let marks_of = |timeline: &[serde_json::Value], event: &str| -> Vec<String> {
                timeline
                    .iter()
                    .filter(|e| {
                        e["type"] == "m.reaction"
                            && e["sender"] == ghost.as_str()
                            && e["content"]["m.relates_to"]["event_id"] == event
                    })
                    .filter_map(|e| {
                        e["content"]["m.relates_to"]["key"]
                            .as_str()
                            .map(str::to_owned)
                    })
                    .collect()
            };
            let shown = self
                .desk
                .wait_until("the read markers", settle() * 2, || async {
                    let timeline = self.desk.timeline(room).await;
                    delivered
                        .iter()
                        .all(|(event, _)| marks_of(&timeline, event) == ["✓✓"])
                        .then_some(())
                });
            if tokio::time::timeout(settle(), shown).await.is_err() {
                let timeline = self.desk.timeline(room).await;
                for (event, text) in &delivered {
                    let marks = marks_of(&timeline, event);
                    if marks != ["✓✓"] {
                        eprintln!("read marker wrong: {text}: {marks:?}");
                        tally.receipts_wrong += 1;
                    }
                }
            }
        }
        tally
    }
}

impl Drop for World {
    /// A failed run keeps the bridge's logs (one file per start) for the post-mortem.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!("bridge logs kept in {}", self.dir.path().display());
        }
    }
}

/// Counts what is missing (unless `excused`), what is there twice, and order breaks.
fn compare(wanted: &[&String], seen: &[String], tally: &mut Tally, excused: impl Fn(&str) -> bool) {
    let mut last_position = None;
    for text in wanted {
        let positions: Vec<usize> = seen
            .iter()
            .enumerate()
            .filter(|(_, s)| s == text)
            .map(|(i, _)| i)
            .collect();
        match positions.as_slice() {
            [] if excused(text) => {}
            [] => {
                eprintln!("lost: {text}");
                tally.lost += 1;
            }
            [position, rest @ ..] => {
                if !rest.is_empty() {
                    eprintln!("duplicated: {text}");
                    tally.duplicated += rest.len();
                }
                if let Some(last) = last_position.filter(|p: &usize| p > position) {
                    // Enough to tell the direction and the neighbours from a CI log.
                    let around = &seen[position.saturating_sub(2)..(last + 2).min(seen.len())];
                    eprintln!(
                        "out of order: {text} at {position}, after one at {last}; seen there: {around:?}"
                    );
                    tally.out_of_order += 1;
                }
                last_position = Some(*position);
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn nothing_is_lost_or_duplicated_under_crashes_outages_and_replays() {
    let guard = synapse::acquire().await;
    let db = TestDb::sqlite();
    let mut world = World::new(guard.synapse, db.url(), db.url()).await;
    let mut tallies = Vec::new();

    let kills = env_number("FAULTS_KILLS", 10);
    tallies.push((
        "SIGKILL",
        world
            .scenario("SIGKILL", async |w: &mut World, _| {
                w.kill_repeatedly(kills).await
            })
            .await,
    ));

    tallies.push((
        "Gateway 500/429, timeout after accepting",
        world
            .scenario("gateway", async |w: &mut World, _| {
                w.sim.inject_fault("send_e2e", Fault::status(500).times(10));
                w.sim.inject_fault("send_e2e", Fault::status(429).times(5));
                w.sim
                    .inject_fault("send_e2e", Fault::accept_then_timeout().times(2));
                tokio::time::sleep(Duration::from_secs(8)).await;
                w.sim.clear_faults();
            })
            .await,
    ));

    let lock = env_number("FAULTS_DB_OUTAGE_SECONDS", 10);
    let db_url = db.url().to_owned();
    tallies.push((
        "SQLite file locked by another process",
        world
            .scenario("sqlite-lock", async |_: &mut World, _| {
                use sqlx::Connection;
                let mut other = sqlx::SqliteConnection::connect(&db_url).await.unwrap();
                sqlx::query("BEGIN EXCLUSIVE")
                    .execute(&mut other)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(lock)).await;
                sqlx::query("COMMIT").execute(&mut other).await.unwrap();
            })
            .await,
    ));

    let outage = env_number("FAULTS_OUTAGE_SECONDS", 60);
    tallies.push((
        "Synapse stopped",
        world
            .scenario(
                "synapse",
                async |w: &mut World, desk_on: Arc<AtomicBool>| {
                    // The dispatcher cannot send while the homeserver is gone (the client says so).
                    desk_on.store(false, Ordering::Relaxed);
                    w.hs.stop().await;
                    tokio::time::sleep(Duration::from_secs(outage)).await;
                    w.hs.restart().await;
                    desk_on.store(true, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(3)).await;
                },
            )
            .await,
    ));

    tallies.push((
        "callbacks replayed, newest first",
        world
            .scenario("replay", async |w: &mut World, _| {
                let answers = w.sim.replay_delivered().await;
                assert!(
                    answers.iter().all(|a| *a == Some(200)),
                    "a repeated callback is acknowledged: {answers:?}"
                );
            })
            .await,
    ));

    tallies.push((
        "callbacks replayed 8 at a time, in random order",
        world
            .scenario("replay-concurrent", async |w: &mut World, _| {
                let answers = w.sim.replay_delivered_concurrently(8).await;
                assert!(
                    answers.iter().all(|a| *a == Some(200)),
                    "a repeated callback is acknowledged: {answers:?}"
                );
            })
            .await,
    ));

    report(&tallies);
    eprintln!("bridge starts: {}", world.starts);
    world.bridge.take().unwrap().terminate();
}

/// The same under end-to-bridge encryption, with the portals encrypted: SIGKILLs (the
/// devices' state reloaded each time, room keys arriving meanwhile) and callbacks replayed.
/// Every message crosses an encryption once. A room key the homeserver lost while the bridge
/// was down makes that room's messages "said undecryptable" (marked); most must go through.
#[tokio::test]
async fn nothing_is_lost_or_duplicated_with_encryption_under_crashes_and_replays() {
    let guard = synapse::acquire().await;
    let db = TestDb::sqlite();
    let mut world = World::encrypted(guard.synapse, db.url()).await;
    let kills = env_number("FAULTS_KILLS", 10);
    let mut tallies = vec![(
        "SIGKILL, encrypted",
        world
            .scenario("SIGKILL-e2e", async |w: &mut World, _| {
                w.kill_repeatedly(kills).await
            })
            .await,
    )];
    tallies.push((
        "callbacks replayed, encrypted",
        world
            .scenario("replay-e2e", async |w: &mut World, _| {
                let answers = w.sim.replay_delivered_concurrently(8).await;
                assert!(answers.iter().all(|a| *a == Some(200)), "{answers:?}");
            })
            .await,
    ));
    report(&tallies);
    // Each check covers everything sent since the start: the last one's marks are all of them.
    let sent: usize = tallies.iter().map(|(_, t)| t.sent).sum();
    let marked = tallies.last().map_or(0, |(_, t)| t.marked);
    assert!(
        marked * 2 <= sent,
        "{marked} of {sent} messages marked: more than keys lost in restarts explain"
    );
    world.bridge.take().unwrap().terminate();
}

/// Prints the README's table and fails on anything lost, duplicated or out of order.
fn report(tallies: &[(&str, Tally)]) {
    eprintln!(
        "\n| scenario | messages | lost | duplicated | out of order | receipts wrong | marked failed/unknown, so far |"
    );
    eprintln!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, t) in tallies {
        eprintln!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            t.sent, t.lost, t.duplicated, t.out_of_order, t.receipts_wrong, t.marked
        );
    }
    for (name, t) in tallies {
        assert_eq!(
            (t.lost, t.duplicated, t.out_of_order, t.receipts_wrong),
            (0, 0, 0, 0),
            "{name}: nothing lost, nothing twice, in order, receipts consistent"
        );
    }
}

/// PostgreSQL going away under load: every connection cut and new ones refused, twice, as a
/// restart of the database server does (through a proxy, so other tests keep their server).
#[tokio::test]
async fn nothing_is_lost_or_duplicated_when_postgresql_goes_away() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let guard = synapse::acquire().await;
    let proxy = common::tcp_proxy::Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let through_proxy = db.url().replacen(":5432/", &format!(":{}/", proxy.port), 1);
    assert_ne!(through_proxy, db.url(), "the database URL names port 5432");
    let mut world = World::new(guard.synapse, &through_proxy, db.url()).await;
    let outage = Duration::from_secs(env_number("FAULTS_DB_OUTAGE_SECONDS", 10));
    let proxy = Arc::new(proxy);
    let tally = world
        .scenario("postgres", async |_: &mut World, _| {
            for _ in 0..2 {
                proxy.outage(outage).await;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        })
        .await;
    report(&[("PostgreSQL connections cut twice", tally)]);
    world.bridge.take().unwrap().terminate();
    db.cleanup().await;
}

/// Active/standby: two processes on one PostgreSQL database, the homeserver and the Gateway
/// reaching the active through proxies. The active is SIGKILLed, then (the other one) paused
/// with SIGSTOP and resumed after the takeover: the standby takes over within the lease, and
/// nothing is lost, doubled or reordered; the resumed old active sends nothing (it would show
/// as a duplicate) and stays standby.
#[tokio::test]
async fn nothing_is_lost_or_duplicated_when_the_active_process_fails_over() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let guard = synapse::acquire().await;
    let lease = env_number("FAULTS_LEASE_SECONDS", 6);
    let mut world = World::pair(guard.synapse, db.url(), lease).await;
    let mut tallies = Vec::new();
    for (name, failure) in [
        ("active SIGKILLed", Failure::Kill),
        ("active SIGSTOPped, resumed", Failure::Pause),
    ] {
        let mut took = Duration::ZERO;
        let tally = world
            .scenario(name, async |w: &mut World, _| {
                tokio::time::sleep(Duration::from_millis(500 + rand::random::<u64>() % 1000)).await;
                took = w.fail_over(failure).await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            })
            .await;
        eprintln!("{name}: the standby took over after {took:?} (lease {lease} s)");
        assert!(
            took < Duration::from_secs(lease + 3),
            "{name}: takeover within the lease ({took:?})"
        );
        tallies.push((name, tally));
    }
    report(&tallies);
    world.bridge.take().unwrap().terminate();
    if let Some(standby) = world.pair.as_mut().and_then(|p| p.standby.take()) {
        standby.terminate();
    }
    db.cleanup().await;
}

/// Backup and restore: `database backup` taken while both sides write, more traffic after it,
/// then the bridge dies and a fresh install starts on the restored backup. It sends again
/// nothing the old install had sent (the phone has each dispatcher message once), posts again
/// nothing it had posted (each driver message once in its portal), marks what it cannot know
/// (the dispatcher's messages after the backup, found in the timeline again) outcome unknown,
/// and then bridges new messages both ways as before.
async fn a_restored_backup_repeats_nothing(db: &TestDb, fresh: &TestDb) {
    let guard = synapse::acquire().await;
    let mut world = World::new(guard.synapse, db.url(), db.url()).await;
    let backup = world.dir.path().join("backup");
    let (stop, desk_on) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(true)),
    );
    let traffic = world.traffic("before", stop.clone(), desk_on.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, out, err) = common::bridge::run_cli(
        &world.config_path,
        &["database", "backup", backup.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    let before = world.check((0, 0)).await;
    report(&[("before the disaster", before)]);
    let old = std::mem::take(&mut *world.sent.lock().unwrap());
    world.kill_bridge();

    // The fresh install: the backup restored into a new database, the config pointed at it.
    match fresh {
        TestDb::Sqlite { .. } => {
            let path = fresh.url().trim_start_matches("sqlite://");
            std::fs::copy(&backup, path).unwrap();
        }
        TestDb::Postgres { .. } => {
            let out = std::process::Command::new("psql")
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-d", fresh.url(), "-f"])
                .arg(&backup)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let config = std::fs::read_to_string(&world.config_path).unwrap();
    std::fs::write(&world.config_path, config.replace(db.url(), fresh.url())).unwrap();
    world.store = Store::connect(fresh.url(), 2).await.unwrap();
    world.start_bridge().await;
    let store = &world.store;
    assert_eq!(
        store
            .state_get(threema_bridge::store::RESTORE_PENDING)
            .await
            .unwrap(),
        None
    );
    assert!(
        store.restored_at().await.unwrap().is_some(),
        "the restore was settled"
    );

    // What only the old install knew is now outcome unknown, and said so in the portals.
    let unknown = wait_for("the caught-up messages to be settled", settle(), || async {
        let mut n = 0;
        for (event, _) in old.by_desk.values().flatten() {
            let rows = store.outbox_by_event(event).await.unwrap();
            n += rows
                .iter()
                .filter(|r| r.error.as_deref() == Some(threema_bridge::store::RESTORED))
                .count();
        }
        (n > 0).then_some(n)
    })
    .await;
    eprintln!("{unknown} dispatcher message(s) from after the backup marked outcome unknown");

    // New traffic goes through both ways.
    let after = world
        .scenario("after the restore", async |_: &mut World, _| {
            tokio::time::sleep(Duration::from_secs(3)).await;
        })
        .await;

    // Nothing from before is there twice: not on the phones, not in the portals.
    let mut repeated = Tally {
        sent: old
            .by_driver
            .values()
            .chain(old.by_desk.values())
            .map(Vec::len)
            .sum(),
        ..Tally::default()
    };
    for (driver, room) in &world.portals {
        let ghost = format!("@threema_{}:{DOMAIN}", driver.to_lowercase());
        let portal: Vec<String> = (world.desk.messages(room).await.iter())
            .filter(|m| m["sender"] == ghost.as_str())
            .filter_map(|m| m["content"]["body"].as_str().map(str::to_owned))
            .collect();
        let texts: Vec<&String> = old.by_driver[driver].iter().map(|(_, t)| t).collect();
        compare(&texts, &portal, &mut repeated, |_| false);
        let phone: Vec<String> = (world.sim.inbox(driver).into_iter())
            .filter_map(|m| match m.message {
                Decoded::Text(text) => Some(text),
                _ => None,
            })
            .collect();
        let texts: Vec<String> = (old.by_desk.get(driver).into_iter().flatten())
            .map(|(_, t)| format!("Desk: {t}"))
            .collect();
        compare(
            &texts.iter().collect::<Vec<_>>(),
            &phone,
            &mut repeated,
            |_| false,
        );
    }
    report(&[
        ("after the restore", after),
        ("from before the disaster, after the restore", repeated),
    ]);
    world.bridge.take().unwrap().terminate();
}

#[tokio::test]
async fn a_restored_sqlite_backup_repeats_nothing() {
    let (db, fresh) = (TestDb::sqlite(), TestDb::sqlite());
    a_restored_backup_repeats_nothing(&db, &fresh).await;
}

#[tokio::test]
async fn a_restored_postgresql_backup_repeats_nothing() {
    let (Some(db), Some(fresh)) = (TestDb::postgres().await, TestDb::postgres().await) else {
        return;
    };
    a_restored_backup_repeats_nothing(&db, &fresh).await;
    db.cleanup().await;
    fresh.cleanup().await;
}
