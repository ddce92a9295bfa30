//! What the bench measures with: arrival times, closed-loop runs, percentiles, and the bridge
//! process's CPU time and memory from `/proc`.

use std::{
    collections::HashMap,
    future::Future,
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

/// When each message (by its unique text) first became visible at the far end.
#[derive(Default)]
pub struct Arrivals {
    seen: Mutex<HashMap<String, Instant>>,
    changed: Notify,
}

impl Arrivals {
    pub fn record(&self, text: &str) {
        let now = Instant::now();
        self.seen
            .lock()
            .unwrap()
            .entry(text.to_owned())
            .or_insert(now);
        self.changed.notify_waiters();
    }

    pub async fn wait(&self, text: &str, timeout: Duration) -> Instant {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(at) = self.seen.lock().unwrap().get(text) {
                return *at;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("{text:?} did not arrive within {timeout:?}");
            }
        }
    }
}

/// One measured run: how many messages, over how long, with each one's latency.
pub struct Run {
    pub messages: usize,
    pub elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }
}

/// `lanes` senders, each sending `per_lane` messages one after the other: the next once the
/// previous one is visible, as one conversation does. `send(lane, n)` returns the latency.
pub async fn closed_loop<F, Fut>(lanes: usize, per_lane: usize, send: F) -> Run
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Duration> + Send,
{
    let send = Arc::new(send);
    let start = Instant::now();
    let tasks: Vec<_> = (0..lanes)
        .map(|lane| {
            let send = send.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_lane);
                for n in 0..per_lane {
                    latencies.push(send(lane, n).await);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(lanes * per_lane);
    for task in tasks {
        latencies.extend(task.await.expect("a sender panicked"));
    }
    Run {
        messages: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    }
}

/// CPU time the process has used so far: user and system.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    pub user: Duration,
    pub system: Duration,
}

impl Cpu {
    pub fn now(pid: u32) -> Cpu {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
        let (user, system) = user_and_system_ticks(&stat);
        let ticks = |t: u64| Duration::from_secs_f64(t as f64 / clock_ticks() as f64);
        Cpu {
            user: ticks(user),
            system: ticks(system),
        }
    }

    /// Per message since `before`, as "total ms (user + system)".
    pub fn per_message_since(&self, before: Cpu, messages: usize) -> String {
        let n = messages.max(1) as u32;
        let (user, system) = (
            (self.user - before.user) / n,
            (self.system - before.system) / n,
        );
        // Two decimals: the targets are a few tenths of a millisecond.
        let ms2 = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
        format!(
            "{} ms ({} user + {} system)",
            ms2(user + system),
            ms2(user),
            ms2(system)
        )
    }
}

/// The user and system time in a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` line, in
/// clock ticks. The command name may hold spaces; the fields after it are fixed: utime and
/// stime are the 12th and 13th after the closing parenthesis.
fn user_and_system_ticks(stat: &str) -> (u64, u64) {
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let field = |i: usize| fields[i].parse::<u64>().unwrap();
    (field(11), field(12))
}

/// Clock ticks per second, asked of `getconf` once.
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output();
        out.ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Resident memory now and at its peak, in MiB.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .expect("a memory field")
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// CPU time and context switches of a process's threads, grouped by thread name (digits taken
/// out, so `sqlx-sqlite-worker-3` and `-7` are one group): where a message's cost goes.
#[derive(Debug, Clone, Default)]
pub struct Threads(std::collections::BTreeMap<String, ThreadFigures>);

#[derive(Debug, Clone, Copy, Default)]
struct ThreadFigures {
    ticks: u64,
    switches: u64,
}

impl Threads {
    pub fn now(pid: u32) -> Threads {
        let mut groups = std::collections::BTreeMap::<String, ThreadFigures>::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Threads(groups);
        };
        for task in tasks.flatten() {
            // A thread may end between the listing and the reads: it is left out.
            let (Ok(stat), Ok(status)) = (
                std::fs::read_to_string(task.path().join("stat")),
                std::fs::read_to_string(task.path().join("status")),
            ) else {
                continue;
            };
            let name = &stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()];
            let group: String = name.chars().filter(|c| !c.is_ascii_digit()).collect();
            let (user, system) = user_and_system_ticks(&stat);
            let switches: u64 = status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
            let figures = groups.entry(group).or_default();
            figures.ticks += user + system;
            figures.switches += switches;
        }
        Threads(groups)
    }

    /// Per message since `before`, each group as "name: CPU ms, switches", busiest first.
    /// Threads that ended meanwhile are missing from `self`, so their share is not counted.
    pub fn per_message_since(&self, before: &Threads, messages: usize) -> String {
        let n = messages.max(1) as f64;
        let mut groups: Vec<(&String, f64, f64)> = self
            .0
            .iter()
            .map(|(name, now)| {
                let was = before.0.get(name).copied().unwrap_or_default();
                let cpu_ms =
                    now.ticks.saturating_sub(was.ticks) as f64 * 1000.0 / clock_ticks() as f64 / n;
                let switches = now.switches.saturating_sub(was.switches) as f64 / n;
                (name, cpu_ms, switches)
            })
            .filter(|(_, cpu, switches)| *cpu > 0.0 || *switches > 0.0)
            .collect();
        groups.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.total_cmp(&a.2)));
        groups
            .iter()
            .map(|(name, cpu, switches)| format!("{name}: {cpu:.2} ms, {switches:.1} switches"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The bridge's own latency histograms (`/metrics`): sum and count of each, to take the mean
/// of what a phase added.
#[derive(Debug, Clone, Default)]
pub struct Latencies(std::collections::BTreeMap<String, (f64, f64)>);

impl Latencies {
    /// Each `threema_bridge_*_latency_seconds` histogram's sum and count now.
    pub async fn scrape(url: &str) -> Latencies {
        let text = reqwest::get(url)
            .await
            .and_then(|r| r.error_for_status())
            .expect("the bridge's /metrics")
            .text()
            .await
            .unwrap();
        let mut histograms = std::collections::BTreeMap::<String, (f64, f64)>::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.split_once(' ') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            let name = name.strip_prefix("threema_bridge_").unwrap_or(name);
            if let Some(h) = name.strip_suffix("_latency_seconds_sum") {
                histograms.entry(h.to_owned()).or_default().0 = value;
            } else if let Some(h) = name.strip_suffix("_latency_seconds_count") {
                histograms.entry(h.to_owned()).or_default().1 = value;
            }
        }
        Latencies(histograms)
    }

    /// The mean of each histogram that grew since `before`, as "name: mean ms (n)".
    pub fn means_since(&self, before: &Latencies) -> String {
        let means: Vec<String> = (self.0.iter())
            .filter_map(|(name, &(sum, count))| {
                let (was_sum, was_count) = before.0.get(name).copied().unwrap_or_default();
                let n = count - was_count;
                (n > 0.0)
                    .then(|| format!("{name} {:.1} ms (n = {n})", (sum - was_sum) / n * 1000.0))
            })
            .collect();
        if means.is_empty() {
            "none".into()
        } else {
            means.join(", ")
        }
    }
}

/// The whole machine's CPU time so far (`/proc/stat`): busy and all, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    busy: u64,
    all: u64,
}

