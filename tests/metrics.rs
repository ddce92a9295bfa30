//! `/metrics` as IT sees it: a real Prometheus (Debian's `prometheus` package, which `.ci/run`
//! installs) scrapes a running bridge while a driver and a dispatcher write; the alert rules
//! pass `promtool`, and the alerts and the Grafana dashboard only ask for series that exist.

use crate::common;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart, wait_for},
    threema::add_phone,
};
use serde_json::Value;
use threema_bridge::metrics::{Direction, Figures, Metrics};
use threema_gateway_sim::{Behaviour, UserMessage};

const WAIT: Duration = Duration::from_secs(60);

/// Where Debian's package puts a program (also found on `PATH`).
fn program(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!("{name} not found: install Debian's prometheus package (.ci/run does)")
    })
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A Prometheus server of the test's own, scraping one target every second.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
                 scrape_configs:\n\
                 - job_name: threema_bridge\n  static_configs: [{{targets: [\"{target}\"]}}]\n"
            ),
        )
        .unwrap();
        // A free port, handed over: another process may take it first, and then Prometheus
        // exits at once and the next port is tried.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
            let mut child = Command::new(program("prometheus"))
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("prometheus starts");
            let url = format!("http://127.0.0.1:{port}");
            let ready = format!("{url}/-/ready");
            let deadline = tokio::time::Instant::now() + WAIT;
            let up = loop {
                if child.try_wait().unwrap().is_some() {
                    break false;
                }
                let answer = reqwest::get(&ready).await;
                if answer.is_ok_and(|a| a.status().is_success()) {
                    break true;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "Prometheus never got ready"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            if up {
                return Prometheus {
                    child,
                    url,
                    _dir: dir,
                };
            }
        }
        let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        panic!("Prometheus did not start:\n{log}");
    }

    /// The value of an instant query that returns one series, if it returns one.
    async fn value(&self, query: &str) -> Option<f64> {
        let answer: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        assert_eq!(answer["status"], "success", "{query}: {answer}");
        let result = answer["data"]["result"].as_array()?;
        result.first()?["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn prometheus_scrapes_what_the_bridge_did_without_personal_data() {
    let lp = unique_localpart("mona");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{lp}:{DOMAIN}")];
        c.sections = "metrics:\n  listen: 127.0.0.1:0\n".into();
    })
    .await;
    let metrics_url = h.metrics_url.clone().expect("metrics.listen is set");
    let target = metrics_url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let prometheus = Prometheus::start(target).await;
    let desk = Dispatcher::login(h.synapse, &lp, "Mona Dispo").await;
    // The phone confirms what it receives: a receipt, and its marker in the portal.
    let driver = add_phone(&sim, 'M', "Moritz Motor", Behaviour::default());

    sim.send_from_user(&driver, UserMessage::text("Guten Morgen"))
        .await
        .unwrap();
    let portal = desk.wait_invite(WAIT).await;
    desk.join(&portal).await;
    desk.wait_messages(&portal, 1, WAIT).await;
    desk.send_text(&portal, "Morgen, Moritz").await;
    sim.wait_inbox(&driver, 1, WAIT).await;
    // Out of credits: the next message fails, once, for the Gateway's reason.
    sim.set_credits(0);
    let refused = desk.send_text(&portal, "Und jetzt?").await;
    desk.wait_message(&portal, "the no-credits notice", |m| {
        m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == refused.as_str()
    })
    .await;

    // What Prometheus stored from its scrapes, as IT would query it.
    let expected = [
        (
            r#"threema_bridge_messages_bridged_total{direction="to_matrix",kind="text"}"#,
            1.0,
        ),
        (
            r#"threema_bridge_messages_bridged_total{direction="to_threema",kind="text"}"#,
            1.0,
        ),
        (
            "threema_bridge_threema_to_matrix_latency_seconds_count",
            1.0,
        ),
        (
            "threema_bridge_matrix_to_threema_latency_seconds_count",
            1.0,
        ),
        (
            "threema_bridge_receipt_to_marker_latency_seconds_count",
            1.0,
        ),
        (
            r#"threema_bridge_gateway_requests_total{endpoint="send_e2e",status="200"}"#,
            1.0,
        ),
        (
            r#"threema_bridge_gateway_requests_total{endpoint="send_e2e",status="402"}"#,
            1.0,
        ),
        (
            r#"threema_bridge_messages_failed_total{direction="to_threema",reason="402"}"#,
            1.0,
        ),
        ("threema_bridge_outbox_outcome_unknown_total", 0.0),
        (
            r#"sum(threema_bridge_queue_items_total{queue="threema",outcome="bridged"})"#,
            2.0,
        ),
        (r#"threema_bridge_queue_depth{queue="outbox"}"#, 0.0),
        (
            r#"threema_bridge_queue_oldest_age_seconds{queue="matrix"}"#,
            0.0,
        ),
        ("threema_bridge_serving", 1.0),
        (r#"up{job="threema_bridge"}"#, 1.0),
    ];
    wait_for("the bridge's figures in Prometheus", WAIT, || async {
        for (query, want) in expected {
            if prometheus.value(query).await != Some(want) {
                return None;
            }
        }
        Some(())
    })
    .await;
    let requests = prometheus
        .value("sum(threema_bridge_homeserver_requests_total)")
        .await
        .unwrap();
    assert!(requests > 0.0, "{requests}");
    let latency = prometheus
        .value("threema_bridge_threema_to_matrix_latency_seconds_sum")
        .await
        .unwrap();
    assert!(latency > 0.0 && latency < 60.0, "{latency}");
    let resident = prometheus
        .value("threema_bridge_process_resident_memory_bytes")
        .await
        .unwrap();
    assert!(resident > 1e6, "{resident}");

    // Labels are closed sets of words: no ID, name or text of anyone in the scrape.
    let text = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for personal in [
        driver.as_str(),
        &lp,
        "Moritz",
        "Mona",
        "Morgen",
        "jetzt",
        DOMAIN,
    ] {
        assert!(!text.contains(personal), "{personal:?} in /metrics");
    }
}

/// Every series name the bridge exports, from the `# TYPE` lines of a scrape (a counter
/// `x` is scraped as `x_total`, a histogram as `x_bucket`, `x_count` and `x_sum`).
/// Families without a sample are not scraped at all: each gets one here.
fn exported_names() -> BTreeSet<String> {
    let metrics = Metrics::new();
    metrics.bridged(Direction::ToMatrix, "text");
    metrics.failed(Direction::ToThreema, "402");
    metrics.homeserver_requests.count("sync", "200");
    metrics.gateway_requests.count("send_e2e", "200");
    let figures = Figures {
        queues: vec![("outbox", 0, None)],
        people: vec![(("driver", "active"), 1)],
        credits: Some(1000),
        broadcasts_in_flight: Some(0),
        directory_last_sync: Some(0),
        ..Figures::default()
    };
    let text = metrics.render(&figures);
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_count", "_sum"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// The bridge's series a PromQL text names.
fn named_series(expr: &str) -> Vec<String> {
    let series = regex::Regex::new(r"threema_bridge_[a-z0-9_]+").unwrap();
    series
        .find_iter(expr)
        .map(|m| m.as_str().to_owned())
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool_and_ask_only_for_exported_series() {
    let rules = repo_file("contrib/prometheus/alerts.yml");
    let checked = Command::new(program("promtool"))
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let exported = exported_names();
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&rules).unwrap()).unwrap();
    let mut alerts = 0;
    for group in yaml["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            for name in named_series(expr) {
                assert!(
                    exported.contains(&name),
                    "{name} (alert {:?})",
                    rule["alert"]
                );
            }
            alerts += 1;
        }
    }
    assert!(alerts >= 8, "{alerts} alerts");
}

#[test]
fn the_dashboard_is_grafana_json_whose_queries_ask_only_for_exported_series() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("contrib/grafana/dashboard.json")).unwrap(),
    )
    .expect("valid JSON");
    let exported = exported_names();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let names = named_series(expr);
            assert!(!names.is_empty(), "{expr}");
            for name in names {
                assert!(
                    exported.contains(&name),
                    "{name} in panel {}",
                    panel["title"]
                );
            }
            queries += 1;
        }
    }
    assert!(queries >= 10, "{queries} queries");
}
