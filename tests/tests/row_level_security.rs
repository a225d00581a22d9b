//! Row-level security: under the application role, the database itself hides every other
//! user's rows, whatever the query asks for.

use djinn_domain::{AccountId, IdempotencyKey, OperationId, UserId};
use djinn_ledger::{self as ledger, Applied};
use djinn_store::operations::{self, Registration};
use djinn_store::session::{APP_ROLE, begin_as};
use djinn_store::{accounts, users};
use djinn_tests::fresh_database;
use djinn_tests::ledger_steps::{open, register_transfer, reserve, usd_transfer};
use sqlx::PgPool;

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
    // transaction with its two postings, the operation that registered it. Nothing of Bob's.
    assert_eq!(
        visible_rows(&pool, Some(alice)).await?,
        vec![1, 2, 2, 1, 2, 1, 0]
    );
    assert_eq!(
        visible_rows(&pool, Some(bob)).await?,
        vec![1, 3, 3, 1, 2, 2, 0]
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
    let app = djinn_store::db::connect(&app_url, 2).await?;

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
        djinn_graphql::DEFAULT_APPROVAL_TIMEOUT,
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
    let at_once_id = OperationId::generate();
    register_transfer(&app, alice, at_once_id, &at_once).await?;
    assert_eq!(
        ledger::reserve_and_post_transfer(&app, at_once_id, alice, "at-once", "wf", &at_once)
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
