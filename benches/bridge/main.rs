//! The performance bench (not a test): `scripts/bench` runs it and prints one table.
//!
//! Against the real Synapse of the test harness and the Gateway simulator, with the real
//! binary built in release mode and logging at `info`:
//! - **inbound**: phones write, each of `BENCH_LANES` drivers sending its next message once the
//!   previous one is visible to the dispatcher's client (a `/sync` long-poll); the same number
//!   of events sent straight to Synapse by a plain client (the appservice masquerading as the
//!   same ghosts, into the same rooms, with the same concurrency) is the limit;
//! - **outbound**: the dispatcher writes into the same portals, the next once the phone has
//!   decrypted the previous one;
//! - **cost**: the bridge process's CPU time per message and its peak RSS (`/proc`);
//! - **scale**: 10,000 drivers against a stand-in homeserver (see `stand_in.rs` for why):
//!   first sync, startup with them in the store, an unchanged re-sync, CPU per message.
//!
//! - **broadcast fan-out**: 250, 1,000 and 5,000 recipients (`BENCH_FANOUT`) against the
//!   stand-in, time to the last phone and CPU per recipient (`fanout.rs`).
//!
//! - **driver files**: `BENCH_LANES` drivers sending a `BENCH_FILE_MB` (50) file each at once,
//!   the bridge's peak memory (`files.rs`).
//!
//! `BENCH_ONLY=real,large,postgres,fanout,files` picks groups of rows.
//! Sizes: `BENCH_DRIVERS` (250), `BENCH_LARGE_DRIVERS` (10000), `BENCH_MESSAGES` (1000 each
//! way direct/bridged), `BENCH_OUT_MESSAGES` (500), `BENCH_LARGE_MESSAGES` (as many),
//! `BENCH_LANES` (16). For a look inside: `BENCH_LOG` (the bridge's `RUST_LOG`, default `info`;
//! keep `info` for `threema_bridge`) and `BENCH_KEEP=1` (keep the bridges' folders with config,
//! database and log; their paths are printed).

#[path = "../../tests/common/mod.rs"]
mod common;
mod fanout;
mod files;
mod measure;
mod stand_in;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::Duration,
};

use common::{
    bridge::{Process, TestConfig},
    db::TestDb,
    synapse::{self, DOMAIN},
    threema::unique_threema_id,
};
use measure::{
    Arrivals, Cpu, HomeserverWatch, Latencies, Run, Threads, closed_loop, memory_mib, ms,
};
use serde_json::{Value, json};
use stand_in::StandIn;
use threema_bridge::store::Store;
use threema_gateway_sim::{Behaviour, Simulator, UserMessage, UserSpec};
use tokio::time::Instant;

/// How long one message may take before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(120);

struct Sizes {
    drivers: usize,
    large: usize,
    messages: usize,
    out_messages: usize,
    large_messages: usize,
    lanes: usize,
    /// Recipients of the broadcast fan-out rows.
    fanout: Vec<usize>,
    /// Each driver's file in the memory row, in MB.
    file_mb: usize,
    /// Which groups of rows run: `real`, `large`, `postgres`, `fanout`, `files` (all by
    /// default).
    only: Vec<String>,
}

impl Sizes {
    fn from_env() -> Sizes {
        let get = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let sizes = Sizes {
            drivers: get("BENCH_DRIVERS", 250),
            large: get("BENCH_LARGE_DRIVERS", 10_000),
            messages: get("BENCH_MESSAGES", 1000),
            out_messages: get("BENCH_OUT_MESSAGES", 500),
            large_messages: get("BENCH_LARGE_MESSAGES", get("BENCH_MESSAGES", 1000)),
            lanes: get("BENCH_LANES", 16),
            fanout: std::env::var("BENCH_FANOUT")
                .unwrap_or_else(|_| "250,1000,5000".into())
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect(),
            file_mb: get("BENCH_FILE_MB", 50),
            only: std::env::var("BENCH_ONLY")
                .unwrap_or_else(|_| "real,large,postgres,fanout,files".into())
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect(),
        };
        assert!(sizes.lanes <= sizes.drivers, "BENCH_LANES ≤ BENCH_DRIVERS");
        sizes
    }
}

