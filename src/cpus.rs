//! `runtime.cpus`: how many CPU cores the serving bridge's threads share.
//!
//! Each message costs the bridge dozens of hand-offs between its async runtime and its SQLite
//! connections' threads. When the thread woken runs on another core, the wake-up goes through
//! that core (an inter-processor interrupt, on a virtual machine an exit to the hypervisor);
//! on one core it is a plain switch. On the 2-core test machine, one core took the bridge's
//! CPU per message down by a fifth to a third and its throughput up (README, Performance):
//! hence one by default. One core is also the ceiling of what the bridge does at once: a
//! desk's pace uses a small part of it, the bench's bursts at 10,000 drivers nearly all;
//! more cores, or `all` (the threads left to the kernel), for more.

use std::num::NonZeroUsize;

/// `runtime.cpus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpus {
    /// The kernel places the threads on any core the process may use.
    All,
    /// The threads share this many cores (or as many as the process may use, if fewer).
    Count(NonZeroUsize),
}

impl Default for Cpus {
    fn default() -> Self {
        Cpus::Count(NonZeroUsize::MIN)
    }
}

/// The cores to keep to: `cpus` of `allowed` (the cores the process may use, ascending),
/// starting at `current` (the one the process runs on) and going on up, wrapping. `None`
/// when that is every allowed core: nothing to change.
pub fn choose(allowed: &[usize], current: usize, cpus: Cpus) -> Option<Vec<usize>> {
    let Cpus::Count(count) = cpus else {
        return None;
    };
    if count.get() >= allowed.len() {
        return None;
    }
    let start = allowed.iter().position(|&cpu| cpu == current).unwrap_or(0);
    let mut chosen: Vec<usize> = (allowed.iter().cycle().skip(start))
        .take(count.get())
        .copied()
        .collect();
    chosen.sort_unstable();
    Some(chosen)
}

/// Logs the cores the bridge's threads run on, and a warning where that is more than
/// `runtime.cpus` asked for (the process could not keep to them; `main` tried before any
/// logging was set up).
pub fn log_cores(cpus: Cpus) {
    let Ok(cores) = allowed() else {
        return;
    };
    match cpus {
        Cpus::Count(count) if cores.len() > count.get() => tracing::warn!(
            ?cores,
            asked = count.get(),
            "runtime.cpus: the threads could not be kept to fewer cores"
        ),
        _ => tracing::info!(
            ?cores,
            "the bridge's threads run on these cores (runtime.cpus)"
        ),
    }
}

/// The cores the calling thread may run on, ascending.
#[cfg(target_os = "linux")]
pub fn allowed() -> nix::Result<Vec<usize>> {
    use nix::{
        sched::{CpuSet, sched_getaffinity},
        unistd::Pid,
    };
    let set = sched_getaffinity(Pid::from_raw(0))?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect())
}

/// Keeps the calling thread, and every thread it starts from now on, to the cores
/// [`choose`] picks. Called before the runtime starts, so that it holds for all of the
/// bridge's threads and the runtime has as many workers as cores (unless
/// `TOKIO_WORKER_THREADS` says otherwise). `serve` logs what came of it ([`log_cores`]).
#[cfg(target_os = "linux")]
pub fn keep_to(cpus: Cpus) -> nix::Result<()> {
    use nix::{
        sched::{CpuSet, sched_getcpu, sched_setaffinity},
        unistd::Pid,
    };
    let Some(chosen) = choose(&allowed()?, sched_getcpu()?, cpus) else {
        return Ok(());
    };
    let mut keep = CpuSet::new();
    for cpu in chosen {
        keep.set(cpu)?;
    }
    sched_setaffinity(Pid::from_raw(0), &keep)
}

/// Elsewhere the kernel places the threads.
#[cfg(not(target_os = "linux"))]
pub fn keep_to(_cpus: Cpus) -> Result<(), std::convert::Infallible> {
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn allowed() -> Result<Vec<usize>, std::io::Error> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(n: usize) -> Cpus {
        Cpus::Count(NonZeroUsize::new(n).unwrap())
    }

    #[test]
    fn one_core_by_default_the_one_the_process_is_on() {
        assert_eq!(Cpus::default(), count(1));
        assert_eq!(choose(&[0, 1], 1, Cpus::default()), Some(vec![1]));
        assert_eq!(choose(&[0, 1, 2, 3], 0, count(1)), Some(vec![0]));
    }

    #[test]
    fn more_cores_go_on_up_from_the_current_one_within_the_allowed() {
        assert_eq!(choose(&[0, 1, 2, 3], 2, count(2)), Some(vec![2, 3]));
        assert_eq!(choose(&[0, 1, 2, 3], 3, count(2)), Some(vec![0, 3]));
        // Only the cores the process may use (a container's, a service manager's).
        assert_eq!(choose(&[2, 5, 7], 5, count(2)), Some(vec![5, 7]));
        // The current core outside the allowed set (it changed meanwhile): the first.
        assert_eq!(choose(&[2, 5, 7], 0, count(1)), Some(vec![2]));
    }

    #[test]
    fn nothing_changes_with_all_or_as_many_as_allowed() {
        assert_eq!(choose(&[0, 1], 0, Cpus::All), None);
        assert_eq!(choose(&[0, 1], 0, count(2)), None);
        assert_eq!(choose(&[0, 1], 1, count(8)), None);
        assert_eq!(choose(&[3], 3, count(1)), None);
    }
}
