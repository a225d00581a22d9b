//! `djinn backup create` and `djinn backup restore`: a consistent logical dump of the database
//! (`pg_dump --format=custom --serializable-deferrable`, one snapshot), sealed under
//! DJINN_BACKUP_KEY as it is written (`seal`); and its restore into an empty database, all or
//! nothing (`pg_restore --single-transaction`), only once the whole file has proved authentic,
//! followed by `djinn ledger verify` on what was restored. docs/RUNBOOK.md says when to use them.
//!
//! The password never appears on a command line: pg_dump and pg_restore get the URL without it
//! and the password in PGPASSWORD.

pub mod seal;

use crate::config::{DatabaseSettings, secret};
use crate::migrate::{MigrationSettings, direct_url};
use crate::validate::Problems;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use djinn_store::db;
use seal::BackupKey;
use secrecy::{ExposeSecret, SecretString};
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Args, Debug, Clone)]
pub struct BackupSettings {
    /// The key backups are sealed with: id:base64(32 bytes), as one DJINN_CODEC_KEYS entry.
    #[arg(long, env = "DJINN_BACKUP_KEY", hide_env_values = true)]
    pub backup_key: Option<SecretString>,
    #[arg(long, env = "DJINN_BACKUP_KEY_FILE")]
    pub backup_key_file: Option<PathBuf>,
    /// Where pg_dump and pg_restore are (default: on PATH); their major version must be at
    /// least the server's.
    #[arg(long, env = "DJINN_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,
}

impl BackupSettings {
    fn key(&self, problems: &mut Problems) -> Option<BackupKey> {
        let key = problems.check(secret(
            &self.backup_key,
            &self.backup_key_file,
            "DJINN_BACKUP_KEY",
        ))?;
        let Some(key) = key else {
            problems.check::<()>(Err(anyhow::anyhow!(
                "DJINN_BACKUP_KEY (or DJINN_BACKUP_KEY_FILE) must be set"
            )));
            return None;
        };
        problems.check(BackupKey::parse(&key))
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.pg_bin_dir
            .as_ref()
            .map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
    }
}

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Write a consistent, encrypted dump of the database (its direct URL) to FILE.
    Create {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        migration: MigrationSettings,
        #[command(flatten)]
        settings: BackupSettings,
    },
    /// Restore FILE into an empty database, then check its ledger.
    Restore {
        file: PathBuf,
        /// The empty database to restore into.
        #[arg(
            long,
            value_name = "URL",
            env = "DJINN_RESTORE_URL",
            hide_env_values = true
        )]
        into: SecretString,
        #[command(flatten)]
        settings: BackupSettings,
    },
}

pub async fn run(command: BackupCommand) -> anyhow::Result<()> {
    let mut problems = Problems::default();
    match command {
        BackupCommand::Create {
            out,
            database,
            migration,
            settings,
        } => {
            let url = direct_url(&database, &migration, &mut problems);
            let key = settings.key(&mut problems);
            problems.into_result("backup create")?;
            let (Some(url), Some(key)) = (url, key) else {
                bail!("a checked setting is missing")
            };
            let pg_dump = settings.tool("pg_dump");
            let written =
                tokio::task::spawn_blocking(move || create(&url, &key, &out, &pg_dump)).await??;
            tracing::info!(bytes = written, "backup written");
            Ok(())
        }
        BackupCommand::Restore {
            file,
            into,
            settings,
        } => {
            let key = settings.key(&mut problems);
            if db::asks_for_tls(into.expose_secret()).is_none() {
                problems.check::<()>(Err(anyhow::anyhow!("--into is not a PostgreSQL URL")));
            }
            problems.into_result("backup restore")?;
            let key = key.context("a checked key")?;
            restore(file, into, key, settings.tool("pg_restore")).await
        }
    }
}

