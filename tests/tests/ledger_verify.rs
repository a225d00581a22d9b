//! `djinn ledger verify` checks every ledger invariant over the whole database and names each
//! violation: a clean ledger passes, and each kind of violation, planted as the tables' owner
//! past the ledger's functions and triggers, is named and fails the command.

use djinn_domain::{OperationId, TransferRequest};
use djinn_store::users;
use djinn_tests::ledger_steps::{Step, account, register_transfer, usd};
use djinn_tests::{djinn_binary, fresh_database};

/// Runs `djinn ledger verify` on `database_url`: (exit success, stdout).
async fn verify(database_url: &str) -> anyhow::Result<(bool, String)> {
    let output = tokio::process::Command::new(djinn_binary()?)
        .args(["ledger", "verify"])
        .env("DATABASE_URL", database_url)
        .output()
        .await?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}

#[tokio::test]
async fn every_kind_of_violation_is_named() -> anyhow::Result<()> {
    let (url, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let (from, to) = (
        account(&pool, user, 10_000).await?,
        account(&pool, user, 0).await?,
    );
    let posted = OperationId::generate();
    let request = TransferRequest::new(from, to, usd(1_000), None)?;
    Step::AtOnce
        .complete(&pool, posted, user, "posted", &request)
        .await?;
    let waiting = OperationId::generate();
    register_transfer(&pool, user, waiting, &request).await?;
    let held = OperationId::generate();
    register_transfer(&pool, user, held, &request).await?;

    let (clean, said) = verify(&url).await?;
    assert!(clean, "a ledger written by its steps holds: {said}");

    // Each violation planted as the owner, past the functions and the triggers.
    let plants = [
        "ALTER TABLE postings DISABLE TRIGGER USER",
        "ALTER TABLE transactions DISABLE TRIGGER USER",
        "ALTER TABLE account_balances DROP CONSTRAINT available_above_floor",
        // unbalanced (and a posted balance that no longer adds up, and posting_without_entry,
        // its triggers being off): one leg more on the entry.
        &format!(
            "INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
             SELECT gen_random_uuid(), '{posted}', '{user}', a.id, 5, 'USD'
               FROM accounts a WHERE a.user_id = '{user}' AND a.kind = 'equity'"
        ),
        // pending_debit and pending_credit: holds nothing reserved.
        &format!(
            "UPDATE account_balances SET pending_debit_minor = 3, pending_credit_minor = 4
              WHERE account_id = '{from}'"
        ),
        // entry_status: the destination's entry of the posted transfer says voided.
        &format!(
            "UPDATE account_entries SET status = 'voided', balance_after_minor = NULL, posted_at = NULL
              WHERE account_id = '{to}'"
        ),
        // below_floor (and balance_after: the newest entry no longer shows the balance): the
        // source far below zero, which it may not go.
        &format!("UPDATE account_balances SET posted_minor = -50000 WHERE account_id = '{from}'"),
        // operation_without_entry: a transfer marked posted that never moved.
        &format!("UPDATE operations SET status = 'posted' WHERE id = '{waiting}'"),
        // entry_without_operation: an entry nobody registered.
        &format!(
            "INSERT INTO transactions (id, user_id, kind, status, idempotency_key)
             VALUES (gen_random_uuid(), '{user}', 'transfer', 'voided', 'stray')"
        ),
        // entry_settled_twice: the posted entry's operation says voided.
        &format!("UPDATE operations SET status = 'voided' WHERE id = '{posted}'"),
        // hold_never_released: a pending entry whose operation failed.
        &format!(
            "INSERT INTO transactions (id, user_id, kind, status, idempotency_key)
             VALUES ('{held}', '{user}', 'transfer', 'pending', 'held')"
        ),
        &format!("UPDATE operations SET status = 'failed' WHERE id = '{held}'"),
        // posted_without_postings: a posted entry that moved nothing.
        &format!(
            "INSERT INTO transactions (id, user_id, kind, status, idempotency_key)
             VALUES (gen_random_uuid(), '{user}', 'opening', 'posted', 'empty')"
        ),
    ];
    for plant in plants {
        sqlx::query(sqlx::AssertSqlSafe(plant.to_owned()))
            .execute(&pool)
            .await?;
    }

    let (clean, said) = verify(&url).await?;
    assert!(!clean, "violations fail the command: {said}");
    for violation in [
        "unbalanced",
        "posted_balance",
        "pending_debit",
        "pending_credit",
        "below_floor",
        "operation_without_entry",
        "entry_without_operation",
        "entry_settled_twice",
        "hold_never_released",
        "posted_without_postings",
        "posting_without_entry",
        "entry_status",
        "balance_after",
    ] {
        assert!(
            said.contains(violation),
            "{violation} not named in:\n{said}"
        );
    }
    Ok(())
}
