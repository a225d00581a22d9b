//! The ledger writes themselves, against a real PostgreSQL: each is idempotent (replaying it
//! changes nothing), refusals change nothing, a void always wins over a late reservation and is
//! refused once the money moved. What holds for the reservation holds for the step that
//! reserves and posts at once, so most tests run both (`Step`). Concurrency: ledger_concurrency.rs.

use djinn_domain::{
    AccountId, AccountKind, AccountName, Currency, Money, OperationId, TransferRequest,
};
use djinn_ledger::{self as ledger, Applied, NewAccount};
use djinn_store::users;
use djinn_store::{RejectionCode, StoreError};
use djinn_tests::fresh_database;
use djinn_tests::ledger_steps::{
    Step, Triggers, account, balances, ledger_state, plant, register_opening, register_transfer,
    rejection, usd, usd_transfer,
};

#[tokio::test]
async fn every_ledger_step_replayed_changes_nothing() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    assert_eq!(users::ensure_user(&pool, "alice").await?, user);
    let (from, to) = (
        account(&pool, user, 10_000).await?,
        account(&pool, user, 0).await?,
    );
    let transfer = OperationId::generate();
    let request = TransferRequest::new(from, to, usd(2_500), None)?;
    register_transfer(&pool, user, transfer, &request).await?;

    assert_eq!(
        ledger::reserve_transfer(&pool, transfer, user, "k", "wf", &request).await?,
        Applied::Now
    );
    let reserved = ledger_state(&pool).await?;
    assert_eq!(
        ledger::reserve_transfer(&pool, transfer, user, "k", "wf", &request).await?,
        Applied::Already
    );
    assert_eq!(ledger_state(&pool).await?, reserved);

    assert_eq!(
        ledger::post_transfer(&pool, transfer, user).await?,
        Applied::Now
    );
    let posted = ledger_state(&pool).await?;
    assert_eq!(
        ledger::post_transfer(&pool, transfer, user).await?,
        Applied::Already
    );
    assert_eq!(
        ledger::reserve_transfer(&pool, transfer, user, "k", "wf", &request).await?,
        Applied::Already
    );
    // Voiding a posted transfer is refused and leaves it posted: it can only be reversed.
    assert_eq!(
        rejection(ledger::void_transfer(&pool, transfer, user, "k", "LATE", "too late").await),
        Some(RejectionCode::TransferPosted)
    );
    assert_eq!(ledger_state(&pool).await?, posted);

    let status: String = sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1")
        .bind(transfer.as_uuid())
        .fetch_one(&pool)
        .await?;
    assert_eq!(status, "posted");
    Ok(())
}

/// The step that reserves and posts at once leaves the ledger exactly as reserve then post do:
/// the same balances (nothing pending), a posted entry of two legs, the operation posted. It is
/// idempotent, and a void that comes after it is refused and changes nothing.
#[tokio::test]
async fn reserving_and_posting_at_once_ends_where_the_two_steps_end() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let mut ends = Vec::new();
    for step in Step::BOTH {
        let (from, to) = (
            account(&pool, user, 10_000).await?,
            account(&pool, user, 0).await?,
        );
        let transfer = OperationId::generate();
        let key = format!("{step:?}");
        let request = TransferRequest::new(from, to, usd(2_500), None)?;
        register_transfer(&pool, user, transfer, &request).await?;
        assert_eq!(
            step.complete(&pool, transfer, user, &key, &request).await?,
            Applied::Now
        );
        let end: (String, String, i64, i64, i64) = sqlx::query_as(
            "SELECT t.status, o.status, count(p.id), sum(p.amount_minor)::bigint,
                    sum(abs(p.amount_minor))::bigint
               FROM transactions t JOIN operations o ON o.id = t.id
               JOIN postings p ON p.transaction_id = t.id
              WHERE t.id = $1 GROUP BY t.status, o.status",
        )
        .bind(transfer.as_uuid())
        .fetch_one(&pool)
        .await?;
        let moved: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT posted_minor, pending_debit_minor, pending_credit_minor FROM account_balances
              WHERE account_id = ANY ($1) ORDER BY posted_minor DESC",
        )
        .bind(vec![from.as_uuid(), to.as_uuid()])
        .fetch_all(&pool)
        .await?;
        ends.push((end, moved));

        let done = ledger_state(&pool).await?;
        assert_eq!(
            step.complete(&pool, transfer, user, &key, &request).await?,
            Applied::Already,
            "{step:?} replayed"
        );
        assert_eq!(
            ledger::reserve_and_post_transfer(&pool, transfer, user, &key, "wf", &request).await?,
            Applied::Already,
            "{step:?} then at once"
        );
        assert_eq!(
            rejection(ledger::void_transfer(&pool, transfer, user, &key, "LATE", "late").await),
            Some(RejectionCode::TransferPosted),
            "{step:?} then a void"
        );
        assert_eq!(ledger_state(&pool).await?, done);
    }
    assert_eq!(
        ends[0],
        (
            ("posted".to_owned(), "posted".to_owned(), 2, 0, 5_000),
            vec![(7_500, 0, 0), (2_500, 0, 0)]
        )
    );
    assert_eq!(ends[1], ends[0]);
    Ok(())
}

