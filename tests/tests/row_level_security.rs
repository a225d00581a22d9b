//! Row-level security: under the application role, the database itself hides every other
//! user's rows, whatever the query asks for.

use djinn_activities::store::ledger::{self, Applied, NewAccount};
use djinn_activities::store::operations::{self, Registration};
use djinn_activities::store::session::{APP_ROLE, begin_as};
use djinn_activities::store::{accounts, users};
use djinn_activities::{RejectionCode, StoreError};
use djinn_domain::{
    AccountId, AccountKind, AccountName, Currency, IdempotencyKey, Money, OperationId,
    TransferRequest, UserId,
};
use djinn_tests::fresh_database;
use sqlx::PgPool;

async fn open(pool: &PgPool, user: UserId, opening_minor: i64) -> anyhow::Result<AccountId> {
    let account_id = AccountId::generate();
    ledger::open_account(
        pool,
        &NewAccount {
            operation_id: OperationId::from_uuid(account_id.as_uuid()),
            account_id,
            user,
            name: AccountName::parse("Checking")?,
            kind: AccountKind::Checking,
            opening_balance: Money::from_minor(opening_minor, Currency::parse("USD")?),
            overdraft_limit: None,
        },
    )
    .await?;
    Ok(account_id)
}

/// A transfer request of `minor` cents from `from` to `to`, without a description.
fn usd_transfer(from: AccountId, to: AccountId, minor: i64) -> anyhow::Result<TransferRequest> {
    Ok(TransferRequest::new(
        from,
        to,
        Money::from_minor(minor, Currency::parse("USD")?),
        None,
    )?)
}

/// Reserves a transfer of `minor` cents from `from` to `to` for `user` (key "k"); returns it
/// with the request, for a test to repeat.
async fn reserve(
    pool: &PgPool,
    user: UserId,
    from: AccountId,
    to: AccountId,
    minor: i64,
) -> anyhow::Result<(OperationId, TransferRequest)> {
    let transfer = OperationId::generate();
    let request = usd_transfer(from, to, minor)?;
    ledger::reserve_transfer(pool, transfer, user, "k", "wf", &request).await?;
    Ok((transfer, request))
}

async fn transaction_status(pool: &PgPool, transfer: OperationId) -> anyhow::Result<String> {
    Ok(
        sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1")
            .bind(transfer.as_uuid())
            .fetch_one(pool)
            .await?,
    )
}

/// Counts rows of every user-owned table as the application role, acting for `user` (or for
/// nobody), with queries that do not filter by user at all.
async fn visible_rows(pool: &PgPool, user: Option<UserId>) -> anyhow::Result<Vec<i64>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('role', $1, true), set_config('djinn.user_id', $2, true)")
        .bind(APP_ROLE)
        .bind(user.map(|u| u.to_string()).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
    let mut counts = Vec::new();
    for table in [
        "users",
        "accounts",
        "account_balances",
        "transactions",
        "postings",
        "operations",
        "transfers",
    ] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut *tx)
                .await?;
        counts.push(count);
    }
    tx.rollback().await?;
    Ok(counts)
}

