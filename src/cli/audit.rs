//! `audit verify | show | checkpoint | keygen`: the audit trail on the command line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use super::{parse_day, store_only};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Checks the hash chain from its start and every signed checkpoint in
    /// audit.checkpoint_dir against it. Prints `OK <n> entries, head <hash>, last checkpoint
    /// <time>`, or names the first entry that does not match, a gap or a bad checkpoint and
    /// exits 2.
    Verify,
    /// Prints entries, oldest first: the newest `--limit`, about (or by) SUBJECT when given
    /// (employee ID, Threema ID, Matrix user or room), from `--since` on.
    Show {
        subject: Option<String>,
        /// YYYY-MM-DD (UTC).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Signs the chain's head now and writes the checkpoint into audit.checkpoint_dir (the
    /// running bridge does every audit.checkpoint_minutes), e.g. before a backup.
    Checkpoint,
    /// Writes a new checkpoint signing key to audit.signing_key_file (or `-o`), readable by
    /// its owner only; never overwrites one. Prints the public key.
    Keygen {
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

pub(super) async fn run(config_path: &Path, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Keygen { output } => audit_keygen(config_path, output),
        AuditCommand::Verify => audit_verify(config_path).await,
        AuditCommand::Checkpoint => audit_checkpoint(config_path).await,
        AuditCommand::Show {
            subject,
            since,
            limit,
        } => audit_show(config_path, subject, since, limit).await,
    }
}

fn audit_keygen(config_path: &Path, output: Option<PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let path = output
        .or(config.audit.signing_key_file)
        .context("set audit.signing_key_file in the config or name the file with -o")?;
    let key = crate::audit::SigningKey::generate();
    key.write_new(&path)?;
    println!(
        "wrote {} (mode 600); public key {}",
        path.display(),
        key.public_hex()
    );
    Ok(())
}

async fn audit_checkpoint(config_path: &Path) -> anyhow::Result<()> {
    let (config, store) = store_only(config_path).await?;
    let checkpoints = crate::bridge::audit::Checkpoints::new(&config, store.clone(), None)?
        .ok_or(crate::bridge::audit::AuditError::NoKey)?;
    let taken = checkpoints.take().await;
    store.close().await;
    match taken? {
        Some(c) => println!("checkpoint at entry {} head {}", c.seq, c.head),
        None => println!("the newest checkpoint has the head already"),
    }
    Ok(())
}

/// Exit 2 when something does not match (1 when the check itself could not run).
async fn audit_verify(config_path: &Path) -> anyhow::Result<()> {
    let (config, store) = store_only(config_path).await?;
    let result = crate::bridge::audit::verify(&store, &config).await;
    store.close().await;
    match result? {
        Ok(verified) => {
            let last = verified
                .last_checkpoint
                .map(|c| crate::bridge::status::time(c.at))
                .unwrap_or_else(|| "none".to_owned());
            println!(
                "OK {} entries, head {}, last checkpoint {last}",
                verified.entries, verified.head
            );
            if verified.first_seq > 1 {
                println!(
                    "the chain starts at entry {} (retention pruned the ones before)",
                    verified.first_seq
                );
            }
            Ok(())
        }
        Err(failure) => {
            println!("FAILED: {failure}");
            std::process::exit(2);
        }
    }
}

async fn audit_show(
    config_path: &Path,
    subject: Option<String>,
    since: Option<String>,
    limit: i64,
) -> anyhow::Result<()> {
    let since = match since {
        Some(day) => parse_day(&day)?.midnight().assume_utc().unix_timestamp() * 1000,
        None => 0,
    };
    let (_, store) = store_only(config_path).await?;
    let result = store.audit_show(subject.as_deref(), since, limit).await;
    store.close().await;
    for entry in result?.into_iter().rev() {
        println!(
            "{} #{} {} {} {} {}",
            crate::bridge::status::time(entry.at),
            entry.seq,
            entry.actor,
            entry.action,
            entry.subject,
            entry.details
        );
    }
    Ok(())
}
