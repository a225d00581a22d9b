//! Connecting to PostgreSQL, running the embedded migrations, and asking whether it answers.

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use std::{str::FromStr, time::Duration};

/// Connections per process. Activities and resolvers hold a connection only for one short
/// transaction, so a small pool serves many concurrent requests.
pub const DEFAULT_POOL_SIZE: u32 = 20;
/// How long a request waits for a free connection before failing (and, in an activity, retrying).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub async fn connect(database_url: &str, pool_size: u32) -> Result<PgPool, sqlx::Error> {
    connect_as(database_url, pool_size, "djinn").await
}

/// A pool of its own for one part of a process, named so in `pg_stat_activity`.
pub async fn connect_as(
    database_url: &str,
    pool_size: u32,
    application_name: &str,
) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(database_url)?.application_name(application_name);
    PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // sqlx pings an idle connection every time it hands one out: one more round trip for
        // each ledger step and each mutation, which mostly wakes processes that compete with
        // the Temporal server for the CPU. A connection that broke while idle fails its first
        // statement instead; every caller already treats that as a transient failure (a ledger
        // step is retried, idempotently; a mutation answers with an error the client retries
        // with its idempotency key), and sqlx closes it rather than returning it to the pool.
        .test_before_acquire(false)
        .connect_with(options)
        .await
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Whether `url` asks for TLS (sslmode require, verify-ca or verify-full); `None` when it is not
/// a PostgreSQL URL at all. Reads the URL only: nothing connects.
pub fn asks_for_tls(url: &str) -> Option<bool> {
    // sqlx parses any scheme's URL; only these two are PostgreSQL's.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return None;
    }
    let options = PgConnectOptions::from_str(url).ok()?;
    Some(matches!(
        options.get_ssl_mode(),
        PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull
    ))
}

/// Whether PostgreSQL answers a trivial statement: the readiness probe's question.
pub async fn ping(pool: &PgPool) -> bool {
    // A simple query: one message, no statement to prepare (crate::sql says why that matters).
    sqlx::raw_sql("SELECT 1").execute(pool).await.is_ok()
}

/// Whether the database holds no relation of its own (a restore's target must be empty).
pub async fn holds_nothing(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let relations: i64 = crate::sql::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname NOT LIKE 'pg_toast%'",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(relations == 0)
}

/// The application role, as the row-level security migration creates it: roles belong to the
/// cluster, not to a database, so a dump carries the grants to it but not the role itself.
pub async fn ensure_app_role(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "DO $$ BEGIN CREATE ROLE djinn_app NOLOGIN NOBYPASSRLS;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(pool)
    .await?;
    Ok(())
}
