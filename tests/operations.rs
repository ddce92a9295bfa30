//! What IT installs beside the binary and how the serving process runs: the systemd unit
//! verifies as written; `serve` keeps its threads to the cores `runtime.cpus` asks for.

use crate::common;

use std::{path::Path, process::Command};

use common::{
    bridge::{Process, TestConfig},
    db::TestDb,
    synapse,
};

#[test]
fn the_systemd_unit_verifies() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/threema-bridge.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    // The unit names where the binary is installed; here it is the one just built.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("threema-bridge.service");
    let built = env!("CARGO_BIN_EXE_threema-bridge");
    std::fs::write(&copy, text.replace("/usr/local/bin/threema-bridge", built)).unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze runs (Debian's systemd package; .ci/run installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    // Other units of the machine may draw remarks; ours may not.
    assert!(
        verified.status.success() && !said.contains("threema-bridge.service"),
        "{said}"
    );
    for hardening in [
        "User=threema-bridge",
        "ProtectSystem=strict",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "Restart=on-failure",
    ] {
        assert!(text.lines().any(|l| l == hardening), "{hardening}");
    }
}

/// The cores each thread of process `pid` may run on. A thread that ends meanwhile (an idle
/// blocking-pool thread) is left out.
fn threads_cores(pid: u32) -> Vec<Vec<usize>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .map(|status| allowed_cores(&status))
        .collect()
}

/// The cores a `/proc/.../status` allows (`Cpus_allowed_list`, e.g. `0-2,5`).
fn allowed_cores(status: &str) -> Vec<usize> {
    let list = (status.lines())
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in /proc/.../status")
        .trim();
    list.split(',')
        .flat_map(|range| {
            let (from, to) = range.split_once('-').unwrap_or((range, range));
            from.parse::<usize>().unwrap()..=to.parse::<usize>().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn serve_keeps_its_threads_to_one_core_unless_runtime_cpus_says_all() {
    let ours = allowed_cores(&std::fs::read_to_string("/proc/self/status").unwrap());
    if ours.len() < 2 {
        eprintln!("one core only: nothing to keep the bridge's threads to");
        return;
    }
    let guard = synapse::acquire().await;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let mut config = TestConfig::new(db.url());
    let _sim = config.start_simulator(|_| {}).await;
    let config_path = config.write(dir.path(), guard.synapse);

    // By default: every thread (the runtime's, the SQLite connections') on the same one core,
    // one the process may use.
    let bridge = Process::start(&config_path, dir.path().join("one.log")).await;
    let threads = threads_cores(bridge.pid());
    assert!(
        threads.len() >= 3,
        "a runtime and connection threads: {threads:?}"
    );
    let core = &threads[0];
    assert_eq!(core.len(), 1, "{threads:?}");
    assert!(ours.contains(&core[0]), "{core:?} not among {ours:?}");
    assert!(threads.iter().all(|t| t == core), "{threads:?}");
    assert!(bridge.log_text().contains(&format!("cores=[{}]", core[0])));
    assert!(bridge.terminate().success());

    // `all` leaves them every core the process may use.
    let all = [("THREEMA_BRIDGE__RUNTIME__CPUS", "all".to_owned())];
    let bridge = Process::start_with_env(&config_path, dir.path().join("all.log"), &all).await;
    let threads = threads_cores(bridge.pid());
    assert!(threads.iter().all(|t| *t == ours), "{threads:?}");
    assert!(bridge.terminate().success());
}
