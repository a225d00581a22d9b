//! Transfers that wait for their owner's approval: at or over the threshold a transfer is
//! reserved (its amount leaves the available balance, not the balance) and AWAITING_APPROVAL;
//! approving posts it once, cancelling or the deadline voids it and releases the money, and a
//! decision about a transfer that awaits none, or another user's, is refused and changes
//! nothing. Everything over the real stack: GraphQL, the Temporal dev server, PostgreSQL.

use djinn_domain::{RejectionCode, TransferStatus, UserId};
use djinn_graphql::schema::ids;
use djinn_temporal::decisions::{self, Answer, Decide};
use djinn_tests::ledger_steps::postings;
use djinn_tests::{Client, TestApp, spawn_app, spawn_app_with};
use djinn_workflows::TransferWorkflow;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use temporalio_client::WorkflowCancelOptions;

/// A transfer from `from` to `to`, once it left PENDING.
async fn transfer(alice: &Client, key: &str, from: &str, to: &str, amount: &str) -> Value {
    let created = alice
        .create_transfer(key, from, to, amount, "USD")
        .await
        .expect("an answer");
    let id = created["transfer"]["id"].as_str().expect("a transfer");
    alice.settled_transfer(id).await.expect("settled");
    alice.transfer(id).await.expect("the transfer")
}