/// The printed table: one row per figure.
#[derive(Default)]
struct Table(Vec<[String; 3]>);

impl Table {
    fn row(&mut self, what: &str, value: String, note: &str) {
        eprintln!("  {what}: {value} {note}");
        self.0.push([what.to_owned(), value, note.to_owned()]);
    }

    fn run(&mut self, what: &str, run: &Run, note: &str) {
        self.row(
            what,
            format!(
                "{:.1} msg/s, p50 {} ms, p99 {} ms, max {} ms",
                run.per_second(),
                ms(run.percentile(50.0)),
                ms(run.percentile(99.0)),
                ms(run.percentile(100.0))
            ),
            note,
        );
    }

    fn print(&self) {
        println!("\n| measure | figure | note |\n| --- | --- | --- |");
        for [what, value, note] in &self.0 {
            println!("| {what} | {value} | {note} |");
        }
    }
}

#[tokio::main]
async fn main() {
    let sizes = Sizes::from_env();
    let mut table = Table::default();
    let guard = synapse::acquire().await;
    table.row(
        "machine",
        format!(
            "{} cores, {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::env::var("BENCH_DATE").unwrap_or_default()
        ),
        "everything (Synapse, simulator, bridge, clients) shares these cores",
    );
    let runs = |group: &str| sizes.only.iter().any(|g| g == group);
    if runs("real") {
        real_homeserver(guard.synapse, &sizes, &mut table).await;
    }
    if runs("large") {
        stand_in_rows(guard.synapse, &sizes, sizes.large, None, &mut table).await;
    }
    // The same fleet size as above on PostgreSQL: its commits are flushed by the server, so the
    // bridge's own share shows apart from SQLite's in-process fsyncs.
    match TestDb::postgres().await {
        _ if !runs("postgres") => {}
        Some(db) => {
            stand_in_rows(
                guard.synapse,
                &sizes,
                sizes.drivers,
                Some(db.url()),
                &mut table,
            )
            .await;
            db.cleanup().await;
        }
        None => eprintln!("no PostgreSQL on TEST_POSTGRES_URL: its rows are left out"),
    }
    if runs("fanout") {
        fanout::fanout_rows(guard.synapse, &sizes.fanout, &mut table).await;
    }
    if runs("files") {
        files::file_rows(guard.synapse, sizes.lanes, sizes.file_mb, &mut table).await;
    }
    table.print();
}

/// A fleet of simulated phones and the directory that names them.
struct Fleet {
    drivers: Vec<String>,
    csv: PathBuf,
}

impl Fleet {
    /// `size` phones that confirm receipt, as the Threema app does, and a CSV listing them
    /// (three depots) and the dispatcher.
    fn new(sim: &Simulator, size: usize, dir: &Path, dispatcher: &str) -> Fleet {
        let mut csv = String::from(
            "employee_id,display_name,role,active,threema_id,matrix_id,depot,vehicle,leave_date\n",
        );
        csv.push_str(&format!("P-0,Desk,dispatcher,true,,{dispatcher},,,\n"));
        let depots = ["North", "South", "East"];
        // Seven random hex digits: among 10,000 two are alike about once in five fleets.
        let mut taken = std::collections::HashSet::new();
        let drivers: Vec<String> = (0..size)
            .map(|n| {
                let id = std::iter::repeat_with(|| unique_threema_id('B'))
                    .find(|id| taken.insert(id.clone()))
                    .expect("an unused id");
                let name = format!("Driver {n}");
                sim.add_user(
                    UserSpec::new(&id)
                        .nickname(&name)
                        .behaviour(Behaviour::default()),
                );
                csv.push_str(&format!(
                    "E-{n},{name},driver,true,{id},,{},{n},\n",
                    depots[n % depots.len()]
                ));
                id
            })
            .collect();
        let path = dir.join("directory.csv");
        std::fs::write(&path, csv).unwrap();
        Fleet { drivers, csv: path }
    }

