//! The nightly reconciliation's Temporal Schedule, `reconciliation-nightly`: applied by
//! `djinn schedules apply` (and `make dev`), idempotently. Its action starts a
//! `NightlyReconciliationWorkflow`, which reconciles every account with statements; it fires
//! at a configured local time, skips a night whose run is still going (overlap policy skip),
//! and catches up only within a bounded window after an outage. Operators see, pause and
//! trigger it in the Temporal UI; `djinn schedules list` shows every schedule.

use djinn_workflows::{NightlyInput, NightlyReconciliationWorkflow};
use futures::StreamExt;
use std::time::{Duration, SystemTime};
use temporalio_client::schedules::{
    CreateScheduleOptions, ListSchedulesOptions, ScheduleAction, ScheduleCalendarSpec,
    ScheduleError, ScheduleOverlapPolicy, ScheduleSpec,
};
use temporalio_client::{Client, RpcOptions};

/// The schedule's id, as operators find it in the Temporal UI.
pub const NIGHTLY_SCHEDULE_ID: &str = "reconciliation-nightly";
/// How late a missed night may still run after an outage of the server.
pub const CATCHUP_WINDOW: Duration = Duration::from_secs(6 * 60 * 60);

/// When the nightly run fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NightlyTime {
    pub hour: u8,
    pub minute: u8,
    /// An IANA time zone name, such as `Europe/Berlin`.
    pub time_zone: String,
}

/// What `apply` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Created,
    Updated,
}

/// Creates the schedule, or brings an existing one to `at`, this task queue and concurrency,
/// the skip policy and the catch-up window. The action's input goes through the client's
/// codec either way (`ScheduleHandle::update` with a closure would send the stored input back
/// decoded: it is not used).
pub async fn apply(
    client: &Client,
    task_queue: &str,
    at: &NightlyTime,
    concurrency: u32,
) -> Result<Applied, ScheduleError> {
    let spec = ScheduleSpec::builder()
        .calendars(vec![
            ScheduleCalendarSpec::builder()
                .hour(at.hour.to_string())
                .minute(at.minute.to_string())
                .build(),
        ])
        .timezone_name(at.time_zone.clone())
        .build();
    let action = || {
        ScheduleAction::start_workflow(
            NightlyReconciliationWorkflow::run,
            NightlyInput { concurrency },
            task_queue,
            NIGHTLY_SCHEDULE_ID,
        )
    };
    let options = CreateScheduleOptions::builder()
        .action(action())
        .spec(spec.clone())
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .note("djinn schedules apply".to_owned())
        .build();
    let applied = match client.create_schedule(NIGHTLY_SCHEDULE_ID, options).await {
        Ok(_) => Applied::Created,
        Err(ScheduleError::Rpc(status))
            if status.code() == temporalio_client::tonic::Code::AlreadyExists =>
        {
            Applied::Updated
        }
        Err(error) => return Err(error),
    };
    let handle = client.get_schedule_handle(NIGHTLY_SCHEDULE_ID);
    let mut update = handle.describe(RpcOptions::default()).await?.into_update();
    // A new action is encoded by the client, through its codec, as at creation.
    update
        .set_action(action())
        .set_spec(spec)
        .set_overlap_policy(ScheduleOverlapPolicy::Skip)
        .set_catchup_window(CATCHUP_WINDOW);
    handle.send_update(update, RpcOptions::default()).await?;
    Ok(applied)
}

/// A schedule as `djinn schedules list` shows it.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: String,
    pub workflow_type: Option<String>,
    pub paused: bool,
    pub next: Option<SystemTime>,
}

/// Every schedule of the namespace.
pub async fn list(client: &Client) -> Result<Vec<Listed>, ScheduleError> {
    let mut stream = client.list_schedules(ListSchedulesOptions::default());
    let mut listed = Vec::new();
    while let Some(entry) = stream.next().await {
        let entry = entry?;
        listed.push(Listed {
            id: entry.schedule_id().to_owned(),
            workflow_type: entry.workflow_type().map(str::to_owned),
            paused: entry.paused(),
            next: entry.future_action_times().into_iter().next(),
        });
    }
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(listed)
}