/// Polls the transfer until its status is `status`.
async fn until_status(client: &Client, id: &str, status: &str) -> anyhow::Result<Value> {
    let started = Instant::now();
    loop {
        let transfer = client.transfer(id).await?;
        if transfer["status"] == status {
            return Ok(transfer);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "{id} is {transfer}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn code(payload: &Value) -> &str {
    payload["userErrors"][0]["code"].as_str().unwrap_or("none")
}

async fn workflow_id(app: &TestApp, transfer: &Value) -> anyhow::Result<(String, UserId)> {
    let id = ids::decode(transfer["id"].as_str().unwrap_or_default())
        .expect("a transfer id")
        .1;
    let (workflow_id, user): (String, uuid::Uuid) =
        sqlx::query_as("SELECT workflow_id, user_id FROM operations WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await?;
    Ok((workflow_id, UserId::from_uuid(user)))
}

#[tokio::test]
async fn a_transfer_over_the_threshold_waits_and_is_approved_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let set = alice.set_approval_threshold(Some("50.00"), "USD").await?;
    assert_eq!(set["userErrors"], json!([]), "{set}");

    let below = transfer(&alice, "below", &checking, &savings, "49.99").await;
    assert_eq!(below["status"], "POSTED", "{below}");
    assert!(below["approvalDeadline"].is_null() && below["approvedAt"].is_null());

    let waiting = transfer(&alice, "at", &checking, &savings, "50.00").await;
    assert_eq!(waiting["status"], "AWAITING_APPROVAL", "{waiting}");
    let deadline = chrono::DateTime::parse_from_rfc3339(
        waiting["approvalDeadline"].as_str().expect("a deadline"),
    )?;
    let ahead = deadline.signed_duration_since(chrono::Utc::now());
    assert!(
        ahead > chrono::Duration::hours(23) && ahead <= chrono::Duration::hours(24),
        "the default deadline is a day: {ahead}"
    );
    // Reserved: gone from the available balance, still in the balance.
    assert_eq!(
        alice.balances(&checking).await?,
        ("50.01".to_owned(), "0.01".to_owned())
    );
    let id = waiting["id"].as_str().expect("an id");

    // Another user's approval finds no such transfer, and changes nothing.
    let bobs = app.client("bob").approve_transfer(id).await?;
    assert_eq!(code(&bobs), "TRANSFER_NOT_FOUND", "{bobs}");
    assert_eq!(alice.transfer(id).await?["status"], "AWAITING_APPROVAL");

    let approved = alice.approve_transfer(id).await?;
    assert_eq!(approved["userErrors"], json!([]), "{approved}");
    assert_eq!(approved["transfer"]["status"], "POSTED", "{approved}");
    assert!(approved["transfer"]["approvedAt"].is_string());
    assert_eq!(
        alice.balances(&checking).await?,
        ("0.01".to_owned(), "0.01".to_owned())
    );
    let moved = postings(&app.db).await?;

    // Approving again answers the same transfer and posts nothing; cancelling it is refused.
    let again = alice.approve_transfer(id).await?;
    assert_eq!(again, approved);
    assert_eq!(postings(&app.db).await?, moved);
    let cancelled = alice.cancel_transfer(id, Some("too late")).await?;
    assert_eq!(code(&cancelled), "NOT_AWAITING_APPROVAL", "{cancelled}");
    // A transfer that never waited cannot be approved either.
    let never = alice
        .approve_transfer(below["id"].as_str().unwrap_or(""))
        .await?;
    assert_eq!(code(&never), "NOT_AWAITING_APPROVAL", "{never}");
    assert_eq!(postings(&app.db).await?, moved);
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn cancelling_or_the_deadline_voids_and_releases_the_money() -> anyhow::Result<()> {
    let app = spawn_app_with(|config| config.approval_timeout = Duration::from_secs(5)).await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    alice.set_approval_threshold(Some("10.00"), "USD").await?;

    let waiting = transfer(&alice, "cancel-me", &checking, &savings, "60.00").await;
    let id = waiting["id"].as_str().expect("an id");
    let cancelled = alice.cancel_transfer(id, Some("changed my mind")).await?;
    assert_eq!(cancelled["userErrors"], json!([]), "{cancelled}");
    assert_eq!(cancelled["transfer"]["status"], "VOIDED");
    assert_eq!(cancelled["transfer"]["voidReason"], "CANCELLED");
    assert_eq!(cancelled["transfer"]["cancelReason"], "changed my mind");
    assert_eq!(
        alice.balances(&checking).await?,
        ("100.00".to_owned(), "100.00".to_owned())
    );
    // Cancelled is cancelled: again answers the same, approving is refused.
    assert_eq!(alice.cancel_transfer(id, None).await?, cancelled);
    let late = alice.approve_transfer(id).await?;
    assert_eq!(code(&late), "NOT_AWAITING_APPROVAL", "{late}");

    let expiring = transfer(&alice, "expire-me", &checking, &savings, "60.00").await;
    assert_eq!(expiring["status"], "AWAITING_APPROVAL");
    let id = expiring["id"].as_str().expect("an id");
    let expired = until_status(&alice, id, "VOIDED").await?;
    assert_eq!(expired["voidReason"], "APPROVAL_EXPIRED", "{expired}");
    assert_eq!(
        alice.balances(&checking).await?,
        ("100.00".to_owned(), "100.00".to_owned())
    );
    let after = alice.approve_transfer(id).await?;
    assert_eq!(code(&after), "NOT_AWAITING_APPROVAL", "{after}");

    // Cleared, the threshold makes nothing wait.
    alice.set_approval_threshold(None, "USD").await?;
    let now = transfer(&alice, "no-threshold", &checking, &savings, "60.00").await;
    assert_eq!(now["status"], "POSTED", "{now}");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn the_validator_refuses_others_and_answers_a_decision_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    alice.set_approval_threshold(Some("1.00"), "USD").await?;
    let waiting = transfer(&alice, "direct", &checking, &savings, "5.00").await;
    let (workflow_id, owner) = workflow_id(&app, &waiting).await?;

    // Past the API, straight to the run: a stranger's decision is refused by the validator.
    let stranger = decisions::send(
        &app.temporal,
        &workflow_id,
        Decide::Approve,
        UserId::generate(),
        None,
    )
    .await?;
    assert_eq!(stranger, Answer::Refused(RejectionCode::TransferNotFound));
    let id = waiting["id"].as_str().expect("an id");
    assert_eq!(alice.transfer(id).await?["status"], "AWAITING_APPROVAL");

    let send = |decide| decisions::send(&app.temporal, &workflow_id, decide, owner, None);
    assert_eq!(
        send(Decide::Approve).await?,
        Answer::Settled(TransferStatus::Posted)
    );
    // The run has ended: nothing more reaches it.
    assert_eq!(send(Decide::Cancel).await?, Answer::RunEnded);
    assert_eq!(alice.transfer(id).await?["status"], "POSTED");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_cancelled_run_still_releases_what_it_reserved() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    alice.set_approval_threshold(Some("1.00"), "USD").await?;
    let waiting = transfer(&alice, "staff-cancels", &checking, &savings, "70.00").await;
    let (workflow_id, _) = workflow_id(&app, &waiting).await?;

    app.temporal
        .get_workflow_handle::<TransferWorkflow>(workflow_id)
        .cancel(WorkflowCancelOptions::default())
        .await?;
    let id = waiting["id"].as_str().expect("an id");
    let voided = until_status(&alice, id, "VOIDED").await?;
    assert_eq!(voided["voidReason"], "CANCELLED", "{voided}");
    assert_eq!(
        alice.balances(&checking).await?,
        ("100.00".to_owned(), "100.00".to_owned())
    );
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn bad_thresholds_and_decisions_are_user_errors_that_change_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    for (input, expected) in [
        (
            json!({"amount": {"amount": "-1.00", "currency": "USD"}}),
            "INVALID_AMOUNT",
        ),
        (
            json!({"amount": {"amount": "0", "currency": "USD"}}),
            "INVALID_AMOUNT",
        ),
        (
            json!({"amount": {"amount": "1.001", "currency": "USD"}}),
            "INVALID_AMOUNT",
        ),
        (
            json!({"amount": {"amount": "10000000000001.00", "currency": "USD"}}),
            "INVALID_AMOUNT",
        ),
        (
            json!({"amount": {"amount": "1.00", "currency": "XXX"}}),
            "INVALID_CURRENCY",
        ),
        (
            json!({"amount": null, "currency": "nope"}),
            "INVALID_CURRENCY",
        ),
    ] {
        let refused = alice.set_approval_threshold_raw(input.clone()).await?;
        assert_eq!(code(&refused), expected, "{input}: {refused}");
    }
    let thresholds: i64 = sqlx::query_scalar("SELECT count(*) FROM approval_thresholds")
        .fetch_one(&app.db)
        .await?;
    assert_eq!(thresholds, 0, "nothing was set");

    let not_an_id = alice.approve_transfer("not-an-id").await?;
    assert_eq!(code(&not_an_id), "TRANSFER_NOT_FOUND");
    let account_id = alice.cancel_transfer(&checking, None).await?;
    assert_eq!(code(&account_id), "TRANSFER_NOT_FOUND");

    alice.set_approval_threshold(Some("1.00"), "USD").await?;
    let waiting = transfer(&alice, "w", &checking, &savings, "2.00").await;
    let id = waiting["id"].as_str().expect("an id");
    let control = alice.cancel_transfer(id, Some("bad\u{7}reason")).await?;
    assert_eq!(code(&control), RejectionCode::InvalidDescription.as_str());
    assert_eq!(alice.transfer(id).await?["status"], "AWAITING_APPROVAL");
    app.assert_ledger_consistent().await
}

/// The ledger keeps the rule whoever calls it: a transfer registered with a deadline cannot be
/// written posted at once (a run started past the API, or a worker of the code before
/// approvals), only reserved, which marks it awaiting approval.
#[tokio::test]
async fn the_ledger_refuses_to_post_at_once_a_transfer_that_waits() -> anyhow::Result<()> {
    use djinn_domain::{Currency, IdempotencyKey, Money, OperationId, TransferRequest};
    use djinn_store::operations::{self, Registration};
    use djinn_tests::ledger_steps::rejection;

    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    alice.set_approval_threshold(Some("1.00"), "USD").await?;
    let user = djinn_store::users::ensure_user(&app.db, "alice").await?;
    let [from, to] = [&checking, &savings].map(|id| djinn_tests::account_id(id));
    let request = TransferRequest::new(
        from,
        to,
        Money::from_minor(500, Currency::parse("USD")?),
        None,
    )?;
    let key = IdempotencyKey::parse("past-the-api")?;
    let registered = operations::register_transfer(
        &app.db,
        OperationId::generate(),
        user,
        &key,
        "wf-past-the-api",
        &request,
        Duration::from_secs(60),
    )
    .await?;
    let Registration::Created(view) = registered else {
        anyhow::bail!("not registered: {registered:?}");
    };
    assert!(view.approval_deadline.is_some());
    let id = view.operation.id;
    let moved = postings(&app.db).await?;

    let at_once =
        djinn_ledger::reserve_and_post_transfer(&app.db, id, user, "past-the-api", "wf", &request)
            .await;
    assert_eq!(rejection(at_once), Some(RejectionCode::ApprovalRequired));
    assert_eq!(postings(&app.db).await?, moved, "nothing was written");

    djinn_ledger::reserve_transfer(&app.db, id, user, "past-the-api", "wf", &request).await?;
    let status: String = sqlx::query_scalar("SELECT status FROM operations WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_one(&app.db)
        .await?;
    assert_eq!(status, "awaiting_approval");
    assert_eq!(alice.balances(&checking).await?.1, "95.00");

    // The sweeper leaves it to its run until its deadline has passed.
    let overdue = |quiet| djinn_store::sweeping::overdue(&app.db, quiet, None, 100);
    let swept = |found: Vec<djinn_store::sweeping::Overdue>| found.iter().any(|o| o.id == id);
    assert!(
        !swept(overdue(Duration::ZERO).await?),
        "waiting, as it should"
    );
    sqlx::query("UPDATE transfers SET approval_deadline = now() - interval '1 minute' WHERE operation_id = $1")
        .bind(id.as_uuid())
        .execute(&app.db)
        .await?;
    assert!(
        swept(overdue(Duration::ZERO).await?),
        "past its deadline: the sweeper asks"
    );
    app.assert_ledger_consistent().await
}