    fn directory_config(&self, sync_interval_seconds: u64) -> String {
        format!(
            "  csv: {}\n  check_seconds: 3600\n  sync_interval_seconds: {sync_interval_seconds}\n  space_attributes: [depot]\n  ghost_name_template: \"{{display_name}}\"\n  space_name: \"Bench {}\"\n",
            self.csv.display(),
            hex::encode(rand::random::<[u8; 3]>()),
        )
    }
}

/// A bridge config for the bench: production defaults where tests shrink them.
fn bench_config(db_url: &str, dispatcher: &str) -> TestConfig {
    let mut config = TestConfig::new(db_url);
    config.dispatchers = vec![dispatcher.to_owned()];
    config.inbox_workers = 16;
    config.callback_port = free_port();
    // Metrics on, as in production (and read by the rows on the bridge's own latency).
    config.sections = format!("metrics:\n  listen: {METRICS_HOST}:{}\n", free_port());
    config
}

const METRICS_HOST: &str = "127.0.0.1";

/// The bridge's `/metrics` address as `bench_config` set it.
fn metrics_url(config: &TestConfig) -> String {
    let (_, rest) = config
        .sections
        .split_once(&format!("listen: {METRICS_HOST}:"))
        .expect("bench_config sets metrics.listen");
    let port = rest.lines().next().unwrap();
    format!("http://{METRICS_HOST}:{port}/metrics")
}

/// The simulator with nothing slowing it down: no rate limit, callbacks 64 at a time.
async fn simulator(config: &mut TestConfig) -> Simulator {
    config
        .start_simulator(|sim| {
            sim.callback_concurrency = 64;
            sim.bulk_rate_limit = None;
            sim.credits = i64::MAX / 2;
        })
        .await
}

