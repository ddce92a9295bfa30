//! CPU, memory and file descriptors of the bridge's own process (Linux `/proc`, through the
//! `procfs` crate), read at each scrape. Named as Prometheus's `process_*` metrics are, under
//! the bridge's prefix.

use std::sync::{Mutex, atomic::AtomicU64};

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::{Registry, Unit},
};

#[derive(Default)]
pub struct ProcessMetrics {
    cpu: Counter<f64, AtomicU64>,
    /// The CPU seconds counted so far: the counter only goes up by what was added since.
    cpu_seen: Mutex<f64>,
    resident: Gauge,
    open_fds: Gauge,
    start_time: Gauge,
}

impl ProcessMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "process_cpu",
            "CPU time the bridge process used, user and system",
            Unit::Seconds,
            self.cpu.clone(),
        );
        registry.register_with_unit(
            "process_resident_memory",
            "Resident memory of the bridge process",
            Unit::Bytes,
            self.resident.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors of the bridge process",
            self.open_fds.clone(),
        );
        registry.register_with_unit(
            "process_start_time",
            "When the bridge process started (Unix time)",
            Unit::Seconds,
            self.start_time.clone(),
        );
    }

    /// Reads `/proc/self`; on a system without it the figures stay as they were.
    pub fn refresh(&self) {
        let Ok(me) = procfs::process::Process::myself() else {
            return;
        };
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            let cpu = (stat.utime + stat.stime) as f64 / ticks;
            let mut seen = self.cpu_seen.lock().expect("cpu lock");
            if cpu > *seen {
                self.cpu.inc_by(cpu - *seen);
                *seen = cpu;
            }
            let page = procfs::page_size() as i64;
            self.resident.set(stat.rss as i64 * page);
            if let Ok(boot) = procfs::boot_time_secs() {
                self.start_time
                    .set((boot + stat.starttime / procfs::ticks_per_second()) as i64);
            }
        }
        if let Ok(fds) = me.fd_count() {
            self.open_fds.set(fds as i64);
        }
    }
}
