//! Reading an activity failure back in workflow code: was it a ledger rejection (permanent,
//! the operation is voided) or something else (the workflow fails and staff can repair it)?

use djinn_domain::RejectionCode;
use temporalio_common::error::IncomingError;
use temporalio_sdk::ActivityExecutionError;

/// The rejection code and message carried by an application failure, if the failure is one.
pub(crate) fn rejection(error: &ActivityExecutionError) -> Option<(RejectionCode, String)> {
    // A remote activity's failure arrives as the cause; a local activity's as the failure itself.
    if let Some(IncomingError::Application(failure)) = error.cause() {
        let code = RejectionCode::parse(failure.type_name()?)?;
        return Some((code, failure.to_string()));
    }
    let failure = error.failure()?;
    let info = failure.maybe_application_failure()?;
    let code = RejectionCode::parse(&info.r#type)?;
    Some((code, failure.message.clone()))
}

/// What an activity's failure says, for people: the application failure's message, or the
/// failure's own.
pub(crate) fn message(error: &ActivityExecutionError) -> String {
    if let Some(IncomingError::Application(failure)) = error.cause() {
        return failure.to_string();
    }
    error
        .failure()
        .map_or_else(|| error.to_string(), |failure| failure.message.clone())
}
