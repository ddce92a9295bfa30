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
        // The command name may hold spaces; the fields after it are fixed: utime, stime are the
        // 12th and 13th after the closing parenthesis.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            Duration::from_secs_f64(fields[i].parse::<u64>().unwrap() as f64 / clock_ticks() as f64)
        };
        Cpu {
            user: ticks(11),
            system: ticks(12),
        }
    }

    /// Per message since `before`, as "total ms (user + system)".
    pub fn per_message_since(&self, before: Cpu, messages: usize) -> String {
        let n = messages.max(1) as u32;
        let (user, system) = (
            (self.user - before.user) / n,
            (self.system - before.system) / n,
        );
        format!(
            "{} ms ({} user + {} system)",
            ms(user + system),
            ms(user),
            ms(system)
        )
    }
}

fn clock_ticks() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
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
