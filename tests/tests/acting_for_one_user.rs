//! Acting for one user, below the API: the ledger's step functions and the registration of a
//! transfer act as the application role for the user they are given, whoever calls them, and
//! row-level security compares a column with that user, never running a subquery.

use djinn_domain::{IdempotencyKey, OperationId, UserId};
use djinn_ledger::{self as ledger, Applied};
use djinn_store::operations::{self, Registration};
use djinn_store::session::begin_as;
use djinn_store::users;
use djinn_store::{RejectionCode, StoreError};
use djinn_tests::fresh_database;
use djinn_tests::ledger_steps::{open, reserve, transaction_status, usd_transfer};

/// The ledger steps are functions that act as the application role whoever calls them (this
/// test's pool is the owner, which row-level security would let see everything): acting for
/// one user, a step cannot find another user's transfer, let alone post it or call it its own.
#[tokio::test]
async fn a_ledger_step_acting_for_one_user_cannot_touch_anothers_transfer() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let alice = users::ensure_user(&pool, "alice").await?;
    let bob = users::ensure_user(&pool, "bob").await?;
    let (from, to) = (open(&pool, bob, 1_000).await?, open(&pool, bob, 0).await?);
    let (transfer, request) = reserve(&pool, bob, from, to, 100).await?;
    assert_eq!(transaction_status(&pool, transfer).await?, "pending");

    let rejection = |result: Result<Applied, StoreError>| match result {
        Err(StoreError::Rejected(rejection)) => Some(rejection.code),
        _ => None,
    };
    assert_eq!(
        rejection(ledger::post_transfer(&pool, transfer, alice).await),
        Some(RejectionCode::NotRegistered),
        "Alice cannot post Bob's transfer: for her, no operation asked for it"
    );
    assert_eq!(
        rejection(ledger::reserve_transfer(&pool, transfer, alice, "k", "wf", &request).await),
        Some(RejectionCode::IdempotencyKeyReused),
        "Alice is not told that Bob's reservation is hers"
    );
    assert_eq!(
        rejection(
            ledger::reserve_and_post_transfer(&pool, transfer, alice, "k", "wf", &request).await
        ),
        Some(RejectionCode::IdempotencyKeyReused),
        "nor can she move it at once"
    );
    assert_eq!(
        rejection(
            ledger::reserve_and_post_transfer(
                &pool,
                OperationId::generate(),
                alice,
                "k2",
                "wf",
                &request
            )
            .await
        ),
        Some(RejectionCode::AccountNotFound),
        "Bob's accounts are not Alice's to move"
    );
    assert_eq!(
        transaction_status(&pool, transfer).await?,
        "pending",
        "Bob's transfer is untouched"
    );
    assert_eq!(
        ledger::post_transfer(&pool, transfer, bob).await?,
        Applied::Now
    );
    Ok(())
}

/// Registering a transfer acts for one user: another user's key is not found (Bob's request
/// under Alice's key is his own, not an answer with her transfer), and another user's accounts
/// read as unknown.
#[tokio::test]
async fn registering_acting_for_one_user_sees_neither_anothers_keys_nor_accounts()
-> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let alice = users::ensure_user(&pool, "alice").await?;
    let bob = users::ensure_user(&pool, "bob").await?;
    let (from, to) = (
        open(&pool, alice, 1_000).await?,
        open(&pool, alice, 0).await?,
    );
    let request = usd_transfer(from, to, 100)?;
    let key = IdempotencyKey::parse("k")?;
    let register = |user: UserId, workflow_id: &'static str| {
        operations::register_transfer(
            &pool,
            OperationId::generate(),
            user,
            &key,
            workflow_id,
            &request,
            djinn_graphql::DEFAULT_APPROVAL_TIMEOUT,
        )
    };
    let Registration::Created(alices) = register(alice, "wf-alice").await? else {
        panic!("Alice registers her transfer");
    };
    assert!(
        matches!(
            register(bob, "wf-bob").await?,
            Registration::Refused(RejectionCode::AccountNotFound)
        ),
        "Bob is neither answered with Alice's transfer nor allowed her accounts"
    );
    let Registration::Existing(again) = register(alice, "wf-alice").await? else {
        panic!("Alice's retry finds her transfer");
    };
    assert_eq!(again.operation.id, alices.operation.id);
    let operations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM operations WHERE kind = 'transfer'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(operations, 1, "only Alice's request was registered");
    Ok(())
}

/// Row-level security on postings and balance rows compares a column with the acting user, as
/// on every other table, and never runs a subquery: planned as a hash, a subquery read every
/// one of the user's transactions on each statement that touched a posting, so every post step
/// grew slower with the user's history (..._owner_on_every_row.sql).
#[tokio::test]
async fn postings_and_balances_are_guarded_without_a_subquery() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let alice = users::ensure_user(&pool, "alice").await?;
    let (from, to) = (
        open(&pool, alice, 1_000).await?,
        open(&pool, alice, 0).await?,
    );
    let (transfer, _) = reserve(&pool, alice, from, to, 100).await?;

    let mut tx = begin_as(&pool, alice).await?;
    for (statement, key) in [
        (
            "EXPLAIN SELECT * FROM postings WHERE transaction_id = $1",
            transfer.as_uuid(),
        ),
        (
            "EXPLAIN UPDATE account_balances SET updated_at = now() WHERE account_id = $1",
            from.as_uuid(),
        ),
    ] {
        let plan: Vec<String> = sqlx::query_scalar(statement)
            .bind(key)
            .fetch_all(&mut *tx)
            .await?;
        let plan = plan.join("\n");
        assert!(!plan.contains("SubPlan"), "{statement}:\n{plan}");
    }
    tx.rollback().await?;

    // The owner columns cannot disagree with the rows they belong to, even for the owner role.
    let bob = users::ensure_user(&pool, "bob").await?;
    let spare = open(&pool, alice, 0).await?;
    // With the registration trigger off, so that the foreign keys are what refuses it.
    let mut forging = pool.begin().await?;
    sqlx::query("ALTER TABLE postings DISABLE TRIGGER postings_match_registration")
        .execute(&mut *forging)
        .await?;
    let forged = sqlx::query(
        "INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
         VALUES (gen_random_uuid(), $1, $2, $3, 1, 'USD')",
    )
    .bind(transfer.as_uuid())
    .bind(bob.as_uuid())
    .bind(spare.as_uuid())
    .execute(&mut *forging)
    .await
    .expect_err("a posting owned by someone else than its transaction's owner");
    forging.rollback().await?;
    assert_eq!(
        forged.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23503"),
        "{forged}"
    );
    Ok(())
}
