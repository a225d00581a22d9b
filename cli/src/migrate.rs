//! `djinn migrate`: the embedded migrations, applied over a direct connection.
//!
//! sqlx's migrator holds a session-level advisory lock for the whole run, so that two
//! migrators never interleave. A transaction-mode pooler (PgBouncer, Neon's pooled endpoint)
//! does not keep a session, so migrations take `DATABASE_MIGRATION_URL`, the database's direct
//! endpoint, when it is set, and `DATABASE_URL` otherwise (a direct URL too, then).

use crate::config::{DatabaseSettings, secret};
use crate::validate::{self, Problems};
use anyhow::Context;
use clap::Args;
use djinn_store::db;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct MigrationSettings {
    /// The database's direct URL (not through a transaction-mode pooler), for migrations only.
    #[arg(long, env = "DATABASE_MIGRATION_URL", hide_env_values = true)]
    pub migration_url: Option<SecretString>,
    #[arg(long, env = "DATABASE_MIGRATION_URL_FILE")]
    pub migration_url_file: Option<PathBuf>,
}

pub async fn run(database: DatabaseSettings, migration: MigrationSettings) -> anyhow::Result<()> {
    let mut problems = Problems::default();
    let url = direct_url(&database, &migration, &mut problems);
    problems.into_result("migrate")?;
    let url = url.context("a checked migration URL")?;
    let pool = db::connect(url.expose_secret(), 2)
        .await
        .context("connecting to PostgreSQL")?;
    db::migrate(&pool).await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// The database's direct URL: DATABASE_MIGRATION_URL when set, else DATABASE_URL, checked
/// (problems recorded). Migrations and backups need a session, which a pooler does not keep.
pub fn direct_url(
    database: &DatabaseSettings,
    migration: &MigrationSettings,
    problems: &mut Problems,
) -> Option<SecretString> {
    let direct = problems.check(secret(
        &migration.migration_url,
        &migration.migration_url_file,
        "DATABASE_MIGRATION_URL",
    ));
    match direct {
        Some(Some(url)) if db::asks_for_tls(url.expose_secret()).is_some() => Some(url),
        Some(Some(_)) => problems.check(Err(anyhow::anyhow!(
            "DATABASE_MIGRATION_URL is not a PostgreSQL URL (postgres://user@host/database)"
        ))),
        Some(None) => validate::database_url(database, None, problems),
        None => None,
    }
}
