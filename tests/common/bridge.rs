//! The bridge under test: in-process (`App::build` + `run`) or as the real binary.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use threema_bridge::{app::App, bridge::Bridge, config::Config};
use tokio_util::sync::CancellationToken;

use threema_gateway_sim::{SimConfig, Simulator};

use super::{
    db::TestDb,
    synapse::{DOMAIN, Synapse, SynapseGuard, path_str, wait_for},
};

/// `threema-bridge -c CONFIG ARGS` with `env` added: (exit code, stdout, stderr).
///
/// It blocks its thread until the process ends: a test that runs it while a bridge runs in the
/// test's own runtime must use the multi-thread runtime, or the bridge stops on that thread,
/// perhaps holding a database lock the command then waits for.
pub fn run_cli(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_threema-bridge"))
        .arg("-c")
        .arg(config)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Values that are secrets in the config; tests check they never reach a log.
pub const GATEWAY_SECRET: &str = "gw-secret-Zq81mV0pLx";
pub const GATEWAY_ID: &str = "*DISPTCH";

#[derive(Clone)]
pub struct TestConfig {
    pub db_url: String,
    /// The homeserver URL the bridge uses, if not the test homeserver's own (a proxy in front).
    pub homeserver_url: Option<String>,
    /// The Gateway the bridge talks to (the simulator); nothing listens on the default.
    pub gateway_url: String,
    pub gateway_timeout_s: u64,
    pub inbox_workers: usize,
    pub max_body_bytes: usize,
    pub private_key: String,
    pub dispatchers: Vec<String>,
    /// `bridge.unknown_senders`; tests default to `open` (every sender gets a portal).
    pub unknown_senders: String,
    /// More `bridge:` keys, as YAML lines indented by two spaces.
    pub bridge_extra: String,
    /// `threema.callback_listen` port; 0 picks a free one at each start.
    pub callback_port: u16,
    /// `appservice.listen` port, if not the one the homeserver calls (a proxy in front).
    pub appservice_listen: Option<u16>,
    /// `directory:` keys, as YAML lines indented by two spaces (none: no directory).
    pub directory: String,
    /// More `threema:` keys, as YAML lines indented by two spaces.
    pub threema_extra: String,
    /// More top-level sections (e.g. `broadcast:`), as YAML.
    pub sections: String,
    /// The homeserver a [`Harness`] holds, set before its tweak runs (a proxy in front of it
    /// needs its address).
    pub synapse: Option<&'static Synapse>,
}

impl TestConfig {
    pub fn new(db_url: &str) -> Self {
        TestConfig {
            db_url: db_url.to_owned(),
            homeserver_url: None,
            gateway_url: "http://127.0.0.1:9".into(),
            gateway_timeout_s: 10,
            inbox_workers: 4,
            max_body_bytes: 1024 * 1024,
            private_key: hex::encode(rand::random::<[u8; 32]>()),
            dispatchers: Vec::new(),
            unknown_senders: "open".into(),
            bridge_extra: String::new(),
            callback_port: 0,
            appservice_listen: None,
            directory: String::new(),
            threema_extra: String::new(),
            sections: String::new(),
            synapse: None,
        }
    }

    /// The homeserver the [`Harness`] holds.
    pub fn synapse(&self) -> &'static Synapse {
        self.synapse.expect("set by the Harness before its tweak")
    }

    /// Gives the bridge admin rights on that homeserver (`synapse_admin:`).
    pub fn with_synapse_admin(&mut self) {
        let token = &self.synapse().admin_token;
        self.sections
            .push_str(&format!("synapse_admin:\n  token: \"{token}\"\n"));
    }

    /// Starts the Gateway simulator for this bridge (its key, 1/100 of the real delays, then
    /// `tweak`) and points the bridge at it; with a fixed `callback_port`, the simulator's
    /// callbacks go there.
    pub async fn start_simulator(&mut self, tweak: impl FnOnce(&mut SimConfig)) -> Simulator {
        let key = super::threema::bridge_public_key(&self.private_key);
        let mut sim_config = SimConfig::new(GATEWAY_ID, GATEWAY_SECRET, *key.as_bytes());
        sim_config.time_scale = 0.01;
        tweak(&mut sim_config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = Simulator::start(sim_config, listener).await.unwrap();
        if self.callback_port != 0 {
            sim.set_callback_url(&format!(
                "http://127.0.0.1:{}/threema/callback",
                self.callback_port
            ));
        }
        self.gateway_url = sim.base_url();
        sim
    }

    /// Writes `config.yaml` into `dir` for the shared test homeserver.
    pub fn write(&self, dir: &Path, synapse: &Synapse) -> PathBuf {
        let url = self.homeserver_url.as_deref().unwrap_or(&synapse.url);
        self.write_for(dir, url, synapse)
    }

    /// Writes `config.yaml` into `dir` for the homeserver at `url` (`synapse` itself or a
    /// stand-in for it), which pushes to `synapse`'s appservice port.
    pub fn write_for(&self, dir: &Path, url: &str, synapse: &Synapse) -> PathBuf {
        let registration = &synapse.registration;
        let port = synapse.appservice_port;
        let yaml = format!(
            r#"homeserver:
  url: {hs}
  domain: {DOMAIN}
appservice:
  registration: {registration}
  listen: 127.0.0.1:{listen}
  url: http://127.0.0.1:{port}
  max_body_bytes: {max_body}
threema:
  api_url: {gateway}
  gateway_id: "{GATEWAY_ID}"
  secret: "{GATEWAY_SECRET}"
  private_key: "{key}"
  callback_listen: 127.0.0.1:{callback_port}
  timeout_seconds: {gateway_timeout}
{threema_extra}
database:
  url: "{db}"
  max_connections: 4
bridge:
  inbox_workers: {workers}
  dispatchers: {dispatchers:?}
  unknown_senders: {unknown_senders}
{bridge_extra}
{directory}
{sections}
logging:
  filter: info,threema_bridge=debug
"#,
            hs = url,
            listen = self.appservice_listen.unwrap_or(port),
            gateway = self.gateway_url,
            gateway_timeout = self.gateway_timeout_s,
            registration = path_str(registration),
            max_body = self.max_body_bytes,
            key = self.private_key,
            db = self.db_url,
            workers = self.inbox_workers,
            dispatchers = self.dispatchers,
            unknown_senders = self.unknown_senders,
            bridge_extra = self.bridge_extra,
            callback_port = self.callback_port,
            threema_extra = self.threema_extra,
            sections = self.sections,
            directory = match self.directory.as_str() {
                "" => String::new(),
                keys => format!("directory:\n{keys}"),
            },
        );
        let path = dir.join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }
}

/// A bridge running inside the test process.
pub struct InProcess {
    pub bridge: Arc<Bridge>,
    pub base_url: String,
    /// Where the Gateway (or a test) posts callbacks.
    pub callback_url: String,
    /// `GET /metrics`, with `metrics.listen` configured.
    pub metrics_url: Option<String>,
    /// The integration API's base (`http://host:port`), with `api.listen` configured.
    pub api_url: Option<String>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl InProcess {
    pub async fn start(config_path: &Path) -> Self {
        // Through the test writer, so logs show only for failing tests.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,threema_bridge=debug")
            .with_test_writer()
            .try_init();
        let config = Config::load(config_path).expect("test config is valid");
        let app = App::build(config).await.expect("bridge starts");
        let base_url = format!("http://{}", app.appservice_addr());
        let callback_url = format!("http://{}/threema/callback", app.callback_addr());
        let metrics_url = app.metrics_addr().map(|a| format!("http://{a}/metrics"));
        let api_url = app.api_addr().map(|a| format!("http://{a}"));
        let bridge = app.bridge();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { app.run(token).await.expect("bridge runs") });
        let started = InProcess {
            bridge,
            base_url,
            callback_url,
            metrics_url,
            api_url,
            shutdown,
            task,
        };
        started.wait_ready().await;
        started
    }

    async fn wait_ready(&self) {
        let url = format!("{}/ready", self.base_url);
        wait_for(
            "the bridge to be ready",
            Duration::from_secs(30),
            || async {
                let ok = reqwest::get(&url).await.ok()?.status().is_success();
                ok.then_some(())
            },
        )
        .await;
    }

    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        self.shutdown.cancel();
        (&mut self.task).await.unwrap();
    }
}

