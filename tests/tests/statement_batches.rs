//! The ledger's import step (`ledger_import_batch_for`) against a real PostgreSQL: a batch is
//! written once whoever retries it, only in order, and whole or not at all; its posted lines are
//! one balanced entry against the clearing account, each leg the sum of its lines with its
//! running balance; the postings trigger refuses an import's legs that no line registered; and
//! the lines' own check refuses a line that joins a written leg or leaves its import's account.

use chrono::NaiveDate;
use djinn_domain::{Currency, Money, StatementImportId, UserId};
use djinn_ledger::StoreError;
use djinn_ledger::import::{Progress, Written, write_lines};
use djinn_statements::StatementLine;
use djinn_store::imports::{self, NewImport, Registered};
use djinn_store::session::begin_as;
use djinn_store::{PgPool, users};
use djinn_tests::fresh_database;
use djinn_tests::ledger_steps::account;

fn line(id: &str, day: u32, minor: i64) -> StatementLine {
    StatementLine {
        bank_id: id.to_owned(),
        booked_on: NaiveDate::from_ymd_opt(2026, 11, day).expect("a day"),
        amount: Money::from_minor(minor, Currency::parse("USD").expect("USD")),
        description: Some(format!("line {id}")),
        source_line: 1,
    }
}

/// The database's message for a refused statement, if it was refused.
fn refusal<T>(result: Result<T, sqlx::Error>) -> Option<String> {
    result
        .err()
        .and_then(|e| e.as_database_error().map(|d| d.message().to_owned()))
}

async fn registered(pool: &PgPool, user: UserId, total: i32) -> anyhow::Result<StatementImportId> {
    let account = account(pool, user, 1_000).await?;
    let new = NewImport {
        id: StatementImportId::generate(),
        account,
        idempotency_key: "batches".to_owned(),
        format: "csv",
        csv_profile: None,
        content: b"Date,Description,Amount\n".to_vec(),
        sha256: [0; 32],
        checked: None,
    };
    let Registered::Created(import) = imports::register(pool, user, &new).await? else {
        anyhow::bail!("not registered");
    };
    let id = StatementImportId::from_uuid(import.id);
    let checked = imports::Checked {
        lines_total: total,
        opening_minor: None,
        closing_minor: None,
        closing_on: None,
    };
    imports::record_checked(pool, user, id, checked).await?;
    Ok(id)
}