impl Machine {
    pub fn now() -> Machine {
        let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is counted in user).
        let idle = ticks[3] + ticks[4];
        let all: u64 = ticks.iter().take(8).sum();
        Machine {
            busy: all - idle,
            all,
        }
    }

    /// How busy the machine's cores were since `before`, in percent of all of them.
    pub fn busy_since(&self, before: Machine) -> f64 {
        100.0 * (self.busy - before.busy) as f64 / (self.all - before.all).max(1) as f64
    }
}

/// Where the cores went over a row against the real homeserver: how busy the machine was,
/// Synapse's CPU per message and its share of one core, and what its log says it did:
/// appservice transactions pushed to the bridge and `/sync` requests answered (Synapse's cost
/// per event grows as events come in smaller batches: each transaction and each sync answer
/// has a price).
pub struct HomeserverWatch {
    pid: u32,
    log: std::path::PathBuf,
}

/// A [`HomeserverWatch`]'s readings at one moment.
pub struct Mark {
    machine: Machine,
    synapse: Cpu,
    log_len: u64,
}

impl HomeserverWatch {
    pub fn new(pid: u32, log: &std::path::Path) -> HomeserverWatch {
        HomeserverWatch {
            pid,
            log: log.to_owned(),
        }
    }

    pub fn mark(&self) -> Mark {
        Mark {
            machine: Machine::now(),
            synapse: Cpu::now(self.pid),
            log_len: std::fs::metadata(&self.log).map_or(0, |m| m.len()),
        }
    }

    /// What happened between two marks, over `run`.
    pub fn between(&self, from: &Mark, to: &Mark, run: &Run) -> String {
        use std::io::{Read, Seek};
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.seek(std::io::SeekFrom::Start(from.log_len));
            let _ = (file.take(to.log_len.saturating_sub(from.log_len))).read_to_string(&mut text);
        }
        let transactions = (text.lines())
            .filter(|l| l.contains("Received response to PUT") && l.contains("/transactions/"))
            .count();
        let syncs = (text.lines())
            .filter(|l| {
                l.contains("Processed request") && l.contains("GET /_matrix/client/v3/sync")
            })
            .count();
        let used =
            (to.synapse.user + to.synapse.system) - (from.synapse.user + from.synapse.system);
        format!(
            "machine {:.0} % busy, Synapse {} ms per message at {:.0} % of a core, \
             {transactions} transactions to the bridge, {syncs} syncs answered",
            to.machine.busy_since(from.machine),
            ms(used / run.messages.max(1) as u32),
            100.0 * used.as_secs_f64() / run.elapsed.as_secs_f64(),
        )
    }
}