#[tokio::test]
async fn refusals_change_nothing() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let alice = users::ensure_user(&pool, "alice").await?;
    let bob = users::ensure_user(&pool, "bob").await?;
    let (from, to) = (
        account(&pool, alice, 1_000).await?,
        account(&pool, alice, 0).await?,
    );
    let bobs = account(&pool, bob, 1_000).await?;
    // The user's equity account has no floor: it must never be a transfer's source.
    let equity: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM accounts WHERE kind = 'equity' AND user_id = $1")
            .bind(alice.as_uuid())
            .fetch_one(&pool)
            .await?;
    let before = ledger_state(&pool).await?;

    let yen = Money::from_minor(1, Currency::parse("JPY")?);
    let refused = [
        (
            TransferRequest::new(from, to, usd(1_001), None)?,
            RejectionCode::InsufficientFunds,
        ),
        (
            TransferRequest::new(bobs, to, usd(1), None)?,
            RejectionCode::AccountNotFound,
        ),
        (
            TransferRequest::new(from, to, yen, None)?,
            RejectionCode::CurrencyMismatch,
        ),
        (
            TransferRequest::new(AccountId::from_uuid(equity), to, usd(1_000_000), None)?,
            RejectionCode::AccountNotFound,
        ),
    ];
    for step in Step::BOTH {
        for (i, (request, code)) in refused.iter().enumerate() {
            let key = format!("{step:?}-{i}");
            assert_eq!(
                rejection(
                    step.take(&pool, OperationId::generate(), alice, &key, request)
                        .await
                ),
                Some(*code),
                "{step:?} {request:?}"
            );
        }
    }
    // A registered transfer that was never reserved is not posted; nor is one nobody
    // registered.
    let never_reserved = OperationId::generate();
    let request = TransferRequest::new(from, to, usd(1), None)?;
    register_transfer(&pool, alice, never_reserved, &request).await?;
    assert_eq!(
        rejection(ledger::post_transfer(&pool, never_reserved, alice).await),
        Some(RejectionCode::NotReserved)
    );
    assert_eq!(
        rejection(ledger::post_transfer(&pool, OperationId::generate(), alice).await),
        Some(RejectionCode::NotRegistered)
    );

    let transactions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM transactions WHERE kind = 'transfer'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(transactions, 0);
    assert_eq!(ledger_state(&pool).await?, before);
    Ok(())
}

#[tokio::test]
async fn a_void_wins_over_a_late_reservation() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let (from, to) = (
        account(&pool, user, 1_000).await?,
        account(&pool, user, 0).await?,
    );
    let before = balances(&pool).await?;

    // The workflow gave up on a slow reservation and voided; then the slow attempt arrives.
    let transfer = OperationId::generate();
    let request = TransferRequest::new(from, to, usd(500), None)?;
    register_transfer(&pool, user, transfer, &request).await?;
    assert_eq!(
        ledger::void_transfer(&pool, transfer, user, "k", "NOT_RESERVED", "gave up").await?,
        Applied::Now
    );
    assert_eq!(
        ledger::reserve_transfer(&pool, transfer, user, "k", "wf", &request).await?,
        Applied::Already
    );
    assert_eq!(
        balances(&pool).await?,
        before,
        "nothing may be held after a void"
    );
    assert_eq!(
        rejection(ledger::post_transfer(&pool, transfer, user).await),
        Some(RejectionCode::TransferVoided)
    );
    // A late attempt of the step that reserves and posts at once moves nothing either.
    assert_eq!(
        rejection(
            ledger::reserve_and_post_transfer(&pool, transfer, user, "k", "wf", &request).await
        ),
        Some(RejectionCode::TransferVoided)
    );
    assert_eq!(balances(&pool).await?, before);

    // A reserved transfer that is voided releases exactly what it held.
    let second = OperationId::generate();
    register_transfer(&pool, user, second, &request).await?;
    ledger::reserve_transfer(&pool, second, user, "k2", "wf", &request).await?;
    assert_ne!(balances(&pool).await?, before);
    ledger::void_transfer(&pool, second, user, "k2", "CANCELLED", "cancelled").await?;
    assert_eq!(balances(&pool).await?, before);
    assert_eq!(
        ledger::void_transfer(&pool, second, user, "k2", "CANCELLED", "cancelled").await?,
        Applied::Already
    );
    assert_eq!(balances(&pool).await?, before);
    Ok(())
}