#[tokio::test]
async fn a_batch_is_written_once_in_order_and_whole() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let import = registered(&pool, user, 4).await?;
    let first = [line("a", 1, -300), line("b", 2, 200)];

    let written = write_lines(&pool, user, import, 0, &first).await?;
    let done = Progress {
        lines_done: 2,
        lines_matched: 0,
        lines_posted: 2,
    };
    assert_eq!(written, Written::Now(done));
    // A retry of the same batch (its answer was lost) writes nothing more.
    assert_eq!(
        write_lines(&pool, user, import, 0, &first).await?,
        Written::Already(done)
    );
    // A batch that skips one is refused: the step's invariant, not a user's error.
    let skipped = write_lines(&pool, user, import, 3, &[line("d", 4, 5)]).await;
    assert!(
        matches!(skipped, Err(StoreError::Invariant(_))),
        "{skipped:?}"
    );

    // A batch taking the account below zero (it has no overdraft) is refused whole.
    let sinking = [line("c", 3, 50), line("d", 4, -5_000)];
    let refused = write_lines(&pool, user, import, 2, &sinking).await;
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );
    let lines: i64 = sqlx::query_scalar("SELECT count(*) FROM statement_lines")
        .fetch_one(&pool)
        .await?;
    assert_eq!(lines, 2, "nothing of the refused batch stays");

    // The batch's posted lines: one entry, whose money in and money out are each a leg (the sum
    // of the lines that point at it) with its running balance in the account's history.
    let history: Vec<i64> = sqlx::query_scalar(
        "SELECT e.balance_after_minor FROM account_entries e JOIN accounts a ON a.id = e.account_id
          WHERE a.kind = 'checking' ORDER BY e.position",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(history, [1_000, 1_200, 900]);
    let clearing: i64 = sqlx::query_scalar(
        "SELECT b.posted_minor FROM account_balances b JOIN accounts a ON a.id = b.account_id
          WHERE a.kind = 'clearing'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(clearing, 100);
    let violations = djinn_store::verify::ledger_violations(&pool).await?;
    assert!(violations.is_empty(), "{violations:?}");
    Ok(())
}

#[tokio::test]
async fn a_batch_keeps_the_first_line_of_each_bank_id_the_account_lacks() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let import = registered(&pool, user, 5).await?;
    write_lines(
        &pool,
        user,
        import,
        0,
        &[line("a", 1, -300), line("b", 2, 200)],
    )
    .await?;

    // "b" the account has; "c" the batch repeats: the unique index refuses the batch as it
    // comes, and it is written again without them.
    let overlapping = [line("b", 2, 200), line("c", 3, 50), line("c", 3, 70)];
    let written = write_lines(&pool, user, import, 2, &overlapping).await?;
    let done = Progress {
        lines_done: 5,
        lines_matched: 0,
        lines_posted: 3,
    };
    assert_eq!(written, Written::Now(done));
    let lines: Vec<(String, i64)> =
        sqlx::query_as("SELECT bank_id, amount_minor FROM statement_lines ORDER BY bank_id")
            .fetch_all(&pool)
            .await?;
    let lines: Vec<(&str, i64)> = lines
        .iter()
        .map(|(id, minor)| (id.as_str(), *minor))
        .collect();
    assert_eq!(lines, [("a", -300), ("b", 200), ("c", 50)]);
    let balance: i64 = sqlx::query_scalar(
        "SELECT b.posted_minor FROM account_balances b JOIN accounts a ON a.id = b.account_id
          WHERE a.kind = 'checking'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(balance, 1_000 - 300 + 200 + 50);
    let violations = djinn_store::verify::ledger_violations(&pool).await?;
    assert!(violations.is_empty(), "{violations:?}");
    Ok(())
}

#[tokio::test]
async fn an_imports_legs_must_be_what_its_line_says() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "bob").await?;
    let import = registered(&pool, user, 1).await?;
    write_lines(&pool, user, import, 0, &[line("a", 1, 100)]).await?;
    let (entry, account): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "SELECT p.transaction_id, l.account_id FROM statement_lines l
           JOIN postings p ON p.id = l.posting_id",
    )
    .fetch_one(&pool)
    .await?;
    // Another leg for the same entry, with another amount, written past the step: refused.
    let forged = sqlx::query(
        "INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
         VALUES ($1, $2, $3, $4, 999, 'USD')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(entry)
    .bind(user.as_uuid())
    .bind(account)
    .execute(&pool)
    .await;
    assert_eq!(refusal(forged).as_deref(), Some("not_registered"));
    Ok(())
}

#[tokio::test]
async fn a_line_cannot_join_a_written_leg_or_leave_its_account() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "carol").await?;
    let import = registered(&pool, user, 1).await?;
    write_lines(&pool, user, import, 0, &[line("a", 1, 100)]).await?;
    let other = account(&pool, user, 0).await?;
    let refused = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            refusal(
                sqlx::query(sql)
                    .bind(uuid::Uuid::now_v7())
                    .execute(&pool)
                    .await,
            )
        }
    };
    // A line added to the written leg: the leg would no longer be the sum of its lines.
    let joined = refused(
        "INSERT INTO statement_lines (id, user_id, account_id, import_id, bank_id, booked_on,
                                      amount_minor, currency, posting_id)
         SELECT $1, user_id, account_id, import_id, 'late', booked_on, 5, currency, posting_id
           FROM statement_lines",
    )
    .await;
    assert_eq!(joined.as_deref(), Some("not_registered"));
    // A line of the import on another account than the import's.
    let moved = sqlx::query(
        "INSERT INTO statement_lines (id, user_id, account_id, import_id, bank_id, booked_on,
                                      amount_minor, currency)
         SELECT $1, user_id, $2, import_id, 'elsewhere', booked_on, 5, currency
           FROM statement_lines",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(other.as_uuid())
    .execute(&pool)
    .await;
    assert_eq!(refusal(moved).as_deref(), Some("not_registered"));
    // A line claiming to clear an entry that is not a posted Djinn entry of its amount.
    let cleared = refused(
        "INSERT INTO statement_lines (id, user_id, account_id, import_id, bank_id, booked_on,
                                      amount_minor, currency, posting_id, matched)
         SELECT $1, user_id, account_id, import_id, 'claims', booked_on, 100, currency,
                posting_id, true
           FROM statement_lines",
    )
    .await;
    assert_eq!(cleared.as_deref(), Some("not_registered"));
    let violations = djinn_store::verify::ledger_violations(&pool).await?;
    assert!(violations.is_empty(), "{violations:?}");
    Ok(())
}

