//! A worker killed in the middle of a transfer: the workflow resumes on a new worker and the
//! ledger ends with exactly one posting pair. The chaos switch aborts the worker process right
//! after a ledger step committed and before Temporal heard of it: the step runs again on the
//! new worker and must change nothing.

use djinn_tests::{WorkerThread, spawn_api};
use std::time::Duration;

async fn crash_after(step: &str, key: &str) -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let opener = WorkerThread::start(&app.database_url, &app.task_queue);
    let from = alice
        .open_account("Checking", "USD", Some("100.00"))
        .await?;
    let to = alice.open_account("Savings", "USD", None).await?;
    opener.stop();

    let mut doomed = app.worker_process(&[(djinn_activities::chaos::CHAOS_ENV, step)])?;
    let payload = alice
        .create_transfer(key, &from, &to, "25.00", "USD")
        .await?;
    let id = payload["transfer"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let status = tokio::time::timeout(Duration::from_secs(60), doomed.wait()).await??;
    assert!(!status.success(), "the worker must have died mid-transfer");
    let transaction = djinn_graphql::schema::ids::decode(&id)
        .expect("a transfer id")
        .1;
    let committed: String = sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1")
        .bind(transaction)
        .fetch_one(&app.db)
        .await?;
    assert_eq!(committed, "posted", "the step committed before the crash");

    let _survivor = WorkerThread::start(&app.database_url, &app.task_queue);
    let settled = alice.settled_transfer(&id).await?;
    assert_eq!(settled["status"], "POSTED");
    let postings: i64 =
        sqlx::query_scalar("SELECT count(*) FROM postings WHERE transaction_id = $1")
            .bind(transaction)
            .fetch_one(&app.db)
            .await?;
    assert_eq!(postings, 2, "exactly one posting pair");
    assert_eq!(app.balance_minor(&from).await?, (7_500, 0));
    assert_eq!(app.balance_minor(&to).await?, (2_500, 0));
    app.assert_ledger_consistent().await?;
    Ok(())
}

#[tokio::test]
async fn a_worker_killed_after_the_money_moved_does_not_move_it_twice() -> anyhow::Result<()> {
    crash_after("reserve_and_post_transfer", "crash-moved").await
}