/// Waits for the bridge's startup sync to finish (its log says so at `info`).
async fn wait_synced(bridge: &Process, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !bridge.log_text().contains("directory in sync") {
        assert!(
            Instant::now() < deadline,
            "no directory sync after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The rows against the real homeserver: provisioning, both directions, the bridge's cost.
async fn real_homeserver(hs: &'static synapse::Synapse, sizes: &Sizes, table: &mut Table) {
    eprintln!("== {} drivers, real Synapse", sizes.drivers);
    let dir = work_dir();
    let db = sqlite_in(&dir);
    let desk = Arc::new(hs.new_user("bench-desk").await);
    let mut config = bench_config(&db, &desk.user_id);
    let sim = simulator(&mut config).await;
    let fleet = Fleet::new(&sim, sizes.drivers, dir.path(), &desk.user_id);
    config.directory = fleet.directory_config(3600);
    let config_path = config.write(dir.path(), hs);

    let started = Instant::now();
    let bridge =
        Process::start_logging(&config_path, dir.path().join("bridge.log"), &log_filter()).await;
    let pid = bridge.pid();
    let store = Store::connect(&db, 2).await.unwrap();
    wait_synced(&bridge, Duration::from_secs(3600)).await;
    let portals: Vec<(String, String)> = store
        .portals()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.threema_id.to_string(), p.room_id.to_string()))
        .collect();
    assert_eq!(portals.len(), sizes.drivers, "a portal per driver");
    table.row(
        &format!("first directory sync, {} drivers", sizes.drivers),
        format!("{:.0} s", started.elapsed().as_secs_f64()),
        "ghost, portal, space membership and invites per driver; Synapse-bound",
    );

    // The dispatcher's client joins every portal (invited by the sync) and follows /sync.
    let mut joins = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    for (_, room) in portals.clone() {
        let (desk, limit) = (desk.clone(), limit.clone());
        joins.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            desk.join(&room).await;
        });
    }
    joins.join_all().await;
    let arrivals = Arc::new(Arrivals::default());
    follow_sync(&hs.url, &desk.token, arrivals.clone()).await;

    let lanes: Arc<Vec<(String, String)>> = Arc::new(
        fleet.drivers[..sizes.lanes]
            .iter()
            .map(|d| {
                let room = portals.iter().find(|(t, _)| t == d).unwrap().1.clone();
                (d.clone(), room)
            })
            .collect(),
    );
    let per_lane = sizes.messages / sizes.lanes;

    // The limit: the same events straight to Synapse, as the ghosts, into the portals.
    let (as_token, _) = hs.tokens();
    let http = reqwest::Client::new();
    // Synapse's process (the pid file beside its log), to see where the cores go in each row.
    let synapse_pid: u32 = std::fs::read_to_string(hs.log.with_file_name("synapse.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let watch = HomeserverWatch::new(synapse_pid, &hs.log);
    let before_direct = watch.mark();
    let direct = {
        let (lanes, arrivals, url) = (lanes.clone(), arrivals.clone(), hs.url.clone());
        closed_loop(sizes.lanes, per_lane, move |lane, n| {
            let (driver, room) = lanes[lane].clone();
            let (arrivals, http, url, token) =
                (arrivals.clone(), http.clone(), url.clone(), as_token.clone());
            async move {
                let text = format!("direct {driver} {n}");
                let ghost = format!("@threema_{}:{DOMAIN}", driver.to_lowercase());
                let sent = Instant::now();
                let response = http
                    .put(format!(
                        "{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/{}?user_id={ghost}",
                        hex::encode(rand::random::<[u8; 8]>())
                    ))
                    .bearer_auth(&token)
                    .json(&json!({"msgtype": "m.text", "body": text}))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "direct send: {}", response.status());
                arrivals.wait(&text, PATIENCE).await - sent
            }
        })
        .await
    };

    let before_bridged = watch.mark();
    let cores_direct = watch.between(&before_direct, &before_bridged, &direct);
    let metrics = metrics_url(&config);
    let (cpu_before, threads_before) = (Cpu::now(pid), Threads::now(pid));
    let latencies_before = Latencies::scrape(&metrics).await;
    let drivers = lanes.iter().map(|(driver, _)| driver.clone()).collect();
    let bridged = phones_write(&sim, drivers, per_lane, &arrivals).await;
    let cpu_in = Cpu::now(pid).per_message_since(cpu_before, bridged.messages);
    let threads_in = Threads::now(pid).per_message_since(&threads_before, bridged.messages);
    let cores_bridged = watch.between(&before_bridged, &watch.mark(), &bridged);
    let latencies = Latencies::scrape(&metrics).await;
    let latency_in = latencies.means_since(&latencies_before);

    let (cpu_before, threads_before) = (Cpu::now(pid), Threads::now(pid));
    let latencies_before = latencies;
    let out_per_lane = sizes.out_messages / sizes.lanes;
    let sent_events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let outbound = {
        let (lanes, sim, desk) = (lanes.clone(), sim.clone(), desk.clone());
        let sent_events = sent_events.clone();
        closed_loop(sizes.lanes, out_per_lane, move |lane, n| {
            let (driver, room) = lanes[lane].clone();
            let (sim, desk, sent_events) = (sim.clone(), desk.clone(), sent_events.clone());
            async move {
                let sent = Instant::now();
                let event = desk.send_text(&room, &format!("out {n}")).await;
                sim.try_wait_inbox(&driver, n + 1, PATIENCE)
                    .await
                    .expect("the phone gets the message");
                sent_events.lock().unwrap().push(event);
                sent.elapsed()
            }
        })
        .await
    };
    // Each message's delivery receipt (its ✓ in the room) is part of its cost.
    let events = sent_events.lock().unwrap().clone();
    for event in events {
        let deadline = Instant::now() + PATIENCE;
        while !store
            .outbox_by_event(&event)
            .await
            .unwrap()
            .iter()
            .any(|r| r.status.received_at.is_some() && r.status.marker_event.is_some())
        {
            assert!(Instant::now() < deadline, "no delivery receipt for {event}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let cpu_out = Cpu::now(pid).per_message_since(cpu_before, outbound.messages);
    let threads_out = Threads::now(pid).per_message_since(&threads_before, outbound.messages);
    let latency_out = Latencies::scrape(&metrics)
        .await
        .means_since(&latencies_before);
    let (_, peak) = memory_mib(pid);

    let lanes_note = format!(
        "{} conversations at once, each waiting for its last message",
        sizes.lanes
    );
    table.run(
        "inbound, direct to Synapse (the limit)",
        &direct,
        &lanes_note,
    );
    table.run(
        "inbound, phone → bridge → dispatcher's client",
        &bridged,
        "latency from the phone's send to the event in the client's /sync",
    );
    table.row(
        "inbound, bridge / direct",
        format!(
            "{:.0} %",
            100.0 * bridged.per_second() / direct.per_second()
        ),
        "throughput ratio, same run",
    );
    table.run(
        "outbound, dispatcher → phone",
        &outbound,
        "latency from the client's send to the text decrypted on the phone",
    );
    table.row(
        &format!("bridge CPU per message, {} drivers", sizes.drivers),
        format!("inbound {cpu_in}, outbound {cpu_out}"),
        "user + system time of the bridge process; outbound includes the delivery receipt",
    );
    table.row(
        "the cores during the inbound rows",
        format!("direct: {cores_direct}; through the bridge: {cores_bridged}"),
        "all processes (/proc/stat); Synapse's process (one Python process: one core is its \
         limit) and its log",
    );
    table.row(
        "the bridge's own latency, mean",
        format!("inbound: {latency_in}. Outbound: {latency_out}"),
        "its histograms: callback → event accepted (the homeserver's answer included), \
         transaction → Gateway accepted, receipt → ✓ accepted",
    );
    table.row(
        &format!("bridge threads per message, {} drivers", sizes.drivers),
        format!("inbound: {threads_in}. Outbound: {threads_out}"),
        "CPU and context switches (voluntary and not) by thread name, digits left out",
    );
    table.row(
        &format!("bridge peak RSS, {} drivers", sizes.drivers),
        format!("{peak:.1} MiB"),
        "VmHWM after the runs",
    );
    bridge.terminate();
}

/// Inbound through the bridge: each driver sends its next message once the previous one has
/// arrived; latency from the phone's send to the arrival.
async fn phones_write(
    sim: &Simulator,
    drivers: Vec<String>,
    per_lane: usize,
    arrivals: &Arc<Arrivals>,
) -> Run {
    let (sim, arrivals, drivers) = (sim.clone(), arrivals.clone(), Arc::new(drivers));
    closed_loop(drivers.len(), per_lane, move |lane, n| {
        let driver = drivers[lane].clone();
        let (arrivals, sim) = (arrivals.clone(), sim.clone());
        async move {
            let text = format!("bridged {driver} {n}");
            let sent = Instant::now();
            sim.send_from_user(&driver, UserMessage::text(&text))
                .await
                .unwrap();
            arrivals.wait(&text, PATIENCE).await - sent
        }
    })
    .await
}

/// Follows the dispatcher's `/sync`, recording when each message body first shows; returns
/// once the initial sync is done.
async fn follow_sync(url: &str, token: &str, arrivals: Arc<Arrivals>) {
    let filter = json!({
        "room": {
            "timeline": {"types": ["m.room.message"], "limit": 100},
            "state": {"lazy_load_members": true, "types": []},
            "ephemeral": {"types": []},
            "account_data": {"types": []}
        },
        "presence": {"types": []},
        "account_data": {"types": []}
    })
    .to_string();
    let (url, token) = (url.to_owned(), token.to_owned());
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut since: Option<String> = None;
        let mut ready = Some(ready_tx);
        loop {
            let mut query = vec![("timeout", "30000".to_owned()), ("filter", filter.clone())];
            if let Some(since) = &since {
                query.push(("since", since.clone()));
            }
            let Ok(response) = http
                .get(format!("{url}/_matrix/client/v3/sync"))
                .bearer_auth(&token)
                .query(&query)
                .send()
                .await
            else {
                continue;
            };
            let Ok(body) = response.json::<Value>().await else {
                continue;
            };
            for room in body["rooms"]["join"].as_object().into_iter().flatten() {
                for event in room.1["timeline"]["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if let Some(text) = event["content"]["body"].as_str() {
                        arrivals.record(text);
                    }
                }
            }
            since = body["next_batch"].as_str().map(str::to_owned);
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
        }
    });
    ready_rx.await.unwrap();
}

