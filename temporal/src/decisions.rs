//! Sending an owner's decision (approve, cancel) to a transfer awaiting approval, as a Temporal
//! update: the run's validator accepts or refuses it before anything is written, and an
//! accepted one answers once the transfer settled. Each decision has a fixed update id per run,
//! so a retried request is deduplicated by the server while the run is open.

use djinn_domain::{RejectionCode, TransferStatus, UserId};
use djinn_workflows::{Decision, TransferWorkflow};
use temporalio_client::errors::WorkflowUpdateError;
use temporalio_client::{Client, WorkflowExecuteUpdateOptions};

/// Which decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decide {
    Approve,
    Cancel,
}

/// What the run answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Accepted: the transfer settled in this status.
    Settled(TransferStatus),
    /// The validator refused it, with this code; nothing changed.
    Refused(RejectionCode),
    /// The run has ended: the projection says how the transfer stands.
    RunEnded,
}

#[derive(Debug, thiserror::Error)]
#[error("the decision could not be sent: {0}")]
pub struct DecisionError(#[from] WorkflowUpdateError);

/// Sends `decide` by `user` (with a cancel's `reason`) to the transfer's run.
#[tracing::instrument(skip_all, fields(workflow_id = %workflow_id, decision = ?decide))]
pub async fn send(
    client: &Client,
    workflow_id: &str,
    decide: Decide,
    user: UserId,
    reason: Option<String>,
) -> Result<Answer, DecisionError> {
    let handle = client.get_workflow_handle::<TransferWorkflow>(workflow_id.to_owned());
    let decision = Decision {
        user_id: user,
        reason,
    };
    let options = |id: &str| {
        WorkflowExecuteUpdateOptions::builder()
            .update_id(id.to_owned())
            .build()
    };
    let sent = match decide {
        Decide::Approve => {
            handle
                .execute_update(TransferWorkflow::approve, decision, options("approve"))
                .await
        }
        Decide::Cancel => {
            handle
                .execute_update(TransferWorkflow::cancel, decision, options("cancel"))
                .await
        }
    };
    match sent {
        Ok(status) => Ok(Answer::Settled(status)),
        Err(WorkflowUpdateError::NotFound(_)) => Ok(Answer::RunEnded),
        Err(WorkflowUpdateError::Failed(failure)) => {
            Ok(Answer::Refused(refusal_code(&failure.message)))
        }
        Err(error) => Err(error.into()),
    }
}

/// The code a validator's refusal starts with (`CODE: words`); a failure of another kind (the
/// handler failed with the run) reads as NOT_AWAITING_APPROVAL, which the projection refines.
fn refusal_code(message: &str) -> RejectionCode {
    message
        .split_once(':')
        .and_then(|(code, _)| RejectionCode::parse(code.trim()))
        .unwrap_or(RejectionCode::NotAwaitingApproval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_by_their_code() {
        assert_eq!(
            refusal_code("TRANSFER_NOT_FOUND: no such transfer"),
            RejectionCode::TransferNotFound
        );
        assert_eq!(
            refusal_code("workflow failed"),
            RejectionCode::NotAwaitingApproval
        );
    }
}
