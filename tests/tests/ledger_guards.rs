//! The database keeps the ledger's rules itself, whoever writes to it (the table owner
//! included, past the step functions): legs only for what an operation registered, double
//! entry at every commit, journal entries that only move forward, no system account or
//! negative opening balance through the opening step, and no CREATE on the public schema.

use djinn_domain::{AccountKind, OperationId, TransferRequest};
use djinn_ledger::{self as ledger, Applied};
use djinn_store::{RejectionCode, db, users};
use djinn_tests::ledger_steps::{
    Step, Triggers, account, balances, new_account, plant, register_opening, register_transfer,
    rejection, usd,
};
use djinn_tests::{empty_database, fresh_database};

/// The SQLSTATE and message of a failed statement or commit.
fn refusal(error: &sqlx::Error) -> (Option<String>, String) {
    let database = error.as_database_error();
    (
        database
            .and_then(|e| e.code())
            .map(|code| code.into_owned()),
        database.map(|e| e.message().to_owned()).unwrap_or_default(),
    )
}

#[tokio::test]
async fn legs_nobody_registered_or_that_do_not_balance_are_refused() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let (from, to) = (
        account(&pool, user, 1_000).await?,
        account(&pool, user, 0).await?,
    );
    let before = balances(&pool).await?;

    // Legs of a transfer nobody registered: refused as each is written.
    let unregistered = plant(
        &pool,
        user,
        OperationId::generate(),
        &[(from, -7), (to, 7)],
        Triggers::On,
    )
    .await;
    let error = unregistered.expect_err("legs nobody registered");
    assert_eq!(
        refusal(&error),
        (Some("DJ001".into()), "not_registered".into())
    );

    // Legs of a registered transfer, but another amount.
    let transfer = OperationId::generate();
    register_transfer(
        &pool,
        user,
        transfer,
        &TransferRequest::new(from, to, usd(7), None)?,
    )
    .await?;
    let more = plant(&pool, user, transfer, &[(from, -9), (to, 9)], Triggers::On).await;
    assert_eq!(
        refusal(&more.expect_err("another amount")).1,
        "not_registered"
    );

    // The registered source leg alone: each leg is registered, the entry does not balance,
    // and the commit is refused.
    let half = plant(&pool, user, transfer, &[(from, -7)], Triggers::On).await;
    assert_eq!(
        refusal(&half.expect_err("one leg")).0.as_deref(),
        Some("DJ002")
    );

    let entries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM transactions WHERE kind = 'transfer'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(entries, 0);
    assert_eq!(balances(&pool).await?, before);
    // Both legs, as registered, are what the ledger writes.
    assert_eq!(
        plant(&pool, user, transfer, &[(from, -7), (to, 7)], Triggers::On)
            .await
            .ok(),
        Some(())
    );
    Ok(())
}

#[tokio::test]
async fn a_journal_entry_only_moves_from_pending_to_posted_or_voided() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let (from, to) = (
        account(&pool, user, 1_000).await?,
        account(&pool, user, 0).await?,
    );
    let posted = OperationId::generate();
    let request = TransferRequest::new(from, to, usd(100), None)?;
    Step::AtOnce
        .complete(&pool, posted, user, "posted", &request)
        .await?;

    for status in ["pending", "voided"] {
        let moved = sqlx::query("UPDATE transactions SET status = $2 WHERE id = $1")
            .bind(posted.as_uuid())
            .bind(status)
            .execute(&pool)
            .await;
        let error = moved.expect_err("a posted entry stays posted");
        assert_eq!(
            refusal(&error).0.as_deref(),
            Some("DJ002"),
            "posted -> {status}"
        );
    }
    // A voided one stays voided.
    let voided = OperationId::generate();
    register_transfer(&pool, user, voided, &request).await?;
    ledger::void_transfer(&pool, voided, user, "voided", "CANCELLED", "cancelled").await?;
    let reopened = sqlx::query("UPDATE transactions SET status = 'pending' WHERE id = $1")
        .bind(voided.as_uuid())
        .execute(&pool)
        .await;
    assert_eq!(
        refusal(&reopened.expect_err("reopened")).0.as_deref(),
        Some("DJ002")
    );
    // Pending to posted is the move the ledger makes.
    let reserved = OperationId::generate();
    Step::Reserve
        .take(&pool, reserved, user, "reserved", &request)
        .await?;
    assert_eq!(
        ledger::post_transfer(&pool, reserved, user).await?,
        Applied::Now
    );
    Ok(())
}

#[tokio::test]
async fn the_opening_step_checks_the_terms_it_is_given() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let mut system = new_account(user, "Equity", 0)?;
    system.kind = AccountKind::Equity;
    let mut negative = new_account(user, "Negative", 0)?;
    negative.opening_balance = usd(-500);
    let mut huge = new_account(user, "Huge", 0)?;
    huge.opening_balance = usd(djinn_domain::AMOUNT_MAX_MINOR + 1);
    for (new, code) in [
        (&system, RejectionCode::InvalidAccountKind),
        (&negative, RejectionCode::InvalidAmount),
        (&huge, RejectionCode::InvalidAmount),
    ] {
        assert_eq!(
            rejection(ledger::open_account(&pool, new).await),
            Some(code)
        );
    }
    // One registered with other terms than the run was given: not opened either.
    let registered = new_account(user, "Savings", 100)?;
    register_opening(&pool, &registered).await?;
    let mut richer = registered.clone();
    richer.opening_balance = usd(100_000);
    assert_eq!(
        rejection(ledger::open_account(&pool, &richer).await),
        Some(RejectionCode::NotRegistered)
    );
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&pool)
        .await?;
    assert_eq!(accounts, 0);
    assert_eq!(
        ledger::open_account(&pool, &registered).await?,
        Applied::Now
    );
    Ok(())
}

#[tokio::test]
async fn nobody_but_the_migrations_creates_in_the_public_schema() -> anyhow::Result<()> {
    // As a database restored from PostgreSQL 14 or earlier would have it.
    let (_, pool) = empty_database().await?;
    sqlx::query("GRANT CREATE ON SCHEMA public TO PUBLIC")
        .execute(&pool)
        .await?;
    db::migrate(&pool).await?;
    let anyone_creates: bool =
        sqlx::query_scalar("SELECT has_schema_privilege('djinn_app', 'public', 'CREATE')")
            .fetch_one(&pool)
            .await?;
    assert!(!anyone_creates);
    Ok(())
}
