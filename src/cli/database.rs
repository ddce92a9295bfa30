//! `database backup FILE | restored`: backups a restored install continues from without sending
//! or bridging anything twice (see `store::restore`).

use std::{
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use clap::Subcommand;
use secrecy::ExposeSecret;

use super::{cli_actor, store_only};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum DatabaseCommand {
    /// Writes a backup of the database to FILE (readable by its owner only) while the bridge
    /// runs: SQLite as a database file (restore: copy it to database.url's path), PostgreSQL
    /// as a pg_dump SQL script (restore: `psql -d NEWDB -f FILE`, pg_dump and psql on PATH).
    /// A backup is marked: the first start on it settles what was pending.
    Backup { file: PathBuf },
    /// Marks the database as restored from a backup made otherwise (a file system snapshot,
    /// your own pg_dump): run it before the first start.
    Restored,
}

pub(super) async fn run(config_path: &Path, command: DatabaseCommand) -> anyhow::Result<()> {
    let (config, store) = store_only(config_path).await?;
    let result = match command {
        DatabaseCommand::Backup { file } => {
            backup(&store, config.database.url.expose_secret(), &file).await
        }
        DatabaseCommand::Restored => store.mark_restored().await.map_err(Into::into).map(|()| {
            println!(
                "marked as restored: the next start marks what was pending as outcome unknown \
                 instead of sending it again"
            )
        }),
    };
    store.close().await;
    result
}

async fn backup(store: &Store, url: &str, file: &Path) -> anyhow::Result<()> {
    let file = std::path::absolute(file).context("the backup's path")?;
    // Personal data: the owner only. An empty file is what both SQLite and pg_dump write into.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .with_context(|| {
            format!(
                "{} exists or cannot be created: name a new file",
                file.display()
            )
        })?;
    let written = match store.is_shared() {
        false => backup_sqlite(store, &file).await,
        true => backup_postgres(store, url, &file).await,
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(&file);
        return Err(e);
    }
    let shown = file.display();
    store
        .audit(
            &cli_actor(),
            "database.backup",
            "database",
            &shown.to_string(),
        )
        .await?;
    println!("wrote {shown}");
    Ok(())
}

/// `VACUUM INTO` a copy, then the mark in the copy.
async fn backup_sqlite(store: &Store, file: &Path) -> anyhow::Result<()> {
    let path = file.to_str().context("the backup's path is not UTF-8")?;
    store.backup_sqlite_into(path).await?;
    let copy = Store::connect(&format!("sqlite://{path}"), 1).await?;
    let marked = copy.mark_restored().await;
    copy.close().await;
    Ok(marked?)
}

/// pg_dump as a plain SQL script, the mark appended. The password goes through the
/// environment, not the command line other users can see.
async fn backup_postgres(store: &Store, url: &str, file: &Path) -> anyhow::Result<()> {
    let schema = store.current_schema().await?;
    let (url, password) = without_password(url)?;
    let mut command = std::process::Command::new("pg_dump");
    command
        .args(["--format=plain", "--no-owner", "--no-privileges", "--file"])
        .arg(file)
        .arg(format!("--dbname={url}"));
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let status = command
        .status()
        .context("cannot run pg_dump (install the PostgreSQL client)")?;
    if !status.success() {
        bail!("pg_dump failed ({status}); no backup written");
    }
    let mut dump = std::fs::OpenOptions::new().append(true).open(file)?;
    dump.write_all(Store::mark_restored_sql(&schema).as_bytes())?;
    dump.sync_all()?;
    Ok(())
}

/// `url` without its password (from the user part or a `password` parameter), and the
/// password, decoded.
fn without_password(url: &str) -> anyhow::Result<(url::Url, Option<String>)> {
    let mut url = url::Url::parse(url).context("database.url is not a URL")?;
    let mut password = url.password().map(|p| {
        let decoded = percent_encoding::percent_decode_str(p).decode_utf8_lossy();
        decoded.into_owned()
    });
    let _ = url.set_password(None);
    let (others, given): (Vec<_>, Vec<_>) = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .partition(|(k, _)| k != "password");
    if let Some((_, p)) = given.into_iter().next() {
        password = Some(p);
        url.query_pairs_mut().clear().extend_pairs(others);
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    Ok((url, password))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_password_leaves_the_url_decoded() {
        let (url, password) =
            super::without_password("postgres://bridge:p%40ss%3Aw@db:5432/bridge?sslmode=require")
                .unwrap();
        assert_eq!(
            url.as_str(),
            "postgres://bridge@db:5432/bridge?sslmode=require"
        );
        assert_eq!(password.as_deref(), Some("p@ss:w"));
        let (url, password) =
            super::without_password("postgres://bridge@db/bridge?password=s%20t&sslmode=disable")
                .unwrap();
        assert_eq!(url.as_str(), "postgres://bridge@db/bridge?sslmode=disable");
        assert_eq!(password.as_deref(), Some("s t"));
        let (url, password) = super::without_password("postgres://db/bridge").unwrap();
        assert_eq!((url.as_str(), password), ("postgres://db/bridge", None));
    }
}