/// The reservation itself holds an account with an overdraft limit at minus that limit, and
/// answers a key held by another transfer as reused; both without the API's early checks.
#[tokio::test]
async fn the_reservation_enforces_the_overdraft_floor_and_the_key() -> anyhow::Result<()> {
    for step in Step::BOTH {
        let (_, pool) = fresh_database().await?;
        let user = users::ensure_user(&pool, "alice").await?;
        let card = AccountId::generate();
        let new_card = NewAccount {
            operation_id: OperationId::from_uuid(card.as_uuid()),
            account_id: card,
            user,
            name: AccountName::parse("Card")?,
            kind: AccountKind::CreditCard,
            opening_balance: usd(0),
            overdraft_limit: Some(usd(10_000)),
        };
        register_opening(&pool, &new_card).await?;
        ledger::open_account(&pool, &new_card).await?;
        let to = account(&pool, user, 0).await?;
        let before = ledger_state(&pool).await?;

        let too_much = TransferRequest::new(card, to, usd(10_001), None)?;
        assert_eq!(
            rejection(
                step.take(&pool, OperationId::generate(), user, "a", &too_much)
                    .await
            ),
            Some(RejectionCode::InsufficientFunds),
            "{step:?}"
        );
        assert_eq!(ledger_state(&pool).await?, before);

        let all = TransferRequest::new(card, to, usd(10_000), None)?;
        step.complete(&pool, OperationId::generate(), user, "b", &all)
            .await?;
        let card_posted: i64 =
            sqlx::query_scalar("SELECT posted_minor FROM account_balances WHERE account_id = $1")
                .bind(card.as_uuid())
                .fetch_one(&pool)
                .await?;
        assert_eq!(card_posted, -10_000, "{step:?}");

        let after = ledger_state(&pool).await?;
        let small = TransferRequest::new(to, card, usd(1), None)?;
        assert_eq!(
            rejection(
                step.take(&pool, OperationId::generate(), user, "b", &small)
                    .await
            ),
            Some(RejectionCode::IdempotencyKeyReused),
            "{step:?}"
        );
        assert_eq!(ledger_state(&pool).await?, after);
    }
    Ok(())
}

/// A pending entry that does not balance (which only a bug or a hand edit could make) is never
/// posted or released: the posting and the void functions check the legs before their commit
/// and report a broken invariant, which the activity fails non-retryably instead of retrying
/// for days, and no balance moves. The same holds for posting a pending entry without postings.
#[tokio::test]
async fn posting_a_broken_entry_is_an_invariant_failure_and_moves_nothing() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let account_id = account(&pool, user, 1_000).await?;
    let other = account(&pool, user, 0).await?;
    let before = balances(&pool).await?;

    for legs in [&[7_i64][..], &[]] {
        let transfer = OperationId::generate();
        register_transfer(&pool, user, transfer, &usd_transfer(other, account_id, 7)?).await?;
        // Written as the owner, past the functions and with the ledger's triggers off (which
        // would refuse it): one leg of +7 and nothing to balance it.
        let planted: Vec<_> = legs.iter().map(|amount| (account_id, *amount)).collect();
        plant(&pool, user, transfer, &planted, Triggers::Off).await?;
        let posted = ledger::post_transfer(&pool, transfer, user).await;
        assert!(
            matches!(posted, Err(StoreError::Invariant(_))),
            "legs {legs:?}: {posted:?}"
        );
        if !legs.is_empty() {
            // Releasing legs that do not balance would corrupt the pending amounts as surely.
            let voided = ledger::void_transfer(&pool, transfer, user, "k", "X", "m").await;
            assert!(
                matches!(voided, Err(StoreError::Invariant(_))),
                "legs {legs:?}: {voided:?}"
            );
        }
        let status: String = sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1")
            .bind(transfer.as_uuid())
            .fetch_one(&pool)
            .await?;
        assert_eq!(status, "pending", "legs {legs:?}");
        assert_eq!(balances(&pool).await?, before, "legs {legs:?}");
    }
    Ok(())
}
