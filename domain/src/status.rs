//! Where a transfer stands. One type for the workflow's state, its query answer, its outcome,
//! the DjinnStatus search attribute and the GraphQL enum (a checked mirror of this one).

use serde::{Deserialize, Serialize};

/// A transfer's status. Serialized by variant name in workflow payloads (histories recorded
/// with it must keep replaying); `as_str` gives the DjinnStatus search attribute's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransferStatus {
    Pending,
    AwaitingApproval,
    Posted,
    Voided,
}

impl TransferStatus {
    /// The value of the DjinnStatus search attribute, and of the GraphQL enum.
    pub const fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Pending => "PENDING",
            TransferStatus::AwaitingApproval => "AWAITING_APPROVAL",
            TransferStatus::Posted => "POSTED",
            TransferStatus::Voided => "VOIDED",
        }
    }
}
