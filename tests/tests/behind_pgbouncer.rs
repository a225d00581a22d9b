//! Managed PostgreSQL is reached through a transaction-mode pooler. Every test stack's api and
//! workers connect through PgBouncer 1.18 in `pool_mode = transaction` (scripts/test.sh), so
//! the whole suite runs behind it; this file shows that they really do, and what breaks
//! without `djinn_store::sql`'s discipline.

use djinn_tests::{
    djinn_binary, empty_database, pooler_url, spawn_app, transfer_replay_and_refusal,
};
use sqlx::{Connection, PgConnection, Row};

/// The first row of the pooler's admin console `SHOW <what>` whose `column` is `value`.
async fn pooler_row(
    what: &str,
    column: &str,
    value: &str,
) -> anyhow::Result<Option<sqlx::postgres::PgRow>> {
    let mut console = PgConnection::connect(&format!("{}/pgbouncer", pooler_url())).await?;
    // The console speaks only the simple query protocol.
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SHOW {what}")))
        .fetch_all(&mut console)
        .await?;
    Ok(rows
        .into_iter()
        .find(|row| row.try_get::<String, _>(column).ok().as_deref() == Some(value)))
}

#[tokio::test]
async fn the_stack_runs_its_transactions_through_pgbouncer_in_transaction_mode()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    assert!(
        app.database_url.starts_with(&pooler_url()),
        "the stack's DATABASE_URL is the pooler's: {}",
        app.database_url
    );
    let database = app.database_url.rsplit('/').next().expect("a database");

    let alice = app.client("alice");
    let (from, to) = alice.checking_and_savings("50.00").await?;
    transfer_replay_and_refusal(&alice, "through-the-pooler", (&from, &to), "12.00").await?;
    assert_eq!(alice.balances(&from).await?.0, "38.00");
    assert_eq!(alice.balances(&to).await?.0, "12.00");

    let mode = pooler_row("CONFIG", "key", "pool_mode")
        .await?
        .expect("the pooler has a pool mode");
    assert_eq!(mode.try_get::<String, _>("value")?, "transaction");
    let stats = pooler_row("STATS", "database", database)
        .await?
        .expect("the pooler has statistics for the test's database");
    // Every read, registration and ledger step above was a transaction through the pooler.
    // A NUMERIC, sent as text by the simple query protocol.
    let transactions: i64 = stats
        .try_get_unchecked::<String, _>("total_xact_count")?
        .parse()?;
    assert!(
        transactions >= 10,
        "only {transactions} transactions went through the pooler"
    );
    app.assert_ledger_consistent().await?;
    Ok(())
}

/// Why `djinn_store::sql` sends every statement unnamed, inside a transaction: sqlx's default,
/// a named statement prepared once per client connection and cached there, meets the server
/// connections of other clients: each client names its first statement `sqlx_s_1`, the pooler
/// hands one server to client after client, and the second client's `sqlx_s_1` already exists
/// there (or a cached one is missing on a server that never saw it).
#[tokio::test]
async fn named_statements_do_not_survive_a_transaction_mode_pooler() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut failures = 0;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(PgConnection::connect(&app.database_url).await?);
    }
    for round in 0..20 {
        for client in clients.iter_mut() {
            let attempt = async {
                let mut tx = client.begin().await?;
                let value: i64 = sqlx::query_scalar("SELECT $1::bigint")
                    .bind(round)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                anyhow::Ok(value)
            };
            if attempt.await.is_err() {
                failures += 1;
            }
        }
    }
    assert!(
        failures > 0,
        "named statements survived every change of server: the pooler is not in transaction mode"
    );
    Ok(())
}

/// Migrations hold a session (sqlx's migrator takes a session-level advisory lock), which a
/// transaction-mode pooler does not keep: `djinn migrate` takes the direct URL from
/// DATABASE_MIGRATION_URL, while DATABASE_URL, the pooler's, is what the api and workers use.
#[tokio::test]
async fn migrations_go_over_the_direct_url_beside_the_pooled_one() -> anyhow::Result<()> {
    let (direct, pool) = empty_database().await?;
    let database = direct.rsplit('/').next().expect("a database");
    let pooled = format!("{}/{database}", pooler_url());
    let migrate = |migration_url: &str| {
        tokio::process::Command::new(djinn_binary().expect("the djinn binary"))
            .arg("migrate")
            .env("DATABASE_URL", &pooled)
            .env("DATABASE_MIGRATION_URL", migration_url)
            .env("DJINN_LOG_FORMAT", "json")
            .output()
    };

    let refused = migrate("mysql://somewhere/else").await?;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("DATABASE_MIGRATION_URL is not a PostgreSQL URL"),
        "{stderr}"
    );
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = '_sqlx_migrations'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(applied, 0, "a refused configuration migrates nothing");

    let migrated = migrate(&direct).await?;
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await?;
    assert_eq!(applied, djinn_store::db::MIGRATOR.iter().count() as i64);
    Ok(())
}
