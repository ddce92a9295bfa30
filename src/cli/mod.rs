//! Command line: `generate-registration`, `check-config`, `serve`, `directory`, `accept-key`,
//! `gdpr`, `retention`, `audit` (in `audit.rs`), `privacy` (see CONTRACT.md).

mod audit;
mod database;

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::{
    app::App,
    config::{Config, RawConfig},
    registration::{DEFAULT_ID, Registration},
    store::{KeyAcceptance, Store},
    telemetry,
    texts::Texts,
    threema::ThreemaId,
};

#[derive(Debug, Parser)]
#[command(version, about = "Matrix <-> Threema Gateway bridge")]
pub struct Cli {
    /// The YAML config file (environment variables THREEMA_BRIDGE__SECTION__KEY override it).
    #[arg(short, long, default_value = "config.yaml", global = true)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes an appservice registration with fresh tokens for the homeserver.
    GenerateRegistration {
        /// Where to write it (default: appservice.registration from the config).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Replace an existing file (its tokens stop working once the homeserver reloads).
        #[arg(long)]
        force: bool,
    },
    /// Validates the config, the registration and the keys; exits 0 if all is well.
    CheckConfig,
    /// Runs the bridge until SIGTERM or SIGINT.
    Serve,
    /// The employee directory.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Trusts a driver's changed public key and queues the messages held until now, in their
    /// order; the running bridge delivers them (or the next `serve`). Exits 1 when no changed
    /// key is pending for the ID.
    AcceptKey {
        /// The driver's Threema ID.
        threema_id: String,
    },
    /// Data protection (GDPR).
    #[command(subcommand)]
    Gdpr(GdprCommand),
    /// The retention periods (`retention:`).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// The audit trail: who sent what to whom, who looked, what changed.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The works council's view.
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Backups, and restoring one.
    #[command(subcommand)]
    Database(database::DatabaseCommand),
}

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Prints, from this configuration, what is recorded about drivers and dispatchers, who
    /// can see it and for how long: the annex a works council asks for.
    Report,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Applies the retention periods now, as the running bridge does daily: portal history
    /// older than retention.history_days purged on the homeserver with its media (the newest
    /// event stays), dispatchers' texts of sends older than retention.outbox_days cleared,
    /// handled inbox rows older than retention.inbox_days deleted. What a legal hold covers is
    /// kept.
    Run {
        /// Print what would go; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GdprCommand {
    /// Prints the Art. 30 record of processing activities from this configuration.
    Ropa,
    /// Legal holds: what a hold covers is neither erased nor pruned while it is in force.
    #[command(subcommand)]
    Hold(HoldCommand),
    /// The register of export and erasure requests: open ones with the days left (admins are
    /// reminded a week before one is due); `add` registers one, `done` closes one.
    Requests {
        #[command(subcommand)]
        command: Option<RequestsCommand>,
    },
    /// Writes everything held about a person (employee ID, Threema ID or Matrix ID) to one
    /// ZIP with a manifest of SHA-256 hashes (GDPR Art. 15): their history as the homeserver
    /// has it, its media, delivery status, directory record, audit entries, and the Art. 15
    /// information. Colleagues appear as stable pseudonyms (gdpr.pseudonymise_colleagues).
    Export {
        subject: String,
        /// Where to write the ZIP (default: gdpr-export-<id>-<request date>.zip here).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The day the request came in (YYYY-MM-DD, default today): the answer is due a month
        /// later.
        #[arg(long)]
        requested_on: Option<String>,
        /// Print what it would hold (counts, sizes); write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Erases a driver (employee ID, Threema ID or their ghost's Matrix ID): their portal and
    /// its media purged on the homeserver, their ghost deactivated and erased, their rows in
    /// the bridge deleted. A dispatcher (employee ID or Matrix ID): removed from the bridge's
    /// rooms, their rows deleted, their ID and name replaced by a fixed pseudonym where what
    /// they wrote is kept (nothing redacted). Needs `synapse_admin`. Exits 3 when a legal hold
    /// covers them: then nothing is erased (a driver's processing is restricted instead:
    /// portal read-only without dispatchers, nothing bridged).
    Erase {
        subject: String,
        /// Print what would go; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Erase a driver the directory still lists as active.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// The open requests, the soonest due first, with the days left (the default).
    List,
    /// Registers a request that came in (by letter, email, in person).
    Add {
        kind: RequestKindArg,
        /// Employee ID, Threema ID or Matrix ID.
        subject: String,
        /// The day it came in (YYYY-MM-DD, default today): it is due a month later.
        #[arg(long)]
        received: Option<String>,
    },
    /// Closes a request answered some other way.
    Done { id: i64 },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RequestKindArg {
    /// A copy of their data (Art. 15): `gdpr export` closes it.
    Export,
    /// Erasure (Art. 17): `gdpr erase` closes it once done.
    Erasure,
}

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Puts a person (employee ID, Threema ID or Matrix ID) or a room (room ID, or a portal's
    /// alias) under a hold. A hold in force already stays as it is.
    Set {
        target: String,
        /// Why (recorded with the hold and in the audit log).
        #[arg(long)]
        reason: String,
        /// The case or matter it belongs to.
        #[arg(long = "case")]
        case_ref: Option<String>,
    },
    /// Releases the hold on a person or a room. Exits 1 when none is in force.
    Release { target: String },
    /// Lists the holds in force.
    List {
        /// Released holds too.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Reads the directory sources once and brings portals, spaces and invites in line.
    /// Exits 1 if a source was refused or an action failed.
    Sync {
        /// Print what would change and the planned actions; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply a snapshot the safety stop refuses (e.g. a real mass departure).
        #[arg(long)]
        force: bool,
    },
    /// Prints the newest audit entries, optionally about one subject.
    Audit {
        subject: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::GenerateRegistration { output, force } => {
            generate_registration(&cli.config, output, force)
        }
        Command::CheckConfig => {
            let config = Config::load(&cli.config)?;
            // Loading leaves the key to `audit keygen`, which needs the config; serving needs it.
            if let Some(key_file) = &config.audit.signing_key_file {
                crate::audit::SigningKey::read(key_file)
                    .context("audit.signing_key_file: make the key with `audit keygen`")?;
            }
            println!(
                "{}: OK (homeserver {} as {}, database {:?})",
                cli.config.display(),
                config.homeserver.url,
                config.bot_user_id(),
                crate::store::DbKind::of_url(secrecy::ExposeSecret::expose_secret(
                    &config.database.url
                ))
                .expect("validated"),
            );
            for warning in &config.warnings {
                println!("warning: {warning}");
            }
            let off = config.features_without_admin();
            if !off.is_empty() {
                println!("without synapse_admin, these are off: {}", off.join("; "));
            }
            Ok(())
        }
        Command::Serve => serve(&cli.config).await,
        Command::Directory(command) => directory(&cli.config, command).await,
        Command::AcceptKey { threema_id } => accept_key(&cli.config, &threema_id).await,
        Command::Gdpr(GdprCommand::Hold(command)) => hold(&cli.config, command).await,
        Command::Gdpr(GdprCommand::Requests { command }) => requests(&cli.config, command).await,
        Command::Audit(command) => audit::run(&cli.config, command).await,
        Command::Database(command) => database::run(&cli.config, command).await,
        Command::Privacy(PrivacyCommand::Report) => {
            let config = Config::load(&cli.config)?;
            print!("{}", crate::bridge::lifecycle::processing::report(&config));
            Ok(())
        }
        Command::Gdpr(GdprCommand::Ropa) => {
            let config = Config::load(&cli.config)?;
            print!("{}", crate::bridge::lifecycle::processing::ropa(&config));
            Ok(())
        }
        Command::Retention(RetentionCommand::Run { dry_run }) => {
            retention(&cli.config, dry_run).await
        }
        Command::Gdpr(GdprCommand::Export {
            subject,
            output,
            requested_on,
            dry_run,
        }) => {
            export(
                &cli.config,
                &subject,
                output.as_deref(),
                requested_on.as_deref(),
                dry_run,
            )
            .await
        }
        Command::Gdpr(GdprCommand::Erase {
            subject,
            dry_run,
            force,
        }) => erase(&cli.config, &subject, dry_run, force).await,
    }
}

/// Legal holds need only the store, like `accept-key`.
async fn hold(config_path: &std::path::Path, command: HoldCommand) -> anyhow::Result<()> {
    use crate::bridge::lifecycle::{LifecycleError, holds};
    let (config, store) = store_only(config_path).await?;
    let domain = &config.homeserver.domain;
    let actor = cli_actor();
    let result: Result<Vec<String>, LifecycleError> = match command {
        HoldCommand::Set {
            target,
            reason,
            case_ref,
        } => holds::set(
            &store,
            domain,
            &target,
            &reason,
            case_ref.as_deref(),
            &actor,
        )
        .await
        .map(|set| vec![set.to_string()]),
        HoldCommand::Release { target } => holds::release(&store, domain, &target, &actor)
            .await
            .map(|target| vec![holds::released(Texts::english(), &target)]),
        HoldCommand::List { all } => match store.holds(all).await {
            Ok(holds) if holds.is_empty() => Ok(vec!["no holds".to_owned()]),
            Ok(holds) => Ok(holds
                .iter()
                .map(|h| holds::describe(Texts::english(), h))
                .collect()),
            Err(e) => Err(e.into()),
        },
    };
    store.close().await;
    for line in result? {
        println!("{line}");
    }
    Ok(())
}

/// Erasure talks to the homeserver (admin API) and the store; the running bridge needs no
/// signal (what it would look up is gone).
async fn erase(
    config_path: &std::path::Path,
    subject: &str,
    dry_run: bool,
    force: bool,
) -> anyhow::Result<()> {
    use crate::bridge::lifecycle::erase::{Erased, Eraser, IdHasher};
    let config = Config::load(config_path)?;
    telemetry::init(&config.logging.filter, config.logging.json);
    let Some(admin) = config.synapse_admin.clone() else {
        bail!("gdpr erase needs admin rights on the homeserver: set synapse_admin; nothing changed")
    };
    let hasher = IdHasher::new(&config);
    let domain = config.homeserver.domain.clone();
    let zone = config.bridge.timezone.clone();
    let bridge = crate::app::connect(std::sync::Arc::new(config)).await?;
    let eraser = Eraser {
        store: &bridge.store,
        matrix: &bridge.matrix,
        admin: &admin,
        domain: &domain,
        hasher: &hasher,
        zone: &zone,
    };
    let result = eraser.erase(subject, &cli_actor(), force, dry_run).await;
    bridge.store.close().await;
    match result? {
        Erased::Done { tombstone, report } => {
            println!("erased (tombstone {tombstone}):\n{report}");
            println!("kept: {STILL_KEPT}");
        }
        Erased::WouldErase(report) => {
            println!("would erase:\n{report}");
            println!("would remain: {STILL_KEPT}");
            println!("nothing changed (--dry-run)");
        }
        Erased::Held(holds) => {
            eprintln!("under a legal hold, nothing erased:");
            for hold in holds {
                eprintln!(
                    "  {}",
                    crate::bridge::lifecycle::holds::describe(Texts::english(), &hold)
                );
            }
            std::process::exit(3);
        }
    }
    Ok(())
}

/// Reads the history as the bot through the client API, and the store.
async fn export(
    config_path: &std::path::Path,
    subject: &str,
    output: Option<&std::path::Path>,
    requested_on: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    use crate::bridge::lifecycle::export::{Exported, Exporter};
    let requested_on = requested_on.map(parse_day).transpose()?;
    let (config, bridge) = connected(config_path).await?;
    let exporter = Exporter {
        store: &bridge.store,
        matrix: &bridge.matrix,
        config: &config,
    };
    let result = exporter
        .export(subject, &cli_actor(), requested_on, output, dry_run)
        .await;
    bridge.store.close().await;
    match result? {
        Exported::Written {
            path,
            bytes,
            summary,
        } => {
            println!("wrote {} ({bytes} bytes):\n{summary}", path.display());
        }
        Exported::WouldWrite(summary) => {
            println!("would write:\n{summary}");
            println!("nothing written (--dry-run)");
        }
    }
    Ok(())
}

/// Reads the portals as the bot; purges through the admin API.
async fn retention(config_path: &std::path::Path, dry_run: bool) -> anyhow::Result<()> {
    use crate::bridge::lifecycle::retention::Retention;
    let (config, bridge) = connected(config_path).await?;
    let retention = Retention {
        store: &bridge.store,
        matrix: &bridge.matrix,
        admin: config.synapse_admin.as_ref(),
        config: &config.retention,
        domain: &config.homeserver.domain,
    };
    let result = retention.run(&cli_actor(), dry_run).await;
    bridge.store.close().await;
    let report = result?;
    if dry_run {
        println!("would apply the retention periods:\n{report}\nnothing changed (--dry-run)");
    } else {
        println!("applied the retention periods:\n{report}");
    }
    if config.retention.history.is_none() {
        println!("portal history is kept: retention.history_days is not set");
    }
    Ok(())
}

/// A `YYYY-MM-DD` argument.
fn parse_day(day: &str) -> anyhow::Result<time::Date> {
    time::Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .with_context(|| format!("{day:?} is not a date (YYYY-MM-DD); nothing changed"))
}

/// The register needs only the store.
async fn requests(
    config_path: &std::path::Path,
    command: Option<RequestsCommand>,
) -> anyhow::Result<()> {
    use crate::bridge::lifecycle::requests;
    let (config, store) = store_only(config_path).await?;
    let today = requests::today();
    let result: anyhow::Result<Vec<String>> = async {
        Ok(match command.unwrap_or(RequestsCommand::List) {
            RequestsCommand::List => {
                let open = store.requests_open().await?;
                match open.is_empty() {
                    true => vec!["no open requests".to_owned()],
                    false => (open.iter())
                        .map(|r| requests::describe(Texts::english(), r, today))
                        .collect(),
                }
            }
            RequestsCommand::Add {
                kind,
                subject,
                received,
            } => {
                let received = received
                    .as_deref()
                    .map(parse_day)
                    .transpose()?
                    .unwrap_or(today);
                let kind = match kind {
                    RequestKindArg::Export => crate::store::RequestKind::Export,
                    RequestKindArg::Erasure => crate::store::RequestKind::Erasure,
                };
                let domain = &config.homeserver.domain;
                let (id, due) =
                    requests::add(&store, domain, kind, &subject, received, &cli_actor()).await?;
                vec![format!("request #{id} registered, due {due}")]
            }
            RequestsCommand::Done { id } => match store.request_close(id, &cli_actor()).await? {
                true => vec![format!("request #{id} closed")],
                false => bail!("no open request #{id}; nothing changed"),
            },
        })
    }
    .await;
    store.close().await;
    for line in result? {
        println!("{line}");
    }
    Ok(())
}

/// A one-off command's config and store (logging set up): what needs no homeserver.
async fn store_only(config_path: &std::path::Path) -> anyhow::Result<(Config, Store)> {
    let config = Config::load(config_path)?;
    telemetry::init(&config.logging.filter, config.logging.json);
    let store = Store::connect_keyed(
        secrecy::ExposeSecret::expose_secret(&config.database.url),
        config.database.max_connections,
        crate::bridge::audit::key(&config),
    )
    .await?;
    Ok((config, store))
}

/// A one-off command's config and bridge services, the homeserver checked (see `app::connect`).
async fn connected(
    config_path: &std::path::Path,
) -> anyhow::Result<(std::sync::Arc<Config>, crate::bridge::Bridge)> {
    let config = Config::load(config_path)?;
    telemetry::init(&config.logging.filter, config.logging.json);
    let config = std::sync::Arc::new(config);
    let bridge = crate::app::connect(config.clone()).await?;
    Ok((config, bridge))
}

/// What an erasure cannot reach.
const STILL_KEPT: &str = "the database's and the homeserver's backups, until their rotation \
     drops them; the content of redacted events in Synapse's database for its \
     redaction_retention_period";

/// Who ran a command, for the audit log: the login name behind the CLI.
fn cli_actor() -> String {
    match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        Ok(user) if !user.is_empty() => format!("cli:{user}"),
        _ => "cli".to_owned(),
    }
}

/// Only the store is needed: the replay is the inbox runner's, in `serve`. This process does
/// not replay itself (it would race the running bridge); `serve` rescans its inbox every few
/// seconds, so it picks the queued messages up without a signal from here.
async fn accept_key(config_path: &std::path::Path, threema_id: &str) -> anyhow::Result<()> {
    let Some(id) = ThreemaId::parse(threema_id) else {
        bail!("{threema_id:?} is not a Threema ID (8 letters and digits); nothing changed")
    };
    let (_, store) = store_only(config_path).await?;
    let accepted = store.public_key_accept(id.as_str(), "cli").await;
    store.close().await;
    match accepted? {
        KeyAcceptance::Accepted { requeued } => {
            tracing::warn!(threema_id = %id, requeued, "changed public key accepted");
            println!(
                "accepted the new key of {id}; {requeued} held message(s) queued for the bridge"
            );
            Ok(())
        }
        KeyAcceptance::NothingPending => {
            bail!("no changed key of {id} is waiting to be accepted; nothing changed")
        }
    }
}

async fn directory(config_path: &std::path::Path, command: DirectoryCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    telemetry::init(&config.logging.filter, config.logging.json);
    if !config.directory.enabled() {
        bail!(
            "no directory source is configured (directory.csv, directory.http or directory.scim_token)"
        );
    }
    let bridge = crate::app::connect(std::sync::Arc::new(config)).await?;
    match command {
        DirectoryCommand::Sync { dry_run, force } => {
            let options = crate::bridge::directory::SyncOptions { dry_run, force };
            let report = bridge.directory.sync(options).await?;
            print!("{report}");
            bridge.store.close().await;
            if report.refused() || !report.failed.is_empty() {
                std::process::exit(1);
            }
        }
        DirectoryCommand::Audit { subject, limit } => {
            for entry in bridge.store.audit_recent(subject.as_deref(), limit).await? {
                println!(
                    "{} {} {} {} {}",
                    crate::bridge::status::time(entry.at),
                    entry.actor,
                    entry.action,
                    entry.subject,
                    entry.details
                );
            }
            bridge.store.close().await;
        }
    }
    Ok(())
}

fn generate_registration(
    config_path: &std::path::Path,
    output: Option<PathBuf>,
    force: bool,
) -> anyhow::Result<()> {
    let raw = RawConfig::load(config_path)?;
    let base = config_path.parent().unwrap_or(std::path::Path::new("."));
    let Some(domain) = raw.homeserver.domain.as_deref() else {
        bail!("homeserver.domain: is required")
    };
    let domain = ruma::ServerName::parse(domain)
        .with_context(|| format!("homeserver.domain: {domain:?} is not a server name"))?;
    let Some(url) = raw.appservice.url.as_deref() else {
        bail!("appservice.url: is required (how the homeserver reaches the bridge)")
    };
    let output = match (output, raw.appservice.registration) {
        (Some(path), _) => path,
        (None, Some(path)) if path.is_absolute() => path,
        (None, Some(path)) => base.join(path),
        (None, None) => bail!("appservice.registration: is required when -o is not given"),
    };
    if output.exists() && !force {
        bail!(
            "{} exists; pass --force to replace it (the homeserver must then be restarted with the new file)",
            output.display()
        );
    }
    let id = raw.appservice.id.as_deref().unwrap_or(DEFAULT_ID);
    // The extensions end-to-bridge encryption needs, when the config asks for it.
    let encryption = raw.bridge.encryption_on();
    Registration::generate(id, url, &domain)
        .with_encryption(encryption)
        .write(&output)?;
    println!(
        "wrote {}; add it to the homeserver's app_service_config_files and restart the homeserver",
        output.display()
    );
    Ok(())
}

async fn serve(config_path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    telemetry::init(&config.logging.filter, config.logging.json);
    for warning in &config.warnings {
        tracing::warn!("config: {warning}");
    }
    crate::cpus::log_cores(config.cpus);
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let app = App::build(config).await?;
    app.run(shutdown).await?;
    Ok(())
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler works on unix");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    shutdown.cancel();
}
