//! Recurring transfers: a rule becomes a Temporal Schedule whose runs each register that day's
//! transfer and run it. A scheduled time triggered twice pays once; a run without funds is kept
//! on the rule with its reason; a monthly rule on the 31st runs on the last day of a shorter
//! month; the day is the rule's local day across daylight-saving changes.

use chrono::{DateTime, Utc};
use djinn_domain::{RecurringTransferId, TransferStatus};
use djinn_store::recurring::{self, Every, NewRule};
use djinn_tests::{Client, TestApp, spawn_app};
use djinn_workflows::{RecurringTransferWorkflow, TransferOutcome};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime};
use temporalio_client::schedules::{
    BackfillScheduleOptions, ScheduleBackfill, ScheduleOverlapPolicy,
};
use temporalio_client::{WorkflowDescribeOptions, WorkflowGetResultOptions};

const CREATE: &str = r#"mutation($input: CreateRecurringTransferInput!) {
  createRecurringTransfer(input: $input) {
    recurringTransfer { id status nextRunAt schedule { every dayOfMonth startDate timeZone } }
    userErrors { field code message }
  }
}"#;

async fn create(client: &Client, input: Value) -> anyhow::Result<Value> {
    Ok(client.data(CREATE, json!({"input": input})).await?["createRecurringTransfer"].clone())
}

fn daily(key: &str, from: &str, to: &str, amount: &str) -> Value {
    json!({"idempotencyKey": key, "fromAccountId": from, "toAccountId": to,
           "amount": {"amount": amount, "currency": "USD"}, "description": "allowance",
           "schedule": {"every": "DAY", "startDate": "2026-11-01", "timeZone": "Europe/Berlin"}})
}

fn rule_id(rule: &Value) -> RecurringTransferId {
    let id = rule["id"].as_str().unwrap_or_default();
    RecurringTransferId::from_uuid(djinn_graphql::schema::ids::decode(id).expect("an id").1)
}

