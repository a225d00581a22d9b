//! How long a statement waits for a row lock is one named value, `djinn_lock_timeout()`
//! (migrations/..._one_lock_timeout.sql): every function that runs as a lone statement
//! carries it, and every session the store opens sets it.

use djinn_store::session::begin_as;
use djinn_store::users;
use djinn_tests::fresh_database;

#[tokio::test]
async fn every_statement_waits_for_locks_as_long_as_one_value_says() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let named: String = sqlx::query_scalar("SELECT djinn_lock_timeout()")
        .fetch_one(&pool)
        .await?;

    // The registrations, the ledger steps that take and post money, and the change of a limit
    // carry it as a SET clause.
    let carried: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.proname::text, setting FROM pg_proc p, unnest(p.proconfig) AS setting
          WHERE p.pronamespace = 'public'::regnamespace AND setting LIKE 'lock\\_timeout=%'
          ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    let functions: Vec<&str> = carried.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        functions,
        [
            "ledger_import_batch_for",
            "ledger_post_transfer_for",
            "ledger_reserve_and_post_transfer_for",
            "ledger_reserve_transfer_for",
            "register_recurring_run_for",
            "register_reversal_for",
            "register_transfer_for",
            "set_overdraft_limit_for",
        ]
    );
    for (function, setting) in &carried {
        assert_eq!(*setting, format!("lock_timeout={named}"), "{function}");
    }
    // The void sets it for its own transaction, from the same function.
    let void: String =
        sqlx::query_scalar("SELECT prosrc FROM pg_proc WHERE proname = 'ledger_void_transfer_for'")
            .fetch_one(&pool)
            .await?;
    assert!(void.contains("set_config('lock_timeout', djinn_lock_timeout(), true)"));

    // Every session the store opens for a user sets it too.
    let alice = users::ensure_user(&pool, "alice").await?;
    let mut tx = begin_as(&pool, alice).await?;
    let in_session: String = sqlx::query_scalar("SELECT current_setting('lock_timeout')")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    assert_eq!(in_session, named);
    Ok(())
}
