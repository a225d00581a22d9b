//! Recurring transfers' Temporal Schedules: one per rule, `recurring:<rule>`, whose action
//! starts a `RecurringTransferWorkflow` run (the server suffixes each run's id with its
//! scheduled time). Each fires at 09:00 in the rule's time zone: daylight-saving changes happen
//! at night, so a run is never skipped or doubled by one. A monthly rule on day 29, 30 or 31
//! fires on days 28 to 31 and the run keeps only its day, or the last day of a shorter month
//! (migrations/..._recurring_transfers.sql). Operators see, pause and trigger them in the
//! Temporal UI. The schedule's action input goes through the client's codec like any start.

use chrono::Datelike;
use djinn_domain::{RecurringTransferId, UserId};
use djinn_store::recurring::{Every, NewRule};
use djinn_workflows::{RecurringRunInput, RecurringTransferWorkflow};
use std::time::{Duration, SystemTime};
use temporalio_client::schedules::{
    CreateScheduleOptions, ScheduleAction, ScheduleCalendarSpec, ScheduleError,
    ScheduleOverlapPolicy, ScheduleSpec,
};
use temporalio_client::{Client, RpcOptions};

/// The hour of the day, local to the rule, at which its runs happen.
const RUN_AT_HOUR: &str = "9";

pub fn schedule_id(rule: RecurringTransferId) -> String {
    format!("recurring:{rule}")
}

/// The calendar of a rule: when its schedule fires, in its time zone.
pub fn calendar(rule: &NewRule) -> ScheduleCalendarSpec {
    let at_nine = ScheduleCalendarSpec::builder()
        .hour(RUN_AT_HOUR)
        .minute("0");
    match rule.every {
        Every::Day => at_nine.build(),
        Every::Week => at_nine
            .day_of_week(rule.start_date.weekday().num_days_from_sunday().to_string())
            .build(),
        Every::Month(day) if day <= 28 => at_nine.day_of_month(day.to_string()).build(),
        Every::Month(_) => at_nine.day_of_month("28-31").build(),
    }
}

/// Creates the rule's schedule, or finds it created (a retried request).
#[tracing::instrument(skip_all, fields(rule = %rule.id))]
pub async fn create(
    client: &Client,
    task_queue: &str,
    user: UserId,
    rule: &NewRule,
    approval_timeout: Duration,
) -> Result<(), ScheduleError> {
    let input = RecurringRunInput {
        rule_id: rule.id,
        user_id: user,
        approval_timeout_ms: u64::try_from(approval_timeout.as_millis()).unwrap_or(u64::MAX),
    };
    let spec = ScheduleSpec::builder()
        .calendars(vec![calendar(rule)])
        .timezone_name(rule.time_zone.clone())
        .build();
    let options = CreateScheduleOptions::builder()
        .action(ScheduleAction::start_workflow(
            RecurringTransferWorkflow::run,
            input,
            task_queue,
            schedule_id(rule.id),
        ))
        .spec(spec)
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .build();
    match client.create_schedule(schedule_id(rule.id), options).await {
        Ok(_) => Ok(()),
        Err(ScheduleError::Rpc(status))
            if status.code() == temporalio_client::tonic::Code::AlreadyExists =>
        {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// When the rule's schedule fires next, if it will.
pub async fn next_run(
    client: &Client,
    rule: RecurringTransferId,
) -> Result<Option<SystemTime>, ScheduleError> {
    let described = client
        .get_schedule_handle(schedule_id(rule))
        .describe(RpcOptions::default())
        .await?;
    Ok(described.future_action_times().into_iter().next())
}

/// Pauses the rule's schedule: no run fires until it is resumed.
pub async fn pause(client: &Client, rule: RecurringTransferId) -> Result<(), ScheduleError> {
    client
        .get_schedule_handle(schedule_id(rule))
        .pause(Some("paused by its owner"), Default::default())
        .await
}

/// Resumes the rule's schedule.
pub async fn resume(client: &Client, rule: RecurringTransferId) -> Result<(), ScheduleError> {
    client
        .get_schedule_handle(schedule_id(rule))
        .unpause(Some("resumed by its owner"), Default::default())
        .await
}

/// Deletes the rule's schedule, or finds it deleted.
pub async fn delete(client: &Client, rule: RecurringTransferId) -> Result<(), ScheduleError> {
    match client
        .get_schedule_handle(schedule_id(rule))
        .delete(Default::default())
        .await
    {
        Err(ScheduleError::Rpc(status))
            if status.code() == temporalio_client::tonic::Code::NotFound =>
        {
            Ok(())
        }
        other => other,
    }
}