/// `url` without its password, and the password: for a PostgreSQL tool's command line and its
/// PGPASSWORD.
fn split_password(url: &SecretString) -> anyhow::Result<(String, Option<String>)> {
    let mut parsed = url::Url::parse(url.expose_secret()).context("a PostgreSQL URL")?;
    let password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    parsed
        .set_password(None)
        .map_err(|()| anyhow::anyhow!("a URL with a host"))?;
    Ok((parsed.to_string(), password))
}

fn tool(program: &Path, url: &SecretString) -> anyhow::Result<Command> {
    let (url, password) = split_password(url)?;
    let mut command = Command::new(program);
    command.arg("--no-password").arg("--dbname").arg(url);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    Ok(command)
}

/// Everything a child wrote to stderr, read on a thread of its own so that it never blocks.
fn collect_stderr(child: &mut std::process::Child) -> std::thread::JoinHandle<String> {
    let mut stderr = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    })
}

/// Dumps through the sealer into FILE.partial, then renames it to FILE once pg_dump succeeded
/// and the file is on disk: a FILE that exists is whole.
fn create(url: &SecretString, key: &BackupKey, out: &Path, pg_dump: &Path) -> anyhow::Result<u64> {
    let partial = out.with_extension("partial");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut child = tool(pg_dump, url)?
        .args(["--format=custom", "--serializable-deferrable"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", pg_dump.display()))?;
    let stderr = collect_stderr(&mut child);
    let dump = child.stdout.take().expect("stdout is piped");
    let mut writer = BufWriter::new(file);
    let sealed = seal::seal(key, BufReader::new(dump), &mut writer);
    let status = child.wait()?;
    let stderr = stderr.join().unwrap_or_default();
    let finished = sealed.and_then(|bytes| {
        anyhow::ensure!(
            status.success(),
            "pg_dump failed ({status}): {}",
            stderr.trim()
        );
        writer
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        Ok(bytes)
    });
    match finished {
        Ok(bytes) => {
            std::fs::rename(&partial, out)?;
            Ok(bytes)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

async fn restore(
    file: PathBuf,
    into: SecretString,
    key: BackupKey,
    pg_restore: PathBuf,
) -> anyhow::Result<()> {
    // The whole file first: nothing is restored from a file that is not authentic throughout.
    let (checked_file, key) = tokio::task::spawn_blocking(move || {
        let sealed = std::fs::File::open(&file)
            .with_context(|| format!("cannot open {}", file.display()))?;
        seal::open(&key, BufReader::new(sealed), std::io::sink())?;
        anyhow::Ok((file, key))
    })
    .await??;
    let pool = db::connect(into.expose_secret(), 1)
        .await
        .context("connecting to the target database")?;
    anyhow::ensure!(
        db::holds_nothing(&pool).await?,
        "the target database is not empty: restore into a new database"
    );
    db::ensure_app_role(&pool).await?;
    pool.close().await;
    let target = into.clone();
    tokio::task::spawn_blocking(move || restore_into(&checked_file, &key, &target, &pg_restore))
        .await??;
    tracing::info!("restored; checking the ledger");
    if !crate::ledger::verify(into.expose_secret()).await? {
        bail!("the backup was restored, but its ledger does not hold (violations above)");
    }
    Ok(())
}

/// pg_restore in one transaction, fed the opened dump through its stdin.
fn restore_into(
    file: &Path,
    key: &BackupKey,
    into: &SecretString,
    pg_restore: &Path,
) -> anyhow::Result<()> {
    let mut child = tool(pg_restore, into)?
        .args(["--single-transaction", "--exit-on-error", "--no-owner"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", pg_restore.display()))?;
    let stderr = collect_stderr(&mut child);
    let stdin = child.stdin.take().expect("stdin is piped");
    let fed = seal::open(
        key,
        BufReader::new(std::fs::File::open(file)?),
        BufWriter::new(stdin),
    );
    let status = child.wait()?;
    let stderr = stderr.join().unwrap_or_default();
    fed?;
    anyhow::ensure!(
        status.success(),
        "pg_restore failed ({status}), nothing was restored: {}",
        stderr.trim()
    );
    Ok(())
}