#[tokio::test]
async fn the_application_role_sees_only_the_current_users_rows() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let alice = users::ensure_user(&pool, "alice").await?;
    let bob = users::ensure_user(&pool, "bob").await?;
    open(&pool, alice, 10_000).await?;
    let bobs = open(&pool, bob, 5_000).await?;
    open(&pool, bob, 0).await?;

    // As the owner (who runs migrations) everything is there: 2 users, 5 accounts (3 + equity
    // accounts for both), 2 opening transactions with 2 postings each.
    let everything: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&pool)
        .await?;
    assert_eq!(everything, 5);

    assert_eq!(
        visible_rows(&pool, None).await?,
        vec![0, 0, 0, 0, 0, 0, 0],
        "no user set: no rows"
    );
    // Alice: her user row, her account and equity account with their balances, one opening
    // transaction with its two postings. Nothing of Bob's.
    assert_eq!(
        visible_rows(&pool, Some(alice)).await?,
        vec![1, 2, 2, 1, 2, 0, 0]
    );
    assert_eq!(
        visible_rows(&pool, Some(bob)).await?,
        vec![1, 3, 3, 1, 2, 0, 0]
    );

    // Alice may neither write rows in Bob's name nor touch his.
    let mut tx = begin_as(&pool, alice).await?;
    let forged = sqlx::query("INSERT INTO accounts (id, user_id, name, kind, currency) VALUES ($1, $2, 'Stolen', 'cash', 'USD')")
        .bind(AccountId::generate().as_uuid())
        .bind(bob.as_uuid())
        .execute(&mut *tx)
        .await;
    assert!(
        forged.is_err(),
        "inserting a row for another user must fail"
    );
    tx.rollback().await?;
    let mut tx = begin_as(&pool, alice).await?;
    let renamed = sqlx::query("UPDATE accounts SET name = 'Mine now' WHERE id = $1")
        .bind(bobs.as_uuid())
        .execute(&mut *tx)
        .await?;
    let drained = sqlx::query("UPDATE account_balances SET posted_minor = 0 WHERE account_id = $1")
        .bind(bobs.as_uuid())
        .execute(&mut *tx)
        .await?;
    assert_eq!((renamed.rows_affected(), drained.rows_affected()), (0, 0));
    tx.commit().await?;
    assert_eq!(
        accounts::get(&pool, bob, bobs)
            .await?
            .map(|a| a.balance.amount_minor()),
        Some(5_000)
    );
    assert!(accounts::get(&pool, alice, bobs).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_login_role_with_only_the_application_roles_rights_runs_the_store() -> anyhow::Result<()>
{
    let (url, owner) = fresh_database().await?;
    // A separate DATABASE_URL for the processes: a login role that is a member of djinn_app
    // and nothing else.
    let login = format!("djinn_test_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {login} LOGIN IN ROLE {APP_ROLE}"
    )))
    .execute(&owner)
    .await?;
    let (scheme_and_user, host_and_db) = url.split_once('@').expect("a URL with a user");
    let (scheme, _) = scheme_and_user.split_once("://").expect("a scheme");
    let app_url = format!("{scheme}://{login}@{host_and_db}");
    let app = djinn_activities::db::connect(&app_url, 2).await?;

    let alice = users::ensure_user(&app, "alice").await?;
    let account = open(&app, alice, 2_500).await?;
    assert_eq!(
        accounts::get(&app, alice, account)
            .await?
            .map(|a| a.balance.amount_minor()),
        Some(2_500)
    );
    // The ledger steps and the registration are functions that run as djinn_app: the login
    // role may call them.
    let destination = open(&app, alice, 0).await?;
    let request = usd_transfer(account, destination, 1)?;
    let registered = operations::register_transfer(
        &app,
        OperationId::generate(),
        alice,
        &IdempotencyKey::parse("login")?,
        "wf-login",
        &request,
    )
    .await?;
    assert!(
        matches!(registered, Registration::Created(_)),
        "{registered:?}"
    );
    let (transfer, _) = reserve(&app, alice, account, destination, 500).await?;
    assert_eq!(
        ledger::post_transfer(&app, transfer, alice).await?,
        Applied::Now
    );
    let at_once = usd_transfer(account, destination, 200)?;
    assert_eq!(
        ledger::reserve_and_post_transfer(
            &app,
            OperationId::generate(),
            alice,
            "at-once",
            "wf",
            &at_once
        )
        .await?,
        Applied::Now
    );
    assert_eq!(
        accounts::get(&app, alice, destination)
            .await?
            .map(|a| a.balance.amount_minor()),
        Some(700)
    );
    let direct: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&app)
        .await;
    assert_eq!(
        direct?, 0,
        "outside a user's transaction the login role sees nothing"
    );
    let ddl = sqlx::query("DROP TABLE postings").execute(&app).await;
    assert!(
        ddl.is_err(),
        "the application role cannot change the schema"
    );
    app.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP OWNED BY {login}")))
        .execute(&owner)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE {login}")))
        .execute(&owner)
        .await?;
    Ok(())
}

#[tokio::test]
async fn an_accounts_floor_and_limit_cannot_be_changed_by_the_application() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let alice = users::ensure_user(&pool, "alice").await?;
    let own = open(&pool, alice, 1_000).await?;
    for widen in [
        "UPDATE account_balances SET floor_minor = -1000000 WHERE account_id = $1",
        "UPDATE accounts SET overdraft_limit_minor = 1000000 WHERE id = $1",
        "UPDATE accounts SET currency = 'EUR' WHERE id = $1",
    ] {
        let mut tx = begin_as(&pool, alice).await?;
        let error = sqlx::query(widen)
            .bind(own.as_uuid())
            .execute(&mut *tx)
            .await
            .expect_err(widen);
        let code = error
            .as_database_error()
            .and_then(|e| e.code())
            .unwrap_or_default();
        assert_eq!(code, "42501", "permission denied for {widen}: {error}");
    }
    // What legitimately changes still can.
    let mut tx = begin_as(&pool, alice).await?;
    let renamed = sqlx::query("UPDATE accounts SET name = 'Renamed' WHERE id = $1")
        .bind(own.as_uuid())
        .execute(&mut *tx)
        .await?;
    assert_eq!(renamed.rows_affected(), 1);
    tx.rollback().await?;
    Ok(())
}

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
        Some(RejectionCode::NotReserved),
        "Alice cannot post Bob's transfer"
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
    let forged = sqlx::query(
        "INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
         VALUES (gen_random_uuid(), $1, $2, $3, 1, 'USD')",
    )
    .bind(transfer.as_uuid())
    .bind(bob.as_uuid())
    .bind(spare.as_uuid())
    .execute(&pool)
    .await
    .expect_err("a posting owned by someone else than its transaction's owner");
    assert_eq!(
        forged.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23503"),
        "{forged}"
    );
    Ok(())
}