/// The real `threema-bridge serve` in a child process, its log captured in a file.
pub struct Process {
    child: Child,
    pub log: PathBuf,
    pub base_url: String,
}

impl Process {
    /// Logs at every level, so a secret anywhere in the logs would show.
    pub async fn start(config_path: &Path, log: PathBuf) -> Self {
        Self::start_logging(config_path, log, "debug").await
    }

    /// With `RUST_LOG` set to `filter` (the benchmark runs at a production level).
    pub async fn start_logging(config_path: &Path, log: PathBuf, filter: &str) -> Self {
        let base_url = format!("http://{}", appservice_url_host(config_path));
        Self::start_at(config_path, log, filter, base_url).await
    }

    /// Ready when its own `appservice.listen` answers (the homeserver's URL may lead to
    /// another process).
    pub async fn start_own(config_path: &Path, log: PathBuf) -> Self {
        let config: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(config_path).unwrap()).unwrap();
        let listen = config["appservice"]["listen"]
            .as_str()
            .expect("appservice.listen");
        Self::start_at(config_path, log, "debug", format!("http://{listen}")).await
    }

    /// With environment variables set (a test clock).
    pub async fn start_with_env(config_path: &Path, log: PathBuf, env: &[(&str, String)]) -> Self {
        let base_url = format!("http://{}", appservice_url_host(config_path));
        Self::start_env(config_path, log, "debug", base_url, env).await
    }

    async fn start_at(config_path: &Path, log: PathBuf, filter: &str, base_url: String) -> Self {
        Self::start_env(config_path, log, filter, base_url, &[]).await
    }

    async fn start_env(
        config_path: &Path,
        log: PathBuf,
        filter: &str,
        base_url: String,
        env: &[(&str, String)],
    ) -> Self {
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_threema-bridge"))
            .args(["-c", path_str(config_path), "serve"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", filter)
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap();
        let mut process = Process {
            child,
            log,
            base_url,
        };
        let url = format!("{}/ready", process.base_url);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!("bridge exited with {status}:\n{}", process.log_text());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "bridge not ready:\n{}",
                process.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    /// `active` or `standby`, as `/ready` says (`None`: no answer).
    pub async fn role(&self) -> Option<String> {
        let ready: serde_json::Value = reqwest::get(format!("{}/ready", self.base_url))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        ready["role"].as_str().map(str::to_owned)
    }

    /// SIGSTOP (`pause`) or SIGCONT: the process stops and goes on where it was.
    pub fn pause(&self, pause: bool) {
        let signal = if pause { "-STOP" } else { "-CONT" };
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bridge running in-process against the shared Synapse, with its own database and folder;
/// optionally with the Threema Gateway simulator as its Gateway. Derefs to the running bridge.
pub struct Harness {
    running: InProcess,
    pub config: TestConfig,
    pub db: TestDb,
    pub synapse: &'static Synapse,
    _dir: tempfile::TempDir,
    _guard: SynapseGuard,
}

impl std::ops::Deref for Harness {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.running
    }
}

impl Harness {
    pub async fn start(db: TestDb, tweak: impl FnOnce(&mut TestConfig)) -> Harness {
        Self::start_inner(db, false, tweak).await.0
    }

    /// With the simulator as the Gateway, posting its callbacks to the bridge.
    pub async fn with_simulator(tweak: impl FnOnce(&mut TestConfig)) -> (Harness, Simulator) {
        Self::with_simulator_on(TestDb::sqlite(), tweak).await
    }

    /// [`Harness::with_simulator`] on the given database.
    pub async fn with_simulator_on(
        db: TestDb,
        tweak: impl FnOnce(&mut TestConfig),
    ) -> (Harness, Simulator) {
        let (harness, sim) = Self::start_inner(db, true, tweak).await;
        (harness, sim.expect("started with a simulator"))
    }

    /// [`Harness::with_simulator`] on the homeserver that encrypts every new room.
    pub async fn with_simulator_encrypting(
        tweak: impl FnOnce(&mut TestConfig),
    ) -> (Harness, Simulator) {
        let guard = super::synapse::acquire_encrypting().await;
        let (harness, sim) = Self::start_on(guard, TestDb::sqlite(), true, tweak).await;
        (harness, sim.expect("started with a simulator"))
    }

    async fn start_inner(
        db: TestDb,
        with_simulator: bool,
        tweak: impl FnOnce(&mut TestConfig),
    ) -> (Harness, Option<Simulator>) {
        let guard = super::synapse::acquire().await;
        Self::start_on(guard, db, with_simulator, tweak).await
    }

    async fn start_on(
        guard: super::synapse::SynapseGuard,
        db: TestDb,
        with_simulator: bool,
        tweak: impl FnOnce(&mut TestConfig),
    ) -> (Harness, Option<Simulator>) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = TestConfig::new(db.url());
        config.synapse = Some(guard.synapse);
        let sim = match with_simulator {
            true => Some(config.start_simulator(|_| {}).await),
            false => None,
        };
        tweak(&mut config);
        let running = InProcess::start(&config.write(dir.path(), guard.synapse)).await;
        if let Some(sim) = &sim {
            sim.set_callback_url(&running.callback_url);
        }
        let synapse = guard.synapse;
        (
            Harness {
                running,
                config,
                db,
                synapse,
                _dir: dir,
                _guard: guard,
            },
            sim,
        )
    }

    /// Pushes `events` to the bridge as the homeserver does (a transaction of its own), for what
    /// a homeserver would relay but a test client cannot make it send.
    pub async fn push_events(&self, events: Vec<serde_json::Value>) {
        let (_, hs_token) = self.synapse.tokens();
        let txn = hex::encode(rand::random::<[u8; 8]>());
        let status = reqwest::Client::new()
            .put(format!(
                "{}/_matrix/app/v1/transactions/{txn}",
                self.base_url
            ))
            .bearer_auth(&hs_token)
            .json(&serde_json::json!({ "events": events }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "the transaction is taken");
    }

    /// Stops the bridge and starts it again on the same database and config, as an upgrade or
    /// an operator would; the simulator's callbacks follow it.
    pub async fn restart(&mut self, sim: Option<&Simulator>) {
        self.running.shut_down().await;
        let path = self.config.write(self._dir.path(), self.synapse);
        self.running = InProcess::start(&path).await;
        if let Some(sim) = sim {
            sim.set_callback_url(&self.running.callback_url);
        }
    }

    /// Stops the bridge and drops a PostgreSQL test database.
    pub async fn stop(self) {
        self.running.stop().await;
        self.db.cleanup().await;
    }
}

/// Where the homeserver reaches the bridge of `config_path` (`appservice.url`'s host and port).
fn appservice_url_host(config_path: &Path) -> String {
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(config_path).unwrap()).unwrap();
    let url = config["appservice"]["url"]
        .as_str()
        .expect("appservice.url");
    url.trim_start_matches("http://").to_owned()
}