#[tokio::test]
async fn a_leg_is_checked_against_its_lines_kept_sum() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "frank").await?;
    let import = registered(&pool, user, 3).await?;
    let lines = [line("a", 1, 100), line("b", 2, 250), line("c", 3, -40)];
    write_lines(&pool, user, import, 0, &lines).await?;
    // Each leg's sum is kept as its lines are written: (lines, sum, in, out).
    let sums: Vec<(i32, i64, i32, i32)> = sqlx::query_as(
        "SELECT lines, amount_minor, positive, negative FROM import_leg_sums ORDER BY amount_minor",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(sums, [(1, -40, 0, 1), (2, 350, 2, 0)]);
    // A kept sum edited by hand is reported by the ledger's verification.
    let edit = |sql: &'static str| sqlx::query(sql).execute(&pool);
    edit("UPDATE import_leg_sums SET amount_minor = 351 WHERE amount_minor = 350").await?;
    let violations = djinn_store::verify::ledger_violations(&pool).await?;
    let found: Vec<&str> = violations.iter().map(|v| v.violation.as_str()).collect();
    assert_eq!(found, ["import_leg_sum"], "{violations:?}");
    edit("UPDATE import_leg_sums SET amount_minor = 350 WHERE amount_minor = 351").await?;
    assert!(
        djinn_store::verify::ledger_violations(&pool)
            .await?
            .is_empty()
    );
    // And a leg whose kept sum is gone.
    edit("DELETE FROM import_leg_sums WHERE amount_minor = -40").await?;
    let violations = djinn_store::verify::ledger_violations(&pool).await?;
    let found: Vec<&str> = violations.iter().map(|v| v.violation.as_str()).collect();
    assert_eq!(found, ["import_leg_sum"], "{violations:?}");

    // Lines of both signs for a leg not written yet, then the leg at their sum: refused, as a
    // leg is money in or money out. The same leg at another sum: refused.
    let (account, import_uuid): (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT account_id, import_id FROM statement_lines LIMIT 1")
            .fetch_one(&pool)
            .await?;
    let (entry, leg) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    sqlx::query(
        "INSERT INTO statement_lines (id, user_id, account_id, import_id, bank_id, booked_on,
                                      amount_minor, currency, posting_id)
         VALUES (gen_random_uuid(), $1, $2, $3, 'x', '2026-11-04', 7, 'USD', $4),
                (gen_random_uuid(), $1, $2, $3, 'y', '2026-11-04', -2, 'USD', $4)",
    )
    .bind(user.as_uuid())
    .bind(account)
    .bind(import_uuid)
    .bind(leg)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO transactions (id, user_id, kind, status, idempotency_key)
         VALUES ($1, $2, 'import', 'posted', 'forged')",
    )
    .bind(entry)
    .bind(user.as_uuid())
    .execute(&pool)
    .await?;
    for amount in [5_i64, 6] {
        let forged = sqlx::query(
            "INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
             VALUES ($1, $2, $3, $4, $5, 'USD')",
        )
        .bind(leg)
        .bind(entry)
        .bind(user.as_uuid())
        .bind(account)
        .bind(amount)
        .execute(&pool)
        .await;
        assert_eq!(
            refusal(forged).as_deref(),
            Some("not_registered"),
            "{amount}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_users_lines_are_hidden_from_every_other_user() -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let dave = users::ensure_user(&pool, "dave").await?;
    let erin = users::ensure_user(&pool, "erin").await?;
    let import = registered(&pool, dave, 2).await?;
    write_lines(
        &pool,
        dave,
        import,
        0,
        &[line("a", 1, 100), line("b", 2, -40)],
    )
    .await?;
    let visible = |user: UserId| {
        let pool = pool.clone();
        async move {
            let mut tx = begin_as(&pool, user).await?;
            let lines: i64 = sqlx::query_scalar("SELECT count(*) FROM statement_lines")
                .fetch_one(&mut *tx)
                .await?;
            tx.rollback().await?;
            anyhow::Ok(lines)
        }
    };
    assert_eq!(visible(dave).await?, 2);
    assert_eq!(visible(erin).await?, 0);
    // Nor may another user write a line in the owner's name.
    let mut tx = begin_as(&pool, erin).await?;
    let forged = sqlx::query(
        "INSERT INTO statement_lines (id, user_id, account_id, import_id, bank_id, booked_on,
                                      amount_minor, currency)
         VALUES ($1, $2, $3, $4, 'forged', '2026-11-03', 5, 'USD')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(dave.as_uuid())
    .bind(uuid::Uuid::now_v7())
    .bind(import.as_uuid())
    .execute(&mut *tx)
    .await;
    assert!(
        refusal(forged)
            .as_deref()
            .is_some_and(|m| m.contains("row-level security")),
        "a line in another user's name must be refused by the policy"
    );
    Ok(())
}