/// Runs the schedule for `at` (a backfill: the schedule acts as if it fired then), and waits
/// for that run's end: its outcome.
async fn run_at(
    app: &TestApp,
    rule: RecurringTransferId,
    at: DateTime<Utc>,
    previous_run: Option<&str>,
) -> anyhow::Result<(String, Option<TransferOutcome>)> {
    let nominal = SystemTime::from(at);
    let handle = app
        .temporal
        .get_schedule_handle(djinn_temporal::schedules::schedule_id(rule));
    let backfill = ScheduleBackfill::new(
        nominal - Duration::from_secs(30),
        nominal + Duration::from_secs(30),
    )
    .overlap_policy(ScheduleOverlapPolicy::AllowAll)
    .build();
    handle
        .backfill([backfill], BackfillScheduleOptions::default())
        .await?;
    let workflow_id = format!(
        "{}-{}",
        djinn_temporal::schedules::schedule_id(rule),
        at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let run = app
        .temporal
        .get_workflow_handle::<RecurringTransferWorkflow>(workflow_id);
    let started = Instant::now();
    loop {
        if let Ok(described) = run.describe(WorkflowDescribeOptions::default()).await
            && Some(described.run_id()) != previous_run
        {
            let run_id = described.run_id().to_owned();
            let outcome = run.get_result(WorkflowGetResultOptions::default()).await?;
            return Ok((run_id, outcome));
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_scheduled_time_triggered_twice_pays_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let made = create(&alice, daily("allowance", &checking, &savings, "10.00")).await?;
    assert_eq!(made["userErrors"], json!([]), "{made}");
    let rule = &made["recurringTransfer"];
    assert_eq!(rule["status"], "ACTIVE");
    assert!(
        rule["nextRunAt"].is_string(),
        "the schedule says when it fires: {rule}"
    );
    // The same request again: the same rule.
    let again = create(&alice, daily("allowance", &checking, &savings, "10.00")).await?;
    assert_eq!(again["recurringTransfer"]["id"], rule["id"]);

    let at: DateTime<Utc> = "2026-11-02T08:00:00Z".parse()?; // 09:00 in Berlin (CET)
    let (first, outcome) = run_at(&app, rule_id(rule), at, None).await?;
    assert_eq!(outcome.map(|o| o.status), Some(TransferStatus::Posted));
    let (_, again) = run_at(&app, rule_id(rule), at, Some(&first)).await?;
    assert_eq!(
        again, None,
        "the second trigger found the day's transfer started"
    );
    assert_eq!(alice.balances(&checking).await?.0, "90.00", "paid once");

    let read = alice
        .data(
            "query($id: ID!) { node(id: $id) { ... on RecurringTransfer { lastRuns { runOn refusal transfer { status amount { amount } } } } } }",
            json!({"id": rule["id"]}),
        )
        .await?;
    let runs = &read["node"]["lastRuns"];
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{read}");
    assert_eq!(runs[0]["runOn"], "2026-11-02");
    assert_eq!(runs[0]["transfer"]["status"], "POSTED");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_run_without_funds_shows_on_the_rule() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("5.00").await?;
    let made = create(&alice, daily("too-much", &checking, &savings, "10.00")).await?;
    let rule = &made["recurringTransfer"];
    let (_, outcome) = run_at(&app, rule_id(rule), "2026-11-03T08:00:00Z".parse()?, None).await?;
    assert_eq!(outcome, None, "nothing to run");
    let read = alice
        .data(
            "query($id: ID!) { node(id: $id) { ... on RecurringTransfer { lastRuns { runOn refusal transfer { id } } } } }",
            json!({"id": rule["id"]}),
        )
        .await?;
    let run = &read["node"]["lastRuns"][0];
    assert_eq!(run["refusal"], "INSUFFICIENT_FUNDS", "{read}");
    assert!(run["transfer"].is_null());
    assert_eq!(alice.balances(&checking).await?.0, "5.00");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn the_31st_and_daylight_saving_do_what_a_user_expects() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("1000.00").await?;
    let user = djinn_store::users::ensure_user(&app.db, "alice").await?;
    let rule = |every, key: &str| NewRule {
        id: RecurringTransferId::generate(),
        idempotency_key: key.to_owned(),
        from: djinn_tests::account_id(&checking),
        to: djinn_tests::account_id(&savings),
        amount: djinn_tests::ledger_steps::usd(100),
        description: None,
        every,
        start_date: "2026-01-01".parse().expect("a date"),
        end_date: None,
        time_zone: "Europe/Berlin".to_owned(),
    };
    let monthly = rule(Every::Month(31), "rent");
    let daily = rule(Every::Day, "daily");
    for new in [&monthly, &daily] {
        assert!(matches!(
            recurring::store(&app.db, user, new).await?,
            recurring::Stored::Rule(_)
        ));
    }
    let runs = |new: &NewRule, at: &str| {
        let (id, at) = (new.id, at.parse::<DateTime<Utc>>().expect("a time"));
        let db = app.db.clone();
        async move {
            recurring::register_run(&db, user, id, at, Duration::from_secs(60))
                .await
                .map(|registered| registered.is_some())
        }
    };
    // The 31st: on the 31st, on the last day of a shorter month, and on no other day.
    assert!(runs(&monthly, "2026-03-31T07:00:00Z").await?);
    assert!(!runs(&monthly, "2026-04-29T07:00:00Z").await?);
    assert!(
        runs(&monthly, "2026-04-30T07:00:00Z").await?,
        "April has no 31st: its last day"
    );
    assert!(
        runs(&monthly, "2027-02-28T08:00:00Z").await?,
        "February: the 28th"
    );
    // Daylight saving began in Berlin on 2026-03-29 at 02:00: the schedule fires at 09:00 local
    // time, 08:00 UTC before and 07:00 UTC after; both are their own local day, once each.
    assert!(runs(&daily, "2026-03-28T08:00:00Z").await?);
    assert!(runs(&daily, "2026-03-29T07:00:00Z").await?);
    // Late on the 29th in UTC is already the 30th in Berlin: the day is the rule's local day.
    assert!(runs(&daily, "2026-03-29T22:30:00Z").await?);
    let days: Vec<String> = sqlx::query_scalar(
        "SELECT run_on::text FROM recurring_transfer_runs WHERE rule_id = $1 ORDER BY run_on",
    )
    .bind(daily.id.as_uuid())
    .fetch_all(&app.db)
    .await?;
    assert_eq!(days, ["2026-03-28", "2026-03-29", "2026-03-30"]);
    // The schedule itself fires at 09:00 in the rule's zone, on days 28 to 31 for the 31st.
    let spec = djinn_temporal::schedules::calendar(&monthly);
    assert_eq!(
        (spec.hour.as_str(), spec.day_of_month.as_str()),
        ("9", "28-31")
    );
    Ok(())
}

#[tokio::test]
async fn bad_rules_are_user_errors_that_store_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let with = |field: &str, value: Value| {
        let mut input = daily("bad", &checking, &savings, "1.00");
        input[field] = value;
        input
    };
    let schedule = |change: Value| {
        let mut input = daily("bad", &checking, &savings, "1.00");
        for (key, value) in change.as_object().into_iter().flatten() {
            input["schedule"][key] = value.clone();
        }
        input
    };
    for (input, code) in [
        (
            with("amount", json!({"amount": "-1.00", "currency": "USD"})),
            "INVALID_AMOUNT",
        ),
        (with("toAccountId", json!(checking)), "SAME_ACCOUNT"),
        (
            with("idempotencyKey", json!("no spaces")),
            "INVALID_IDEMPOTENCY_KEY",
        ),
        (
            schedule(json!({"timeZone": "Mars/Olympus"})),
            "INVALID_TIME_ZONE",
        ),
        (schedule(json!({"every": "MONTH"})), "INVALID_SCHEDULE"),
        (
            schedule(json!({"every": "MONTH", "dayOfMonth": 32})),
            "INVALID_SCHEDULE",
        ),
        (schedule(json!({"dayOfMonth": 3})), "INVALID_SCHEDULE"),
        (
            schedule(json!({"endDate": "2026-10-01"})),
            "INVALID_SCHEDULE",
        ),
        (
            with("amount", json!({"amount": "1.00", "currency": "EUR"})),
            "ACCOUNT_NOT_FOUND",
        ),
    ] {
        let refused = create(&alice, input.clone()).await?;
        assert_eq!(refused["userErrors"][0]["code"], code, "{input}: {refused}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM recurring_transfers")
        .fetch_one(&app.db)
        .await?;
    assert_eq!(stored, 0);
    Ok(())
}

const CHANGE: &str = r#"mutation($pause: ChangeRecurringTransferInput!) {
  pauseRecurringTransfer(input: $pause) { recurringTransfer { status } userErrors { code } }
}"#;

async fn change(client: &Client, mutation: &str, id: &Value) -> anyhow::Result<Value> {
    let query = CHANGE.replace("pauseRecurringTransfer", mutation);
    Ok(client.data(&query, json!({"pause": {"id": id}})).await?[mutation].clone())
}

#[tokio::test]
async fn a_paused_rule_pays_nothing_until_resumed_and_a_deleted_one_is_gone() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let made = create(
        &alice,
        daily("weekly-pocket-money", &checking, &savings, "10.00"),
    )
    .await?;
    let rule = made["recurringTransfer"].clone();
    let schedule = app
        .temporal
        .get_schedule_handle(djinn_temporal::schedules::schedule_id(rule_id(&rule)));

    let paused = change(&alice, "pauseRecurringTransfer", &rule["id"]).await?;
    assert_eq!(paused["recurringTransfer"]["status"], "PAUSED", "{paused}");
    let described = schedule
        .describe(temporalio_client::RpcOptions::default())
        .await?;
    assert!(described.paused(), "the schedule is paused too");
    // A run that fires anyway (a backfill from the UI) pays nothing while the rule is paused.
    let (first, outcome) =
        run_at(&app, rule_id(&rule), "2026-11-04T08:00:00Z".parse()?, None).await?;
    assert_eq!(outcome, None);
    assert_eq!(alice.balances(&checking).await?.0, "100.00");

    let resumed = change(&alice, "resumeRecurringTransfer", &rule["id"]).await?;
    assert_eq!(
        resumed["recurringTransfer"]["status"], "ACTIVE",
        "{resumed}"
    );
    assert!(
        !schedule
            .describe(temporalio_client::RpcOptions::default())
            .await?
            .paused()
    );
    let (_, outcome) = run_at(
        &app,
        rule_id(&rule),
        "2026-11-05T08:00:00Z".parse()?,
        Some(&first),
    )
    .await?;
    assert_eq!(outcome.map(|o| o.status), Some(TransferStatus::Posted));

    // The list shows the rule with its next run and its last runs' outcomes.
    let listed = alice
        .data(
            "{ recurringTransfers(first: 10) { edges { node { id status nextRunAt lastRuns { runOn transfer { status } } } } } }",
            json!({}),
        )
        .await?;
    let node = &listed["recurringTransfers"]["edges"][0]["node"];
    assert_eq!(node["id"], rule["id"], "{listed}");
    assert!(node["nextRunAt"].is_string(), "{listed}");
    assert_eq!(
        node["lastRuns"][0]["transfer"]["status"], "POSTED",
        "{listed}"
    );

    let deleted = change(&alice, "deleteRecurringTransfer", &rule["id"]).await?;
    assert_eq!(
        deleted["recurringTransfer"]["status"], "DELETED",
        "{deleted}"
    );
    assert!(
        schedule
            .describe(temporalio_client::RpcOptions::default())
            .await
            .is_err(),
        "the schedule is gone"
    );
    let again = change(&alice, "resumeRecurringTransfer", &rule["id"]).await?;
    assert_eq!(
        again["userErrors"][0]["code"], "RECURRING_TRANSFER_NOT_FOUND",
        "{again}"
    );
    let stranger = change(
        &app.client("mallory"),
        "pauseRecurringTransfer",
        &rule["id"],
    )
    .await?;
    assert_eq!(
        stranger["userErrors"][0]["code"],
        "RECURRING_TRANSFER_NOT_FOUND"
    );
    let listed = alice
        .data(
            "{ recurringTransfers(first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await?;
    assert_eq!(listed["recurringTransfers"]["edges"], json!([]));
    assert_eq!(alice.balances(&checking).await?.0, "90.00");
    app.assert_ledger_consistent().await
}
