//! The ledger writes under concurrency, against a real PostgreSQL: transfers in opposite
//! directions between the same accounts never deadlock, whether they run at once or queue on
//! one balance row. Both ways of taking money are run (`Step`).

use djinn_domain::{OperationId, TransferRequest};
use djinn_ledger::Applied;
use djinn_store::users;
use djinn_tests::fresh_database;
use djinn_tests::ledger_steps::{Step, account, balances, postings, usd};

/// Each ledger step locks both balance rows. Taken in "source first" order, a transfer A -> B
/// and one B -> A running together would each hold one row and wait for the other; PostgreSQL
/// would then abort one of them as a deadlock. Taken in account-id order, all of them pass.
#[tokio::test]
async fn transfers_both_ways_at_once_never_deadlock() -> anyhow::Result<()> {
    const EACH_WAY: usize = 20;
    for step in Step::BOTH {
        let (_, pool) = fresh_database().await?;
        let user = users::ensure_user(&pool, "alice").await?;
        let (a, b) = (
            account(&pool, user, 10_000).await?,
            account(&pool, user, 10_000).await?,
        );
        let before = balances(&pool).await?;
        let mut transfers = tokio::task::JoinSet::new();
        for i in 0..2 * EACH_WAY {
            let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
            let pool = pool.clone();
            transfers.spawn(async move {
                let request = TransferRequest::new(from, to, usd(100), None)?;
                let key = format!("both-ways-{i}");
                step.complete(&pool, OperationId::generate(), user, &key, &request)
                    .await
                    .map_err(anyhow::Error::from)
            });
        }
        while let Some(outcome) = transfers.join_next().await {
            assert_eq!(outcome??, Applied::Now, "{step:?}");
        }
        // As many went each way, so every balance is back where it was, with nothing pending.
        assert_eq!(balances(&pool).await?, before, "{step:?}");
        // Two opening entries and every transfer, two legs each.
        assert_eq!(
            postings(&pool).await?,
            2 * 2 + 2 * 2 * EACH_WAY as i64,
            "{step:?}"
        );
    }
    Ok(())
}

/// The deterministic form of the test above. A side transaction holds the lower account's
/// balance row while a reservation in each direction starts; once both wait, it lets go. Taken
/// in account-id order, both reservations wait for that same row and then pass one after the
/// other. Taken source first, the reservation from the higher account would already hold its
/// own row, and the two would deadlock.
#[tokio::test]
async fn opposite_reservations_queued_on_one_row_never_deadlock() -> anyhow::Result<()> {
    for step in Step::BOTH {
        queued_on_one_row(step).await?;
    }
    Ok(())
}

async fn queued_on_one_row(step: Step) -> anyhow::Result<()> {
    let (_, pool) = fresh_database().await?;
    let user = users::ensure_user(&pool, "alice").await?;
    let (a, b) = (
        account(&pool, user, 10_000).await?,
        account(&pool, user, 10_000).await?,
    );
    let (low, high) = if a < b { (a, b) } else { (b, a) };

    let mut side = pool.begin().await?;
    sqlx::query("SELECT 1 FROM account_balances WHERE account_id = $1 FOR UPDATE")
        .bind(low.as_uuid())
        .execute(&mut *side)
        .await?;
    let mut reservations = tokio::task::JoinSet::new();
    for (i, (from, to)) in [(low, high), (high, low)].into_iter().enumerate() {
        let pool = pool.clone();
        reservations.spawn(async move {
            let request = TransferRequest::new(from, to, usd(100), None)?;
            let key = format!("queued-{i}");
            step.take(&pool, OperationId::generate(), user, &key, &request)
                .await
                .map_err(anyhow::Error::from)
        });
    }
    // Both must be waiting on a lock before the row is let go (well inside their 2 s lock
    // timeout).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await?;
        if waiting >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "both {step:?} steps wait"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    side.commit().await?;
    while let Some(outcome) = reservations.join_next().await {
        assert_eq!(outcome??, Applied::Now);
    }
    Ok(())
}
