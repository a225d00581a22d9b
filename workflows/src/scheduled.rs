//! When a Temporal Schedule meant a run to happen: the server sets the run's
//! `TemporalScheduledStartTime` search attribute to the schedule's nominal time on every
//! scheduled start (a retry, a backfill, a trigger from the UI included). A run started some
//! other way falls back to the workflow's own clock, which replays the same.

use std::time::UNIX_EPOCH;
use temporalio_common::search_attributes::{SearchAttributeKey, Timestamp};
use temporalio_sdk::WorkflowContext;

const SCHEDULED_START: SearchAttributeKey<Timestamp> =
    SearchAttributeKey::datetime("TemporalScheduledStartTime");

/// The run's nominal time, in milliseconds since the Unix epoch.
pub(crate) fn scheduled_at_ms<W>(ctx: &WorkflowContext<W>) -> i64 {
    ctx.search_attributes()
        .get(&SCHEDULED_START)
        .and_then(|at| std::time::SystemTime::try_from(at).ok())
        .or_else(|| ctx.workflow_time())
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}