/// The rows with a large fleet in the store, against the stand-in homeserver.
/// The rows against the stand-in homeserver for a fleet of `n`: first sync, startup, unchanged
/// re-sync, inbound cost; on SQLite in the bridge's folder, or on `postgres`.
async fn stand_in_rows(
    hs: &'static synapse::Synapse,
    sizes: &Sizes,
    n: usize,
    postgres: Option<&str>,
    table: &mut Table,
) {
    let kind = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    eprintln!("== {n} drivers, stand-in homeserver, {kind}");
    let registration: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&hs.registration).unwrap()).unwrap();
    let bot = registration["sender_localpart"].as_str().unwrap();
    let stand_in = StandIn::start(DOMAIN, bot).await;
    let dir = work_dir();
    let db = postgres.map_or_else(|| sqlite_in(&dir), str::to_owned);
    let desk = format!("@bench-desk:{DOMAIN}");
    let mut config = bench_config(&db, &desk);
    let sim = simulator(&mut config).await;
    let fleet = Fleet::new(&sim, n, dir.path(), &desk);
    // No schedule: the syncs below are the CLI's, timed one by one.
    config.directory = fleet.directory_config(0);
    let config_path = config.write_for(dir.path(), &stand_in.url, hs);

    let (took, _) = directory_sync(&config_path);
    table.row(
        &format!("first directory sync, {n} drivers, {kind}"),
        format!("{:.1} s", took.as_secs_f64()),
        "stand-in homeserver answering at once: the bridge's own share",
    );

    let started = Instant::now();
    let bridge =
        Process::start_logging(&config_path, dir.path().join("bridge.log"), &log_filter()).await;
    let startup = started.elapsed();
    let pid = bridge.pid();
    let (rss, _) = memory_mib(pid);
    table.row(
        &format!("startup with {n} drivers in the store, {kind}"),
        format!("{:.2} s, RSS {rss:.1} MiB", startup.as_secs_f64()),
        "process start → /ready",
    );

    let (took, report) = directory_sync(&config_path);
    assert!(report.contains("0 change"), "unchanged: {report}");
    let calls = report
        .lines()
        .find_map(|l| l.split_once("homeserver calls "))
        .map_or("?", |(_, n)| n.trim());
    table.row(
        &format!("unchanged directory re-sync, {n} entries, {kind}"),
        format!("{:.2} s, {calls} homeserver requests", took.as_secs_f64()),
        "`threema-bridge directory sync` wall time, process start included",
    );

    let cpu_before = Cpu::now(pid);
    let requests = stand_in.requests();
    let per_lane = sizes.large_messages / sizes.lanes;
    let drivers = fleet.drivers[..sizes.lanes].to_vec();
    let bridged = phones_write(&sim, drivers, per_lane, &stand_in.arrivals).await;
    let cpu_in = Cpu::now(pid).per_message_since(cpu_before, bridged.messages);
    let per_message = (stand_in.requests() - requests) as f64 / bridged.messages as f64;
    let (_, peak) = memory_mib(pid);
    table.run(
        &format!("inbound with {n} drivers, {kind} (stand-in homeserver)"),
        &bridged,
        "latency to the homeserver's answer, not a client's sync",
    );
    table.row(
        &format!("bridge cost per inbound message, {n} drivers, {kind}"),
        format!("CPU {cpu_in}, {per_message:.2} homeserver requests; peak RSS {peak:.1} MiB"),
        "",
    );
    bridge.terminate();
}

/// Runs `threema-bridge directory sync` once; its wall time and its report.
fn directory_sync(config: &Path) -> (Duration, String) {
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_threema-bridge"))
        .args(["-c", config.to_str().unwrap(), "directory", "sync"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let took = started.elapsed();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "directory sync failed: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, report)
}

fn sqlite_in(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/bridge.db", dir.path().display())
}

fn log_filter() -> String {
    std::env::var("BENCH_LOG").unwrap_or_else(|_| "info".into())
}

/// A folder for one bridge's config, log and (SQLite) database; kept with `BENCH_KEEP=1`.
fn work_dir() -> tempfile::TempDir {
    let mut dir = tempfile::tempdir().unwrap();
    if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        dir.disable_cleanup(true);
        eprintln!("  kept: {}", dir.path().display());
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
