//! Driver files: the bridge's peak memory while `BENCH_LANES` drivers' `BENCH_FILE_MB` files
//! are handled at the same moment, against the stand-in homeserver (upload limit 1 GiB, so
//! nothing is refused) and the simulator. The files are stored first by a bridge that only
//! accepts callbacks (`inbox_workers: 0`), then one with a worker per file starts: every worker
//! takes a large file at once, the worst case `threema.file_memory_mb` bounds.

use threema_bridge::store::Store;
use threema_gateway_sim::UserMessage;
use tokio::time::Instant;

use super::{
    DOMAIN, Fleet, PATIENCE, Process, StandIn, Table, bench_config, common::synapse::Synapse,
    directory_sync, log_filter, measure::memory_mib, simulator, sqlite_in, work_dir,
};

pub async fn file_rows(hs: &Synapse, lanes: usize, file_mb: usize, table: &mut Table) {
    eprintln!("== {lanes} drivers sending a {file_mb} MB file each, stand-in homeserver");
    let registration: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&hs.registration).unwrap()).unwrap();
    let bot_localpart = registration["sender_localpart"].as_str().unwrap();
    let stand_in = StandIn::start(DOMAIN, bot_localpart).await;
    let dir = work_dir();
    let db = sqlite_in(&dir);
    let desk = format!("@bench-desk:{DOMAIN}");
    let mut config = bench_config(&db, &desk);
    config.inbox_workers = 0;
    let sim = simulator(&mut config).await;
    let fleet = Fleet::new(&sim, lanes, dir.path(), &desk);
    config.directory = fleet.directory_config(0);
    let config_path = config.write_for(dir.path(), &stand_in.url, hs);
    directory_sync(&config_path);
    let storing =
        Process::start_logging(&config_path, dir.path().join("storing.log"), &log_filter()).await;
    let (idle, _) = memory_mib(storing.pid());
    let size = file_mb * 1024 * 1024;
    let sends = fleet.drivers.iter().enumerate().map(|(n, driver)| {
        let file = UserMessage::file(vec![n as u8; size], "video/mp4", Some(&format!("f{n}.mp4")));
        sim.send_from_user(driver, file)
    });
    for sent in futures::future::join_all(sends).await {
        sent.unwrap();
    }
    let store = Store::connect(&db, 2).await.unwrap();
    while store.threema_inbox_count().await.unwrap() < lanes as i64 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    storing.terminate();

    config.inbox_workers = lanes;
    let config_path = config.write_for(dir.path(), &stand_in.url, hs);
    let started = Instant::now();
    let bridge =
        Process::start_logging(&config_path, dir.path().join("bridge.log"), &log_filter()).await;
    for n in 0..lanes {
        stand_in.arrivals.wait(&format!("f{n}.mp4"), PATIENCE).await;
    }
    let took = started.elapsed();
    let (_, peak) = memory_mib(bridge.pid());
    table.row(
        &format!("bridge peak memory, {lanes} drivers × {file_mb} MB files at once"),
        format!(
            "{peak:.0} MiB peak RSS ({idle:.0} MiB idle; {:.2} × the files' size above that)",
            (peak - idle) / (lanes * file_mb) as f64
        ),
        &format!(
            "all {lanes} bridged {:.1} s after the start (inbox_workers {lanes})",
            took.as_secs_f64()
        ),
    );
    bridge.terminate();
}
