use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let cli = threema_bridge::cli::Cli::parse();
    keep_to_cpus(&cli);
    // As many workers as cores the process may use: after `keep_to_cpus`, those it kept to.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: the async runtime did not start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(threema_bridge::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `serve` keeps its threads to the cores `runtime.cpus` asks for, before the runtime starts
/// any (they inherit it). Its config is read here for that alone, before logging is set up:
/// `serve` reads it again, reports what is wrong with it, and logs the cores its threads run
/// on (with a warning when they could not be kept to).
fn keep_to_cpus(cli: &threema_bridge::cli::Cli) {
    use threema_bridge::{cli::Command, config::Config, cpus};
    if !matches!(cli.command, Command::Serve) {
        return;
    }
    if let Ok(config) = Config::load(&cli.config) {
        let _ = cpus::keep_to(config.cpus);
    }
}

/// glibc gives each thread that allocates an arena of its own (up to eight per core) and keeps
/// what each has freed: the runtime's workers, the blocking pool and a thread per SQLite
/// connection make many half-empty heaps. Two arenas cost no CPU measurably and keep the peak
/// RSS at 10,000 drivers some 5 to 8 MiB lower (README, Performance). Set here rather than left
/// to the service manager so that every way of running the bridge gets it; a
/// `MALLOC_ARENA_MAX` or an `arena_max` tunable in the environment still decides. Before the
/// runtime, so that no thread has an arena yet.
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && !std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.arena_max"))
    {
        // SAFETY: mallopt only sets one of the allocator's parameters, and no other thread
        // exists yet to allocate meanwhile.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
